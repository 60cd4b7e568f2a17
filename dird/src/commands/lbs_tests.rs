use super::*;
use crate::discovery::{LbEntry, LbSource};
use crate::docker::swarm_view::parse;

#[test]
fn auto_and_explicit_tables() {
    let view = parse(include_str!("../../tests/fixtures/ingress-verbose-a.json")).unwrap();
    let ingress = Ingress {
        subnet: "10.0.0.0/24".parse().unwrap(),
        node_ip: "10.0.0.2".parse().unwrap(),
    };
    let auto = RuleConfig {
        lbs: LbSource::Auto { hosts: Vec::new() },
        ..Default::default()
    };
    insta::assert_snapshot!("lbs_auto", render(&auto, &ingress, &view).unwrap());
    let explicit = RuleConfig {
        lbs: LbSource::Explicit(vec![LbEntry::Ip("10.0.0.3".parse().unwrap())]),
        ..Default::default()
    };
    insta::assert_snapshot!("lbs_explicit", render(&explicit, &ingress, &view).unwrap());
}

#[test]
fn backend_line_says_which_and_why() {
    use crate::apply::backend::{decide, Evidence, Override, Seen};
    let nft = Seen {
        host_chains: vec!["DOCKER".into()],
        ..Seen::default()
    };
    let chosen = decide(
        &Override::default(),
        &Evidence {
            nft: nft.clone(),
            ..Evidence::default()
        },
    );
    assert_eq!(
            backend_line(&chosen),
            "iptables backend: nft (Docker's rules found in iptables-nft-save only: host chains DOCKER)\n"
        );
    let conflict = decide(
        &Override::default(),
        &Evidence {
            legacy: nft.clone(),
            nft,
            ..Evidence::default()
        },
    );
    let line = backend_line(&conflict);
    assert!(
        line.starts_with(
            "iptables backend: error: cannot tell which iptables backend dockerd uses: "
        ),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1);
}
