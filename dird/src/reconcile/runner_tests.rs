use std::time::Duration;

use super::*;

fn pick(s: &mut Session) -> Option<Pick> {
    let busy: &HashSet<Unit> = &s.busy;
    s.queues.pick(busy, |_| false, |_| true)
}

#[tokio::test]
async fn an_abandoned_worker_keeps_its_namespace_busy_until_it_ends() {
    let mut s = Session::new(None, false);
    let unit = Unit::task("aaaaaaaaaaaa");
    // Its job started (as the runner marks it) and was abandoned at the deadline with its
    // worker still running.
    s.busy.insert(unit.clone());
    let (end_worker, worker_ends) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(async move {
        let _ = worker_ends.await;
    });
    s.release(unit.clone(), Some(worker));
    assert!(s.is_busy(&unit), "free while its abandoned worker runs");
    // A retry (or its `start`) waits: the namespace gets no second job beside the worker (it
    // is announced again for later).
    s.queues.urgent.push_back(unit.clone());
    assert_eq!(pick(&mut s), Some(Pick::Again(unit.clone())));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), s.jobs.next())
            .await
            .is_err(),
        "released before its worker ended"
    );
    end_worker.send(()).expect("the worker waits");
    match s.jobs.next().await {
        Some(Done::Released { unit: u }) => assert_eq!(u, unit),
        other => panic!("expected the release of {unit}, got {other:?}"),
    }
    s.free(&unit);
    s.queues.urgent.push_back(unit.clone());
    assert_eq!(pick(&mut s), Some(Pick::Announced(unit)));
}

#[test]
fn a_job_that_ended_in_time_frees_its_namespace_at_once() {
    let mut s = Session::new(None, false);
    let unit = Unit::task("bbbbbbbbbbbb");
    s.busy.insert(unit.clone());
    s.release(unit.clone(), None);
    assert!(!s.is_busy(&unit));
    assert!(s.jobs.is_empty());
}
