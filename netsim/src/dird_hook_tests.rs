use dird::discovery::{LbEntry, LbSource};

use super::*;

fn facts(load_balancer_ips: &[Ipv4Addr]) -> NodeFacts {
    NodeFacts {
        node: "n1".into(),
        ingress_subnet: "10.0.0.0/24".parse().expect("subnet"),
        node_ingress_ip: Ipv4Addr::new(10, 0, 0, 2),
        load_balancer: true,
        load_balancer_ips: load_balancer_ips.to_vec(),
        sbox_netns: PathBuf::from("/nonexistent"),
        tasks: Vec::new(),
        published: Vec::new(),
        swarm: vec![(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(192, 0, 2, 1))],
    }
}

fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn args_without_load_balancers_get_the_scenarios_as_ingress_gateway_ips() {
    let lbs = [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)];
    let cfg = config(&facts(&lbs), &args(&["--indexed-ids"])).expect("config");
    assert_eq!(
        cfg.rules.lbs,
        LbSource::Explicit(lbs.iter().map(|ip| LbEntry::Ip(*ip)).collect())
    );
    assert!(cfg.rules.indexed_ids);
    let given =
        config(&facts(&lbs), &args(&["--ingress-gateway-ips", "10.0.0.4"])).expect("config");
    assert_eq!(
        given.rules.lbs,
        LbSource::Explicit(vec![LbEntry::Ip(Ipv4Addr::new(10, 0, 0, 4))])
    );
    let auto = config(&facts(&lbs), &args(&["--ingress-gateway-ips", "auto"])).expect("config");
    assert!(auto.rules.lbs.needs_view());
}

#[test]
fn a_scenario_without_load_balancers_gives_dird_none() {
    let built = node(&facts(&[]), &[]).expect("node");
    assert!(built.lbs.members.is_empty());
    assert_eq!(built.lb_id(), None);
}
