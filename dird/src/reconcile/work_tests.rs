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
    assert_eq!(w.take_sync(t0), Some(Next::Rebuild));
    assert_eq!(w.take_sync(t0), None, "one sync for the whole burst");
    // More requests during the minimum interval wait for its end, and are one sync again.
    for _ in 0..50 {
        w.full();
    }
    assert_eq!(w.take_sync(t0 + MIN / 2), None);
    assert_eq!(w.next_wake(|_| false), Some(t0 + MIN));
    assert_eq!(w.take_sync(t0 + MIN), Some(Next::Full));
    assert_eq!(w.take_sync(t0 + MIN * 5), None);
}

#[test]
fn a_rebuild_wins_over_a_full_sync() {
    let t0 = Instant::now();
    let mut w = Work::new(MIN);
    w.full();
    w.rebuild();
    assert_eq!(w.take_sync(t0), Some(Next::Rebuild));
    assert_eq!(w.take_sync(t0 + MIN), None);
}

#[test]
fn announced_containers_are_due_at_once_and_skip_busy_ones() {
    let t0 = Instant::now();
    let mut w = Work::new(MIN);
    w.announce("aaa", Announce::Joined);
    w.announce("bbb", Announce::Started);
    w.announce("aaa", Announce::Started);
    let due = w.take_due(t0, |id| id == "bbb");
    assert_eq!(due, vec![("aaa".to_string(), Announce::Started)]);
    // The busy one stays due until it is free.
    assert_eq!(
        w.take_due(t0, |_| false),
        vec![("bbb".to_string(), Announce::Started)]
    );
    assert_eq!(w.take_due(t0, |_| false), vec![]);
}

#[test]
fn a_failed_container_is_retried_on_its_own_doubling_schedule() {
    let t0 = Instant::now();
    let mut w = Work::new(MIN);
    assert_eq!(w.failed("aaa", 1, t0), Duration::from_secs(1));
    assert!(w.waiting_retry("aaa"));
    assert_eq!(w.take_due(t0, |_| false), vec![]);
    assert_eq!(w.next_wake(|_| false), Some(t0 + Duration::from_secs(1)));
    let due = w.take_due(t0 + Duration::from_secs(1), |_| false);
    assert_eq!(due, vec![("aaa".to_string(), Announce::Started)]);
    assert_eq!(w.failed("aaa", 2, t0), Duration::from_secs(2));
    assert_eq!(w.failed("aaa", 3, t0), Duration::from_secs(4));
    assert_eq!(retry_delay(30), RETRY_MAX);
    assert_eq!(retry_delay(u32::MAX), RETRY_MAX);
    // Joining again does not jump the schedule; a start does; gone is gone.
    w.announce("aaa", Announce::Joined);
    assert_eq!(w.take_due(t0, |_| false), vec![]);
    w.announce("aaa", Announce::Started);
    assert_eq!(
        w.take_due(t0, |_| false),
        vec![("aaa".to_string(), Announce::Started)]
    );
    w.failed("bbb", 1, t0);
    w.forget("bbb");
    assert!(!w.waiting_retry("bbb"));
    assert_eq!(w.next_wake(|_| false), None);
}

