use super::*;

fn at(base: Instant, ms: u64) -> Instant {
    base + Duration::from_millis(ms)
}

#[test]
fn rules_after_the_event_are_observed_with_their_delay() {
    let (mut p, t0, u) = (
        Programming::default(),
        Instant::now(),
        Unit::task("aaaaaaaaaaaa"),
    );
    assert_eq!(p.announced(&u, false, t0), vec![]);
    assert_eq!(
        p.configured(&u, at(t0, 1500)),
        vec![Observation::Programmed(Duration::from_millis(1500))]
    );
    // Started after its rules: counted; the entry stays until the container goes.
    assert_eq!(
        p.announced(&u, true, at(t0, 2000)),
        vec![Observation::BeforeStart]
    );
    assert_eq!(p.len(), 1);
    p.forget(&u);
    assert!(p.is_empty());
}

#[test]
fn rules_before_any_event_are_observed_as_zero() {
    let (mut p, t0, u) = (
        Programming::default(),
        Instant::now(),
        Unit::task("bbbbbbbbbbbb"),
    );
    assert_eq!(p.configured(&u, t0), vec![]);
    assert_eq!(
        p.announced(&u, false, at(t0, 900)),
        vec![Observation::Programmed(Duration::ZERO)]
    );
    assert_eq!(
        p.announced(&u, true, at(t0, 1200)),
        vec![Observation::BeforeStart]
    );
    // A second configuration (a drift repair) and later events observe nothing.
    assert_eq!(p.configured(&u, at(t0, 5000)), vec![]);
    assert_eq!(p.announced(&u, true, at(t0, 6000)), vec![]);
}

#[test]
fn a_start_before_the_rules_is_not_counted_as_before_start() {
    let (mut p, t0, u) = (
        Programming::default(),
        Instant::now(),
        Unit::task("cccccccccccc"),
    );
    assert_eq!(p.announced(&u, true, t0), vec![]);
    assert_eq!(
        p.configured(&u, at(t0, 300)),
        vec![Observation::Programmed(Duration::from_millis(300))]
    );
    assert_eq!(p.announced(&u, true, at(t0, 400)), vec![]);
}

#[test]
fn a_task_configured_at_start_up_is_never_observed() {
    let (mut p, t0, u) = (
        Programming::default(),
        Instant::now(),
        Unit::task("dddddddddddd"),
    );
    assert_eq!(p.configured(&u, t0), vec![]);
    p.forget(&u);
    assert!(p.is_empty());
}

#[test]
fn old_entries_go_when_too_many_are_held() {
    let (mut p, t0) = (Programming::default(), Instant::now());
    for i in 0..MAX_TRACKED {
        p.announced(&Unit::task(&format!("{i:012}")), false, t0);
    }
    assert_eq!(p.len(), MAX_TRACKED);
    p.announced(
        &Unit::task("ffffffffffff"),
        false,
        t0 + FORGET_AFTER + Duration::from_secs(1),
    );
    assert_eq!(p.len(), 1);
}
