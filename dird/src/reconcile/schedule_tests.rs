use super::*;

fn task(id: &str, service: &str) -> TaskRef {
    TaskRef {
        id: id.into(),
        service: service.into(),
        netns: format!("/run/docker/netns/{id}").into(),
    }
}

fn all(q: &mut Queues, busy: &HashSet<Unit>) -> Vec<Pick> {
    std::iter::from_fn(|| {
        q.pick(
            busy,
            |u| *u == Unit::task("retry"),
            |t| t.service != "other",
        )
    })
    .collect()
}

#[test]
fn arrived_then_announced_then_listed_then_the_sbox() {
    let mut q = Queues {
        arrived: [task("new", "web")].into(),
        urgent: [Unit::task("started"), Unit::Sbox].into(),
        listed: [task("listed", "web")].into(),
        sbox_wanted: true,
    };
    assert_eq!(
        all(&mut q, &HashSet::new()),
        [
            Pick::Known(task("new", "web")),
            Pick::Announced(Unit::task("started")),
            Pick::Announced(Unit::Sbox),
            Pick::Known(task("listed", "web")),
            Pick::Announced(Unit::Sbox),
        ]
    );
    assert!(q.sync_started());
}

#[test]
fn busy_unwanted_and_retrying_units_get_no_second_job() {
    let busy: HashSet<Unit> = [Unit::task("running"), Unit::Sbox].into();
    let mut q = Queues {
        arrived: [task("running", "web"), task("skipped", "other")].into(),
        urgent: [Unit::task("running")].into(),
        listed: [
            task("running", "web"),
            task("retry", "web"),
            task("free", "web"),
        ]
        .into(),
        sbox_wanted: true,
    };
    assert_eq!(
        all(&mut q, &busy),
        [
            Pick::Again(Unit::task("running")),
            Pick::Known(task("free", "web")),
        ]
    );
    // The busy sbox stays wanted: its job's end lets the next look start it.
    assert!(!q.sync_started());
    assert_eq!(
        q.pick(&HashSet::new(), |_| false, |_| true),
        Some(Pick::Announced(Unit::Sbox))
    );
}
