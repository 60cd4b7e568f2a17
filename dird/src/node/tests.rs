use super::*;
use crate::discovery::{LbEntry, LbSource};

#[test]
fn the_namespace_dird_runs_in_is_never_a_task() {
    let task = TaskRef {
        id: "5e1f0a9b8c7d".into(),
        service: "node-exporter".into(),
        netns: PathBuf::from("/proc/self/ns/net"),
    };
    let e = uninstall_task(&task, &IptablesTools::default()).expect_err("refused");
    assert!(matches!(*e.cause, Cause::Refused(_)), "{e}");
    // An ingress subnet this host has no address in.
    let node = Node::build(
        &RuleConfig {
            lbs: LbSource::Explicit(vec![LbEntry::Ip("198.51.100.2".parse().unwrap())]),
            ..Default::default()
        },
        Ingress {
            subnet: "198.51.100.0/24".parse().unwrap(),
            node_ip: "198.51.100.2".parse().unwrap(),
        },
        &Discovered::default(),
    )
    .unwrap()
    .node;
    let e = node.sync_task(&task).expect_err("refused");
    assert!(matches!(*e.cause, Cause::Refused(_)), "{e}");
}

#[test]
fn default_load_balancers_are_the_originals() {
    let Effective {
        rules: r,
        lb_enabled: on,
    } = effective_rules(&RuleConfig::default(), None);
    let ingress = Ingress {
        subnet: "10.0.0.0/24".parse().unwrap(),
        node_ip: "10.0.0.7".parse().unwrap(),
    };
    let assigned = r
        .lbs
        .assign(ingress, &[], r.indexed_ids, r.id_encoding)
        .unwrap();
    let ips: Vec<String> = assigned
        .lbs
        .members
        .iter()
        .map(|m| m.ip.to_string())
        .collect();
    assert_eq!(
        ips,
        [
            "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8",
            "10.0.0.9"
        ]
    );
    assert!(on);
}

#[test]
fn services_without_ports_use_their_published_ports() {
    let rules = RuleConfig {
        services: vec!["web".into()],
        lbs: LbSource::Explicit(vec![LbEntry::Null]),
        ..Default::default()
    };
    let Effective {
        rules: r,
        lb_enabled: on,
    } = effective_rules(&rules, Some((vec![PortSpec::Single(8080)], vec![])));
    assert_eq!(r.tcp_ports, vec![PortSpec::Single(8080)]);
    assert!(on);
    let on = effective_rules(&rules, Some((vec![], vec![]))).lb_enabled;
    assert!(!on, "no published ports: nothing skips masquerading");
    let explicit = RuleConfig {
        udp_ports: vec![PortSpec::Single(53)],
        ..rules
    };
    let Effective {
        rules: r,
        lb_enabled: on,
    } = effective_rules(&explicit, Some((vec![PortSpec::Single(8080)], vec![])));
    assert_eq!(
        (r.tcp_ports, r.udp_ports, on),
        (vec![], vec![PortSpec::Single(53)], true),
        "explicit ports win"
    );
}
