//! Backend detection against real rulesets (root): Docker-like rules are written through
//! iptables-legacy and/or iptables-nft in throwaway namespaces standing for the host and the
//! ingress sbox, and detection must find the backend that holds them.

mod common;

use common::Netns;
use dird::apply::backend::{detect_with, Backend, BackendError, Basis, Choice, Override};

/// Docker's `DOCKER` chain in the host's nat table, through `iptables` (a backend's binary).
fn docker_chain(ns: &Netns, iptables: &str) {
    ns.exec(&[iptables, "-t", "nat", "-N", "DOCKER"]);
}

/// Docker's ingress MARK rule in the sbox's mangle table.
fn ingress_mark(ns: &Netns, iptables: &str) {
    ns.exec(&[
        iptables,
        "-t",
        "mangle",
        "-A",
        "PREROUTING",
        "-p",
        "tcp",
        "--dport",
        "8080",
        "-j",
        "MARK",
        "--set-xmark",
        "0x100/0xffffffff",
    ]);
}

fn detect(host: &Netns, sbox: &Netns) -> Result<Choice, BackendError> {
    detect_with(
        &Override::default(),
        Some(&host.path()),
        Some(&sbox.path()),
        None,
    )
}

#[track_caller]
fn assert_found(r: Result<Choice, BackendError>, backend: Backend, basis: Basis) {
    match r {
        Ok(Choice::Found {
            backend: b,
            basis: w,
            ..
        }) if b == backend && w == basis => {}
        other => panic!("expected {backend} from {basis:?}, got {other:?}"),
    }
}

#[test]
fn docker_chain_through_legacy_only_picks_legacy() {
    let (host, sbox) = (Netns::new("bkhost"), Netns::new("bksbox"));
    // A chain that is not Docker's, in both backends, is no evidence.
    for iptables in ["iptables-legacy", "iptables-nft"] {
        host.exec(&[iptables, "-t", "nat", "-N", "DIRD-POSTROUTING"]);
    }
    let r = detect(&host, &sbox);
    assert!(
        matches!(r, Ok(Choice::SystemDefault { .. })),
        "expected the system default, got {r:?}"
    );

    docker_chain(&host, "iptables-legacy");
    let r = detect(&host, &sbox);
    let tools = r.as_ref().map(|c| c.tools(None));
    assert_eq!(
        tools.map(|t| (t.save, t.restore)).ok(),
        Some((
            "iptables-legacy-save".into(),
            "iptables-legacy-restore".into()
        ))
    );
    assert_found(r, Backend::Legacy, Basis::Host);
}

#[test]
fn docker_chain_through_nft_only_picks_nft() {
    let (host, sbox) = (Netns::new("bkhost"), Netns::new("bksbox"));
    docker_chain(&host, "iptables-nft");
    assert_found(detect(&host, &sbox), Backend::Nft, Basis::Host);
}

#[test]
fn sbox_rules_outrank_host_chains_in_the_other_backend() {
    let (host, sbox) = (Netns::new("bkhost"), Netns::new("bksbox"));
    docker_chain(&host, "iptables-nft");
    ingress_mark(&sbox, "iptables-legacy");
    assert_found(detect(&host, &sbox), Backend::Legacy, Basis::Sbox);
}

#[test]
fn sbox_rules_in_both_backends_are_the_error() {
    let (host, sbox) = (Netns::new("bkhost"), Netns::new("bksbox"));
    docker_chain(&host, "iptables-legacy");
    docker_chain(&host, "iptables-nft");
    ingress_mark(&sbox, "iptables-legacy");
    ingress_mark(&sbox, "iptables-nft");
    match detect(&host, &sbox) {
        Err(e @ BackendError::Conflict { .. }) => {
            let text = e.to_string();
            for part in [
                "Docker's ingress_sbox rules are in both iptables-nft-save (ingress_sbox MARK rules in mangle, host chains DOCKER) and iptables-legacy-save (ingress_sbox MARK rules in mangle, host chains DOCKER)",
                "update-alternatives --set iptables /usr/sbin/iptables-legacy",
                "DIRD_IPTABLES_SAVE/DIRD_IPTABLES_RESTORE",
            ] {
                assert!(text.contains(part), "{part:?} not in {text}");
            }
        }
        other => panic!("expected the conflict error, got {other:?}"),
    }
}
