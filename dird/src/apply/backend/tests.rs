use super::*;

/// What Docker leaves in `ingress_sbox` once a service publishes 8080/tcp (plus dird's
/// own ACCEPT and TOS rules and a CONNMARK rule, none of which is Docker's evidence).
const SBOX: &str =
    "*mangle\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:DIRD-POSTROUTING - [0:0]\n\
    -A PREROUTING -p tcp -m tcp --dport 8080 -j MARK --set-xmark 0x100/0xffffffff\n\
    -A DIRD-POSTROUTING -d 10.0.0.0/24 -j TOS --set-tos 0x02/0xff\nCOMMIT\n\
    *nat\n:POSTROUTING ACCEPT [0:0]\n\
    -A POSTROUTING -d 10.0.0.0/24 -m ipvs --ipvs -j SNAT --to-source 10.0.0.2\nCOMMIT\n";
const DIRD_ONLY: &str =
    "*mangle\n-A OUTPUT -p tcp -j CONNMARK --set-xmark 0x1/0xffffffff\nCOMMIT\n\
    *nat\n-A DIRD-POSTROUTING -d 10.0.0.0/24 -m ipvs --ipvs -j ACCEPT\nCOMMIT\n";
const HOST: &str = "*mangle\n:DOCKER - [0:0]\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n\
    :DOCKER - [0:0]\n:DOCKER-INGRESS - [0:0]\nCOMMIT\n*filter\n:DOCKER - [0:0]\n\
    :DOCKER-ISOLATION-STAGE-1 - [0:0]\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\nCOMMIT\n";

fn host(chains: &[&str]) -> Seen {
    Seen {
        host_chains: chains.iter().map(|c| c.to_string()).collect(),
        ..Seen::default()
    }
}

fn sbox(mark: bool, snat: bool, chains: &[&str]) -> Seen {
    Seen {
        sbox_mark: mark,
        sbox_snat: snat,
        ..host(chains)
    }
}

fn ev(nft: Seen, legacy: Seen) -> Evidence {
    Evidence {
        nft,
        legacy,
        engine_firewall: None,
    }
}

fn none() -> Override {
    Override::default()
}

#[test]
fn parses_docker_chains_and_sbox_rules_only() {
    assert_eq!(
        host_chains(HOST),
        [
            "DOCKER",
            "DOCKER-INGRESS",
            "DOCKER-ISOLATION-STAGE-1",
            "DOCKER-USER"
        ]
    );
    // Docker 28's filter chains, without DOCKER-INGRESS (which moby's ingress rework may
    // drop): still Docker's.
    let docker_28 = "*filter\n:FORWARD DROP [0:0]\n:DOCKER-BRIDGE - [0:0]\n:DOCKER-CT - [0:0]\n\
        :DOCKER-FORWARD - [0:0]\n-A FORWARD -j DOCKER-FORWARD\nCOMMIT\n";
    assert_eq!(
        host_chains(docker_28),
        ["DOCKER-BRIDGE", "DOCKER-CT", "DOCKER-FORWARD"]
    );
    assert!(host_chains("*filter\n:DOCKERX - [0:0]\n:MY-DOCKER - [0:0]\nCOMMIT\n").is_empty());
    assert!(host_chains(SBOX).is_empty());
    assert_eq!(sbox_rules(SBOX), (true, true));
    assert_eq!(sbox_rules(DIRD_ONLY), (false, false));
    assert_eq!(sbox_rules(HOST), (false, false));
    assert_eq!(sbox_rules(""), (false, false));
}

#[test]
fn override_wins_and_keeps_the_system_tool_for_the_unset_one() {
    let over = Override {
        save: Some("my-save".into()),
        restore: None,
    };
    let c = decide(&over, &ev(sbox(true, true, &[]), Seen::default())).unwrap();
    let t = c.tools(Some(IptablesWait::Forever));
    assert_eq!(
        (t.save.as_str(), t.restore.as_str()),
        ("my-save", "iptables-restore")
    );
    assert_eq!(t.wait, Some(IptablesWait::Forever));
    assert_eq!(c.backend(), None);
    assert_eq!(
        c.to_string(),
        "my-save/iptables-restore (set by DIRD_IPTABLES_SAVE/DIRD_IPTABLES_RESTORE)"
    );
    // Nothing is run when overridden, even with a host namespace that does not exist.
    let c = detect_with(&over, Some(Path::new("/nonexistent/ns")), None, None).unwrap();
    assert!(matches!(c, Choice::Override { .. }));
}

#[test]
fn sbox_evidence_in_one_backend_decides() {
    let c = decide(&none(), &ev(Seen::default(), sbox(true, false, &[]))).unwrap();
    assert_eq!(c.backend(), Some(Backend::Legacy));
    let t = c.tools(None);
    assert_eq!(
        (t.save.as_str(), t.restore.as_str()),
        ("iptables-legacy-save", "iptables-legacy-restore")
    );
    assert_eq!(
        c.to_string(),
        "legacy (Docker's rules found in iptables-legacy-save only: ingress_sbox MARK rules in mangle)"
    );
    // The sbox outranks host chains in the other backend.
    let c = decide(&none(), &ev(sbox(false, true, &[]), host(&["DOCKER"]))).unwrap();
    assert_eq!(c.backend(), Some(Backend::Nft));
    assert!(matches!(
        c,
        Choice::Found {
            basis: Basis::Sbox,
            ..
        }
    ));
    assert_eq!(
        c.to_string(),
        "nft (Docker's rules found in iptables-nft-save only: ingress_sbox ipvs SNAT in nat; \
         iptables-legacy-save shows host chains DOCKER: the ingress_sbox decides)"
    );
}

