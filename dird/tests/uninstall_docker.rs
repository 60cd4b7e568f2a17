//! `dird --uninstall` (root) against a fake Engine whose only tasks are a host-network task and a
//! task sharing another container's namespace. Their process lives in a throwaway namespace that
//! holds a policy rule shaped like the original daemon's, which an uninstall there would delete:
//! the namespace must come out unchanged. One test only: it sets `DOCKER_HOST` for the process.

mod common;
#[path = "common/fake_engine.rs"]
mod fake_engine;

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::Netns;
use dird::reconcile::{uninstall_all, Launch};
use fake_engine::{host_task, shared_task, FakeEngine, Spec, HOST_TASK, SHARED_TASK};

/// `sleep` inside `ns`, once it has entered it (`ip netns exec` execs in place, same pid).
fn sleeper(ns: &Netns) -> Child {
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.name, "sleep", "60"])
        .spawn()
        .expect("spawn sleep in the namespace");
    let theirs = format!("/proc/{}/ns/net", child.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_link(&theirs).ok() == std::fs::read_link("/proc/self/ns/net").ok() {
        assert!(Instant::now() < deadline, "sleep never entered {}", ns.name);
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

#[test]
fn uninstall_leaves_host_network_and_shared_namespaces_alone() {
    let ns = Netns::new("uninst");
    ns.ip(&[
        "rule",
        "add",
        "from",
        "10.0.0.0/24",
        "fwmark",
        "5",
        "lookup",
        "5",
        "priority",
        "32700",
    ]);
    let before = ns.snapshot();
    let mut sleep = sleeper(&ns);
    let pid = i64::from(sleep.id());

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let engine = {
        let _inside = rt.enter();
        FakeEngine::start(Spec {
            containers: vec![host_task(pid), shared_task(pid)],
            ..Spec::engine_29()
        })
    };
    std::env::set_var(
        "DOCKER_HOST",
        format!("unix://{}", engine.socket().display()),
    );
    let argv: Vec<String> = ["dird", "--uninstall"].map(String::from).to_vec();
    let cfg = dird::config::load(&argv, None).expect("configuration");
    let mut launch = Launch::new(argv, None);
    launch.sbox = PathBuf::from("/nonexistent/ingress_sbox");
    let result = rt.block_on(uninstall_all(&launch, &cfg));

    let _ = sleep.kill();
    let _ = sleep.wait();
    result.expect("uninstall");
    let requests = engine.requests();
    for id in [HOST_TASK, SHARED_TASK] {
        assert!(
            requests
                .iter()
                .any(|r| r.contains(&format!("/containers/{id}/json"))),
            "{id} was not inspected: {requests:?}"
        );
    }
    assert_eq!(ns.snapshot(), before, "the task's namespace was changed");
}
