//! netsim's rendered sbox and task rules against the Docker 20.10, 26.1 and 28.5 captures (no root needed; the
//! same comparison runs on live `iptables-save` output with `netsim run --reference DIR`).

use std::path::{Path, PathBuf};

use netsim::reference::{capture_roles, compare_with, diff, normalise, REFERENCE_SCENARIO};
use netsim::scenario::parse_str;
use netsim::topology::rules;

/// The Docker 20.10 capture (the one the changed-rule tests edit against).
fn capture() -> PathBuf {
    capture_of("20.10")
}

fn capture_of(engine: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(format!("docker-{engine}-swarm-1node"))
}

fn rendered() -> (netsim::scenario::Scenario, Vec<(String, String)>) {
    let sc = parse_str(Path::new("reference-1node.toml"), REFERENCE_SCENARIO).expect("valid");
    let mut ours = vec![(
        "sbox".to_string(),
        rules::sbox_rules(&sc, sc.nodes[0].ingress_ip),
    )];
    for i in 0..sc.tasks.len() {
        ours.push((sc.task_name(i), rules::task_rules(&sc, i)));
    }
    (sc, ours)
}

#[test]
fn rendered_sbox_and_task_rules_match_every_capture() {
    let (sc, ours) = rendered();
    for engine in ["20.10", "26.1", "28.5"] {
        let d = compare_with(&capture_of(engine), &sc, &ours).expect("capture readable");
        assert!(
            d.is_empty(),
            "Docker {engine}, differences:\n{}",
            d.join("\n")
        );
    }
}

#[test]
fn the_comparison_notices_a_changed_rule() {
    let (sc, mut ours) = rendered();
    // Per-port marks instead of per-service ones: web's udp port gets its own mark.
    ours[0].1 = ours[0].1.replace(
        "--dport 5353 -j MARK --set-xmark 0x100",
        "--dport 5353 -j MARK --set-xmark 0x102",
    );
    let d = compare_with(&capture(), &sc, &ours).expect("capture readable");
    assert_eq!(d.len(), 2, "{d:?}");
    // A task without its DROP rules.
    let (sc, mut ours) = rendered();
    ours[1].1 = ours[1]
        .1
        .replace("-A INPUT -d 10.0.0.4/32 -p tcp -j DROP\n", "");
    let d = compare_with(&capture(), &sc, &ours).expect("capture readable");
    assert_eq!(
        d,
        ["web.1: *filter: missing -A INPUT -d TASK:web.1/32 -p tcp -j DROP"]
    );
}

#[test]
fn host_rules_match_the_capture_apart_from_docker0() {
    let (sc, _) = rendered();
    let text = std::fs::read_to_string(capture().join("02-host.txt")).expect("capture");
    let reference = netsim::reference::section(&text, "host").expect("host iptables-save");
    let d = diff(
        &normalise(&rules::host_rules(&sc), &[]),
        &normalise(&reference, &capture_roles(&capture()).expect("roles.txt")),
    );
    // netsim has no default bridge (docker0): only its rules may be missing.
    let unexpected: Vec<&String> = d
        .iter()
        .filter(|l| !(l.contains("missing") && (l.contains("docker0") || l.contains("172.17."))))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
}