#[test]
fn host_chains_decide_without_sbox_evidence() {
    let c = decide(
        &none(),
        &ev(host(&["DOCKER", "DOCKER-USER"]), Seen::default()),
    )
    .unwrap();
    assert!(matches!(
        c,
        Choice::Found {
            backend: Backend::Nft,
            basis: Basis::Host,
            ..
        }
    ));
    assert_eq!(c.tools(None).save, "iptables-nft-save");
    assert_eq!(
        c.to_string(),
        "nft (Docker's rules found in iptables-nft-save only: host chains DOCKER/DOCKER-USER)"
    );
    let c = decide(&none(), &ev(Seen::default(), host(&["DOCKER-INGRESS"]))).unwrap();
    assert_eq!(c.backend(), Some(Backend::Legacy));
}

#[test]
fn nothing_anywhere_falls_back_to_the_system_tools() {
    let mut legacy = Seen::default();
    legacy
        .save_failures
        .push("host: iptables-legacy-save failed (exit status: 1): no".into());
    let c = decide(&none(), &ev(Seen::default(), legacy)).unwrap();
    let t = c.tools(None);
    assert_eq!(
        (t.save.as_str(), t.restore.as_str()),
        ("iptables-save", "iptables-restore")
    );
    assert_eq!(
        c.to_string(),
        "system default iptables-save/iptables-restore (no Docker rules found through \
         iptables-nft-save or iptables-legacy-save; host: iptables-legacy-save failed (exit status: 1): no)"
    );
}

#[test]
fn rules_in_both_backends_are_an_error_naming_both_and_the_fix() {
    let e = decide(
        &none(),
        &ev(sbox(true, false, &["DOCKER"]), sbox(false, true, &[])),
    )
    .unwrap_err();
    assert!(matches!(
        e,
        BackendError::Conflict {
            basis: Basis::Sbox,
            ..
        }
    ));
    let text = e.to_string();
    assert_eq!(
        text,
        "cannot tell which iptables backend dockerd uses: Docker's ingress_sbox rules are in both \
         iptables-nft-save (ingress_sbox MARK rules in mangle, host chains DOCKER) and \
         iptables-legacy-save (ingress_sbox ipvs SNAT in nat); point `iptables` at the one dockerd \
         should use (`update-alternatives --set iptables /usr/sbin/iptables-legacy` or \
         `/usr/sbin/iptables-nft`), restart dockerd and remove the other's leftover rules (or \
         reboot), or set DIRD_IPTABLES_SAVE/DIRD_IPTABLES_RESTORE (e.g. \
         iptables-legacy-save/iptables-legacy-restore)"
    );
    assert_eq!(text.lines().count(), 1);

    let e = decide(&none(), &ev(host(&["DOCKER"]), host(&["DOCKER-USER"]))).unwrap_err();
    assert!(matches!(
        e,
        BackendError::Conflict {
            basis: Basis::Host,
            ..
        }
    ));
    assert!(e.to_string().contains(
        "Docker's chains are in both iptables-nft-save (host chains DOCKER) and \
         iptables-legacy-save (host chains DOCKER-USER)"
    ));
}

#[test]
fn a_chosen_backend_without_its_restore_tool_is_an_error() {
    let mut legacy = sbox(true, true, &[]);
    legacy.restore_missing = Some("No such file or directory (os error 2)".into());
    let e = decide(&none(), &ev(Seen::default(), legacy.clone())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Docker's rules are in iptables-legacy-save but iptables-legacy-restore cannot be \
         started (No such file or directory (os error 2)), so dird cannot use the legacy \
         iptables backend; install it, or set DIRD_IPTABLES_SAVE/DIRD_IPTABLES_RESTORE"
    );
    // The backend not chosen may lack its restore tool.
    let c = decide(
        &none(),
        &ev(
            sbox(true, false, &[]),
            Seen {
                sbox_mark: false,
                sbox_snat: false,
                ..legacy
            },
        ),
    );
    assert_eq!(c.unwrap().backend(), Some(Backend::Nft));
}

#[test]
fn an_engine_on_native_nftables_with_no_rules_in_iptables_is_refused_in_one_line() {
    let mut e = ev(Seen::default(), Seen::default());
    e.engine_firewall = Some("nftables".into());
    let err = decide(&none(), &e).unwrap_err();
    assert!(matches!(err, BackendError::NativeNftables { ref driver } if driver == "nftables"));
    let line = err.to_string();
    assert!(!line.contains('\n'), "{line}");
    assert!(line.contains("firewall backend is nftables"), "{line}");
    assert!(line.contains(r#""firewall-backend": "iptables""#), "{line}");
    e.engine_firewall = Some("nftables+firewalld".into());
    assert!(matches!(
        decide(&none(), &e),
        Err(BackendError::NativeNftables { .. })
    ));
    // Docker's own iptables driver, or one it does not report: the system's tools.
    for driver in [None, Some("iptables"), Some("iptables+firewalld")] {
        e.engine_firewall = driver.map(String::from);
        assert!(matches!(
            decide(&none(), &e),
            Ok(Choice::SystemDefault { .. })
        ));
    }
}

#[test]
fn an_nftables_engine_whose_ingress_rules_are_in_iptables_is_used() {
    // Docker 28's experimental nftables backend still writes the ingress rules with iptables.
    let mut e = ev(sbox(true, true, &[]), Seen::default());
    e.engine_firewall = Some("nftables".into());
    let c = decide(&none(), &e).unwrap();
    assert_eq!(c.backend(), Some(Backend::Nft));
}
