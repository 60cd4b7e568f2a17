use super::*;

#[test]
fn xt_ipvs_shows_registered_loaded_built_in_or_loadable() {
    assert_eq!(
        xt_ipvs_evidence(Some("u32\ntime\nconntrack\n"), false, None, None),
        None
    );
    assert!(xt_ipvs_evidence(Some("u32\nipvs\n"), false, None, None)
        .is_some_and(|h| h.starts_with("registered")));
    assert!(xt_ipvs_evidence(None, true, None, None).is_some_and(|h| h.starts_with("loaded")));
    let builtin = "kernel/net/netfilter/xt_ipvs.ko\n";
    assert!(
        xt_ipvs_evidence(None, false, Some(builtin), None).is_some_and(|h| h.starts_with("built"))
    );
    let dep = "kernel/net/netfilter/xt_ipvs.ko.zst: kernel/net/netfilter/ipvs/ip_vs.ko.zst\n\
                   kernel/net/netfilter/xt_ipvsx.ko.zst:\n";
    assert!(
        xt_ipvs_evidence(None, false, None, Some(dep)).is_some_and(|h| h.starts_with("loadable"))
    );
    let other = "kernel/net/netfilter/ipvs/ip_vs.ko.zst: kernel/net/netfilter/xt_ipvs.ko.zst\n";
    assert_eq!(
        xt_ipvs_evidence(None, false, None, Some(other)),
        None,
        "a dependency is not the module"
    );
}

#[test]
fn an_override_of_the_other_backend_is_a_finding() {
    assert_eq!(
        backend_of_version("iptables-save v1.8.9 (nf_tables)\n"),
        Some(Backend::Nft)
    );
    assert_eq!(
        backend_of_version("iptables-save v1.8.9 (legacy)\n"),
        Some(Backend::Legacy)
    );
    assert_eq!(backend_of_version("my wrapper 1.0\n"), None);
    let programs = [
        (
            format!("{SAVE_ENV}=iptables-legacy-save"),
            Some(Backend::Legacy),
        ),
        (format!("{RESTORE_ENV}=/usr/local/bin/wrap"), None),
    ];
    let line = judge_override(&programs, Some(Backend::Nft)).to_string();
    assert!(line.starts_with("FINDING: DIRD_IPTABLES_SAVE=iptables-legacy-save is legacy, but Docker's rules are in iptables-nft-save only"), "{line}");
    assert!(line.contains("fix: set DIRD_IPTABLES_SAVE=iptables-nft-save and DIRD_IPTABLES_RESTORE=iptables-nft-restore"));
    assert!(matches!(
        judge_override(&programs, Some(Backend::Legacy)),
        Line::Ok(_)
    ));
    assert!(matches!(judge_override(&programs, None), Line::Skipped(_)));
}