#[test]
fn a_joined_container_without_its_sandbox_is_looked_at_again_until_it_starts() {
    let t0 = Instant::now();
    let mut w = Work::new(MIN);
    w.announce("ccc", Announce::Joined);
    assert_eq!(
        w.take_due(t0, |_| false),
        vec![("ccc".to_string(), Announce::Joined)]
    );
    // No sandbox with its address yet: looked at again, still as joined, and Docker's answer
    // is kept for that look.
    assert_eq!(w.joining("ccc"), None);
    assert_eq!(w.watch_join("ccc", t0, joining("ccc")), Watch::GoesOn);
    assert_eq!(w.joining("ccc"), Some(&joining("ccc")));
    assert_eq!(w.next_wake(|_| false), Some(t0 + JOIN_POLL));
    assert_eq!(w.take_due(t0, |_| false), vec![]);
    // Repeated connect events do not pile up.
    w.announce("ccc", Announce::Joined);
    assert_eq!(
        w.take_due(t0 + JOIN_POLL, |_| false),
        vec![("ccc".to_string(), Announce::Joined)]
    );
    assert_eq!(
        w.watch_join("ccc", t0 + JOIN_POLL, joining("ccc")),
        Watch::GoesOn
    );
    // Its start ends the watch: configured at once through the start path.
    w.announce("ccc", Announce::Started);
    assert_eq!(w.joining("ccc"), None);
    assert_eq!(
        w.take_due(t0 + JOIN_POLL, |_| false),
        vec![("ccc".to_string(), Announce::Started)]
    );
    assert_eq!(w.next_wake(|_| false), None);
    // A container that never gets its sandbox is watched for JOIN_WATCH, no longer.
    w.announce("ddd", Announce::Joined);
    w.take_due(t0, |_| false);
    assert_eq!(w.watch_join("ddd", t0, joining("ddd")), Watch::GoesOn);
    assert_eq!(
        w.watch_join("ddd", t0 + JOIN_WATCH - JOIN_POLL, joining("ddd")),
        Watch::GoesOn
    );
    w.take_due(t0 + JOIN_WATCH, |_| false);
    assert_eq!(
        w.watch_join("ddd", t0 + JOIN_WATCH, joining("ddd")),
        Watch::TimedOut
    );
    assert_eq!(w.next_wake(|_| false), None);
}

#[test]
fn a_watch_that_ended_while_its_look_ran_is_not_started_again() {
    let t0 = Instant::now();
    let mut w = Work::new(MIN);
    // The container is removed while its first look (from its event) runs.
    w.announce("eee", Announce::Joined);
    w.take_due(t0, |_| false);
    w.forget("eee");
    assert_eq!(w.watch_join("eee", t0, joining("eee")), Watch::Ended);
    assert_eq!(w.joining("eee"), None);
    assert_eq!(w.next_wake(|_| false), None);
    // The container starts while a later look of its watch runs: its start is still due.
    w.announce("fff", Announce::Joined);
    w.take_due(t0, |_| false);
    assert_eq!(w.watch_join("fff", t0, joining("fff")), Watch::GoesOn);
    w.take_due(t0 + JOIN_POLL, |_| false);
    w.announce("fff", Announce::Started);
    assert_eq!(
        w.watch_join("fff", t0 + JOIN_POLL, joining("fff")),
        Watch::Ended
    );
    assert_eq!(
        w.take_due(t0 + JOIN_POLL, |_| false),
        vec![("fff".to_string(), Announce::Started)]
    );
    assert_eq!(w.next_wake(|_| false), None);
    // A look that found (and configured) the task ends its watch.
    w.announce("ggg", Announce::Joined);
    w.take_due(t0, |_| false);
    assert_eq!(w.watch_join("ggg", t0, joining("ggg")), Watch::GoesOn);
    w.take_due(t0 + JOIN_POLL, |_| false);
    w.settled("ggg");
    assert_eq!(w.joining("ggg"), None);
    assert_eq!(w.next_wake(|_| false), None);
}

#[test]
fn a_container_whose_job_runs_does_not_make_the_runner_wake() {
    let t0 = Instant::now();
    let mut w = Work::new(MIN);
    // Announced while its job runs: due, but nothing to wake for until the job ends.
    w.announce("hhh", Announce::Started);
    assert_eq!(w.next_wake(|id| id == "hhh"), None);
    assert!(w.next_wake(|_| false).is_some());
    // The same for a retry whose time has come.
    w.take_due(t0, |_| false);
    w.failed("hhh", 1, t0);
    assert_eq!(w.next_wake(|id| id == "hhh"), None);
    assert!(w.next_wake(|_| false).is_some());
}

fn joining(id: &str) -> crate::docker::JoiningTask {
    crate::docker::JoiningTask {
        id: id.to_owned(),
        service: "web".to_owned(),
        ip: Some(std::net::Ipv4Addr::new(10, 0, 0, 7)),
    }
}
