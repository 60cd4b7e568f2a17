use std::time::{Duration, Instant};

use super::*;

const MIN: Duration = Duration::from_secs(1);

#[test]
fn bursts_of_sync_requests_coalesce_into_one_per_min_interval() {
    let t0 = Instant::now();
    let mut w = Work::new(MIN);
    for _ in 0..50 {
        w.rebuild();
        w.full();
    }
    assert_eq!(w.take_sync(t0), Some(Next::Rebuild(None)));
    assert_eq!(w.take_sync(t0), None, "one sync for the whole burst");
    // More requests during the minimum interval wait for its end, and are one sync again.
    for _ in 0..50 {
        w.full();
    }
    assert_eq!(w.take_sync(t0 + MIN / 2), None);
    assert_eq!(w.next_wake(|_| false, true), Some(t0 + MIN));
    assert_eq!(w.take_sync(t0 + MIN), Some(Next::Full));
    assert_eq!(w.take_sync(t0 + MIN * 5), None);
}

#[test]
fn a_rebuild_wins_over_a_full_sync() {
    let t0 = Instant::now();
    let mut w = Work::new(MIN);
    w.full();
    w.rebuild();
    assert_eq!(w.take_sync(t0), Some(Next::Rebuild(None)));
    assert_eq!(w.take_sync(t0 + MIN), None);
}

#[test]
fn a_rebuild_from_the_polled_view_carries_it_unless_asked_for_again() {
    let view = vec![crate::discovery::SwarmNode {
        ingress_ip: std::net::Ipv4Addr::new(10, 0, 0, 3),
        host_ip: None,
    }];
    let t0 = Instant::now();
    let mut w = Work::new(MIN);
    w.rebuild_from(view.clone());
    w.full();
    assert_eq!(w.take_sync(t0), Some(Next::Rebuild(Some(view.clone()))));
    w.rebuild_from(view);
    w.rebuild();
    assert_eq!(
        w.take_sync(t0 + MIN),
        Some(Next::Rebuild(None)),
        "another reason to rebuild: the facts are read afresh"
    );
    assert_eq!(w.take_sync(t0 + MIN * 2), None);
    // The other order: the poll's view does not replace a rebuild that reads afresh.
    w.rebuild();
    w.rebuild_from(Vec::new());
    assert_eq!(w.take_sync(t0 + MIN * 3), Some(Next::Rebuild(None)));
}

fn t(id: &str) -> Unit {
    Unit::Task(id.into())
}

#[test]
fn announced_units_are_due_at_once_and_skip_busy_ones() {
    let t0 = Instant::now();
    let mut w = Work::new(MIN);
    w.announce(t("aaa"));
    w.announce(t("bbb"));
    w.announce(t("aaa"));
    w.announce(Unit::Sbox);
    let due = w.take_due(t0, |u| *u == t("bbb"));
    assert_eq!(due, vec![Unit::Sbox, t("aaa")]);
    // The busy one stays due until it is free.
    assert_eq!(w.take_due(t0, |_| false), vec![t("bbb")]);
    assert_eq!(w.take_due(t0, |_| false), Vec::<Unit>::new());
}

#[test]
fn a_failed_unit_is_retried_at_its_time_and_retries_come_in_their_order() {
    let t0 = Instant::now();
    let mut w = Work::new(MIN);
    let s = Duration::from_secs;
    w.failed(t("aaa"), s(1), t0);
    assert!(w.waiting_retry(&t("aaa")));
    assert_eq!(w.take_due(t0, |_| false), Vec::<Unit>::new());
    assert_eq!(w.next_wake(|_| false, true), Some(t0 + s(1)));
    assert_eq!(w.take_due(t0 + s(1), |_| false), vec![t("aaa")]);
    // Several retries due at once come earliest first, before announced units.
    w.failed(t("late"), s(5), t0);
    w.failed(Unit::Sbox, s(2), t0);
    w.failed(t("early"), s(1), t0);
    w.announce(t("new"));
    assert_eq!(
        w.take_due(t0 + s(10), |_| false),
        vec![t("early"), Unit::Sbox, t("late"), t("new")]
    );
    // A start does not wait for the schedule; gone is gone.
    w.failed(t("aaa"), s(4), t0);
    w.announce(t("aaa"));
    assert!(!w.waiting_retry(&t("aaa")));
    assert_eq!(w.take_due(t0, |_| false), vec![t("aaa")]);
    w.failed(t("bbb"), s(1), t0);
    w.forget(&t("bbb"));
    assert!(!w.waiting_retry(&t("bbb")));
    assert_eq!(w.next_wake(|_| false, true), None);
}

#[test]
fn arrivals_are_due_at_once_and_taken_once() {
    use crate::netns::arrivals::Arrival;
    let mut w = Work::new(MIN);
    assert_eq!(w.next_wake(|_| false, true), None);
    let a = Arrival {
        netns: "/run/docker/netns/3bf747665bef".into(),
        ip: std::net::Ipv4Addr::new(10, 0, 0, 6),
    };
    w.arrived(a.clone());
    assert!(w
        .next_wake(|_| true, true)
        .is_some_and(|t| t <= Instant::now()));
    assert_eq!(w.take_arrivals(), vec![a]);
    assert_eq!(w.take_arrivals(), vec![]);
    assert_eq!(w.next_wake(|_| false, true), None);
}

#[test]
fn a_unit_whose_job_runs_does_not_make_the_runner_wake() {
    let t0 = Instant::now();
    let mut w = Work::new(MIN);
    // Announced while its job runs: due, but nothing to wake for until the job ends.
    w.announce(t("hhh"));
    assert_eq!(w.next_wake(|u| *u == t("hhh"), true), None);
    assert!(w.next_wake(|_| false, true).is_some());
    // The same for a retry whose time has come.
    w.take_due(t0, |_| false);
    w.failed(t("hhh"), Duration::from_secs(1), t0);
    assert_eq!(w.next_wake(|u| *u == t("hhh"), true), None);
    assert!(w.next_wake(|_| false, true).is_some());
}

#[test]
fn without_a_node_only_a_rebuild_wakes_the_runner() {
    let t0 = Instant::now();
    let mut w = Work::new(MIN);
    // Units and a failed one's retry recorded while no node is built (no swarm yet).
    w.announce(t("iii"));
    w.failed(t("jjj"), Duration::from_secs(1), t0);
    w.arrived(crate::netns::arrivals::Arrival {
        netns: "/run/docker/netns/3bf747665bef".into(),
        ip: std::net::Ipv4Addr::new(10, 0, 0, 6),
    });
    assert_eq!(
        w.next_wake(|_| false, false),
        None,
        "nothing to wake for: it would spin"
    );
    // The rebuild that waits for the swarm does wake it, at its time.
    w.rebuild_at(t0 + Duration::from_secs(5));
    assert_eq!(
        w.next_wake(|_| false, false),
        Some(t0 + Duration::from_secs(5))
    );
    // Once a node is built, the units are due at once.
    assert!(w
        .next_wake(|_| false, true)
        .is_some_and(|t| t <= Instant::now()));
}
