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
    assert_eq!(w.take_sync(t0), Some(Next::Rebuild));
    assert_eq!(w.take_sync(t0 + MIN), None);
}

#[test]
fn announced_containers_are_due_at_once_and_skip_busy_ones() {
    let t0 = Instant::now();
    let mut w = Work::new(MIN);
    w.announce("aaa");
    w.announce("bbb");
    w.announce("aaa");
    let due = w.take_due(t0, |id| id == "bbb");
    assert_eq!(due, vec!["aaa".to_string()]);
    // The busy one stays due until it is free.
    assert_eq!(w.take_due(t0, |_| false), vec!["bbb".to_string()]);
    assert_eq!(w.take_due(t0, |_| false), Vec::<String>::new());
}

#[test]
fn a_failed_container_is_retried_on_its_own_doubling_schedule() {
    let t0 = Instant::now();
    let mut w = Work::new(MIN);
    assert_eq!(w.failed("aaa", 1, t0), Duration::from_secs(1));
    assert!(w.waiting_retry("aaa"));
    assert_eq!(w.take_due(t0, |_| false), Vec::<String>::new());
    assert_eq!(
        w.next_wake(|_| false, true),
        Some(t0 + Duration::from_secs(1))
    );
    let due = w.take_due(t0 + Duration::from_secs(1), |_| false);
    assert_eq!(due, vec!["aaa".to_string()]);
    assert_eq!(w.failed("aaa", 2, t0), Duration::from_secs(2));
    assert_eq!(w.failed("aaa", 3, t0), Duration::from_secs(4));
    assert_eq!(retry_delay(30), RETRY_MAX);
    assert_eq!(retry_delay(u32::MAX), RETRY_MAX);
    // A start does not wait for the schedule; gone is gone.
    w.announce("aaa");
    assert!(!w.waiting_retry("aaa"));
    assert_eq!(w.take_due(t0, |_| false), vec!["aaa".to_string()]);
    w.failed("bbb", 1, t0);
    w.forget("bbb");
    assert!(!w.waiting_retry("bbb"));
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
fn a_container_whose_job_runs_does_not_make_the_runner_wake() {
    let t0 = Instant::now();
    let mut w = Work::new(MIN);
    // Announced while its job runs: due, but nothing to wake for until the job ends.
    w.announce("hhh");
    assert_eq!(w.next_wake(|id| id == "hhh", true), None);
    assert!(w.next_wake(|_| false, true).is_some());
    // The same for a retry whose time has come.
    w.take_due(t0, |_| false);
    w.failed("hhh", 1, t0);
    assert_eq!(w.next_wake(|id| id == "hhh", true), None);
    assert!(w.next_wake(|_| false, true).is_some());
}

#[test]
fn without_a_node_only_a_rebuild_wakes_the_runner() {
    let t0 = Instant::now();
    let mut w = Work::new(MIN);
    // Containers and a failed one's retry recorded while no node is built (no swarm yet).
    w.announce("iii");
    w.failed("jjj", 1, t0);
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
    // Once a node is built, the containers are due at once.
    assert!(w
        .next_wake(|_| false, true)
        .is_some_and(|t| t <= Instant::now()));
}
