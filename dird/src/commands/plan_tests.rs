use super::*;
use crate::discovery::{LbEntry, LbSource};

/// `dird plan` for node `node` of a two-load-balancer swarm.
fn input(node: [u8; 4], uninstall: bool) -> PlanInput {
    let lb = |d| LbEntry::Ip(std::net::Ipv4Addr::new(10, 0, 0, d));
    PlanInput {
        rules: RuleConfig {
            lbs: LbSource::Explicit(vec![lb(2), lb(3)]),
            performance: true,
            services: vec!["web".into()],
            tcp_ports: vec![crate::config::PortSpec::Single(8080)],
            ..Default::default()
        },
        ingress: Ingress {
            subnet: "10.0.0.0/24".parse().expect("subnet"),
            node_ip: node.into(),
        },
        task: TaskIngress {
            iface: "eth0".into(),
            addr: [10, 0, 0, 100].into(),
            udp_ports: Vec::new(),
        },
        sysctl_files: Vec::new(),
        uninstall,
    }
}

#[test]
fn the_cli_shows_a_load_balancers_plan() {
    insta::assert_snapshot!(render(&input([10, 0, 0, 2], false)).expect("plan"));
}

#[test]
fn the_cli_says_when_a_node_is_not_a_load_balancer() {
    insta::assert_snapshot!(render(&input([10, 0, 0, 9], false)).expect("plan"));
}

#[test]
fn the_cli_shows_a_removal() {
    insta::assert_snapshot!(render(&input([10, 0, 0, 2], true)).expect("plan"));
}
