//! `dird --uninstall` (root) against a fake Engine listing three running service tasks whose
//! sandbox keys all name real namespaces (throwaway ones, bind-mounted where Docker keeps its
//! sandboxes): a normal task, a host-network task and a task sharing another container's
//! namespace. Each namespace holds a policy rule shaped like the original daemon's, which an
//! uninstall there deletes. Only the normal task's rule may go: the other two namespaces are
//! the host's and someone else's as far as dird can tell, and must come out unchanged.
//! One test only: it sets `DOCKER_HOST` and the iptables override for the process.

mod common;
#[path = "common/fake_engine.rs"]
mod fake_engine;

use std::path::PathBuf;

use common::{Mounted, Netns};
use dird::reconcile::{uninstall_all, Launch};
use fake_engine::{host_task, shared_task, Container, FakeEngine, Spec};

const NORMAL_KEY: &str = "/run/docker/netns/9c8b7a6f5e4d";
const HOST_KEY: &str = "/run/docker/netns/5e1f0a9b8c7d";
const SHARED_KEY: &str = "/run/docker/netns/6f2a1b0c9d8e";

/// A throwaway namespace with the original daemon's kind of rule, bind-mounted at `key`.
fn sandbox(tag: &str, key: &'static str) -> Mounted {
    let ns = Netns::new(tag);
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
    Mounted::new(ns, key)
}

fn has_original_rule(s: &Mounted) -> bool {
    s.ns.ip(&["rule"]).contains("lookup 5")
}

#[test]
fn uninstall_cleans_tasks_but_leaves_host_network_and_shared_namespaces_alone() {
    let normal = sandbox("uninst-task", NORMAL_KEY);
    let host = sandbox("uninst-host", HOST_KEY);
    let shared = sandbox("uninst-shared", SHARED_KEY);
    let (host_before, shared_before) = (host.ns.snapshot(), shared.ns.snapshot());

    let task = Container {
        id: "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b",
        name: "web.3.2h4j6l8n0q2s4u6w8y0a2c4e6",
        running: true,
        pid: 4646,
        task: Some(("web", 3, "2h4j6l8n0q2s4u6w8y0a2c4e6")),
        network_mode: "default",
        sandbox_key: NORMAL_KEY,
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let engine = {
        let _inside = rt.enter();
        FakeEngine::start(Spec {
            containers: vec![
                task,
                Container {
                    sandbox_key: HOST_KEY,
                    ..host_task(4747)
                },
                Container {
                    sandbox_key: SHARED_KEY,
                    ..shared_task(4848)
                },
            ],
            ..Spec::engine_29()
        })
    };
    std::env::set_var(
        "DOCKER_HOST",
        format!("unix://{}", engine.socket().display()),
    );
    // The system's tools, whatever Docker rules this test host may hold in either backend.
    std::env::set_var("DIRD_IPTABLES_SAVE", "iptables-save");
    std::env::set_var("DIRD_IPTABLES_RESTORE", "iptables-restore");
    let argv: Vec<String> = ["dird", "--uninstall"].map(String::from).to_vec();
    let cfg = dird::config::load(&argv, None).expect("configuration");
    let mut launch = Launch::new(argv, None);
    launch.sbox = PathBuf::from("/nonexistent/ingress_sbox");
    rt.block_on(uninstall_all(&launch, &cfg))
        .expect("uninstall");

    assert!(
        !has_original_rule(&normal),
        "the normal task's namespace was not cleaned: {}",
        normal.ns.ip(&["rule"])
    );
    assert_eq!(
        host.ns.snapshot(),
        host_before,
        "the host-network task's namespace changed"
    );
    assert_eq!(
        shared.ns.snapshot(),
        shared_before,
        "the shared namespace changed"
    );
}
