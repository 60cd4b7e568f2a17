use super::*;
use crate::discovery::LbSource;

fn ingress() -> Ingress {
    Ingress {
        subnet: "10.0.0.0/24".parse().unwrap(),
        node_ip: "10.0.0.3".parse().unwrap(),
    }
}

fn ips(node: &Node) -> Vec<String> {
    node.lbs.members.iter().map(|m| m.ip.to_string()).collect()
}

#[test]
fn without_a_list_the_load_balancers_are_the_originals_default() {
    let built = Node::build(&RuleConfig::default(), ingress(), &Discovered::default()).unwrap();
    assert_eq!(ips(&built.node).len(), 8);
    assert!(built.node.lb_id().is_some());
}

#[test]
fn auto_takes_the_load_balancers_from_the_swarm_view() {
    let rules = RuleConfig {
        lbs: LbSource::Auto {
            hosts: vec![
                "192.168.1.0/24".parse().unwrap(),
                "172.16.0.0/16".parse().unwrap(),
            ],
        },
        ..Default::default()
    };
    let node = |ingress: &str, host: &str| SwarmNode {
        ingress_ip: ingress.parse().unwrap(),
        host_ip: Some(host.parse().unwrap()),
    };
    let discovered = Discovered {
        swarm: vec![
            node("10.0.0.3", "192.168.1.10"),
            node("10.0.0.4", "192.168.2.10"),
        ],
        ..Discovered::default()
    };
    let built = Node::build(&rules, ingress(), &discovered).unwrap();
    assert_eq!(ips(&built.node), ["10.0.0.3"]);
    assert_eq!(built.unmatched_hosts, ["172.16.0.0/16".parse().unwrap()]);
}

#[test]
fn services_without_published_ports_enable_no_load_balancer_rules() {
    let rules = RuleConfig {
        services: vec!["web".into()],
        ..Default::default()
    };
    let built = Node::build(&rules, ingress(), &Discovered::default()).unwrap();
    assert!(!built.node.lb_enabled);
    assert_eq!(built.node.lb_id(), None);
    let discovered = Discovered {
        published: Some((vec![PortSpec::Single(80)], Vec::new())),
        ..Discovered::default()
    };
    let built = Node::build(&rules, ingress(), &discovered).unwrap();
    assert!(built.node.lb_enabled);
    assert_eq!(built.node.rules.tcp_ports, [PortSpec::Single(80)]);
}
