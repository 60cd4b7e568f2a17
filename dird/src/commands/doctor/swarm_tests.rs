use super::*;

fn node(d: u8, h: u8) -> SwarmNode {
    SwarmNode {
        ingress_ip: Ipv4Addr::new(10, 0, 0, d),
        host_ip: Some(Ipv4Addr::new(192, 0, 2, h)),
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("ip")
}

#[test]
fn each_wrong_kind_of_load_balancer_address_is_named() {
    let gwbridge = ["172.18.0.0/16".parse().expect("net")];
    let view = [node(2, 1), node(3, 2)];
    let a = Addresses {
        subnet: "10.0.0.0/24".parse().expect("net"),
        gateway: Some(ip("10.0.0.1")),
        gwbridge: &gwbridge,
        view: &view,
    };
    let text = |s: &str| judge_load_balancer(ip(s), &a).to_string();
    assert_eq!(
            text("10.0.0.1"),
            "FINDING: --ingress-gateway-ips 10.0.0.1 is the ingress network's gateway, not a node's ingress_sbox address; fix: give the sbox addresses `dird lbs` lists"
        );
    assert!(text("172.18.0.3").contains("inside docker_gwbridge's subnet 172.18.0.0/16"));
    assert!(text("10.9.9.9").contains("outside the ingress subnet 10.0.0.0/24"));
    assert!(text("10.0.0.7")
        .contains("not any node's ingress_sbox address in the swarm's view (10.0.0.2, 10.0.0.3)"));
    assert_eq!(
        text("10.0.0.3"),
        "ok: --ingress-gateway-ips 10.0.0.3 is a node's ingress_sbox address"
    );
    let blind = Addresses { view: &[], ..a };
    assert!(matches!(
        judge_load_balancer(ip("10.0.0.7"), &blind),
        Line::Skipped(_)
    ));
}

fn facts() -> SwarmFacts {
    SwarmFacts {
        state: Ok("active".into()),
        ingress: Ok(Ingress {
            subnet: "10.0.0.0/24".parse().expect("net"),
            node_ip: ip("10.0.0.2"),
        }),
        ingress_gateway: Some(ip("10.0.0.1")),
        gwbridge: Vec::new(),
        view: Ok(vec![node(2, 1), node(3, 2)]),
        tasks: Ok(Vec::new()),
        firewall: Ok(Some("iptables".into())),
    }
}

#[test]
fn a_swarm_member_without_an_ingress_network_is_a_finding() {
    let mut report = Report::default();
    check_membership(&mut report, &facts());
    assert!(matches!(report.lines[..], [Line::Ok(_)]), "{report:?}");
    let no_ingress = SwarmFacts {
        ingress: Err("no ingress network: this node is not in a swarm".into()),
        ..facts()
    };
    let mut report = Report::default();
    check_membership(&mut report, &no_ingress);
    assert!(
        report.render().starts_with(
            "FINDING: the swarm's ingress network is not usable on this node: no ingress network"
        ),
        "{}",
        report.render()
    );
}

#[test]
fn flags_the_daemon_refuses_are_a_finding_and_leave_nothing_to_compare() {
    let f = facts();
    let Ok(ingress) = f.ingress.clone() else {
        panic!("ingress")
    };
    let twice = RuleConfig {
        lbs: LbSource::Explicit(vec![
            LbEntry::Ip(ip("10.0.0.2")),
            LbEntry::Ip(ip("10.0.0.2")),
        ]),
        ..Default::default()
    };
    let mut report = Report::default();
    let planned = check_load_balancers(&mut report, &twice, ingress, &f, IptablesTools::default())
        .expect("a node to read the tasks with");
    assert!(!planned.comparable);
    assert!(report.render().contains("FINDING: the daemon refuses this configuration on this swarm: duplicate load-balancer IP 10.0.0.2"), "{}", report.render());
    let once = RuleConfig {
        lbs: LbSource::Explicit(vec![LbEntry::Ip(ip("10.0.0.2"))]),
        ..Default::default()
    };
    let mut report = Report::default();
    assert!(
        check_load_balancers(&mut report, &once, ingress, &f, IptablesTools::default())
            .expect("a node to read the tasks with")
            .comparable
    );
    assert_eq!(report.findings(), 0, "{}", report.render());
}

#[test]
fn auto_says_which_nodes_it_gives() {
    let ingress = Ingress {
        subnet: "10.0.0.0/24".parse().expect("net"),
        node_ip: ip("10.0.0.3"),
    };
    let view = [node(2, 1), node(3, 2)];
    let every = RuleConfig {
        lbs: LbSource::Auto { hosts: Vec::new() },
        ..Default::default()
    };
    assert_eq!(
            judge_auto_node(&every, ingress, &view).to_string(),
            "ok: with auto, the load balancers are every node of the swarm's view: 10.0.0.2, 10.0.0.3; this node (10.0.0.3) is ID 3"
        );
    let narrowed = RuleConfig {
        lbs: LbSource::Auto {
            hosts: vec!["192.0.2.1/32".parse().expect("net")],
        },
        ..every.clone()
    };
    let line = judge_auto_node(&narrowed, ingress, &view).to_string();
    assert!(line.starts_with("FINDING: with auto, the load balancers are the nodes whose underlay address matches --load-balancer-hosts: 10.0.0.2; this node (10.0.0.3) is not one of them"), "{line}");
    assert!(line.contains("add its underlay address 192.0.2.2 to --load-balancer-hosts"));
    assert!(matches!(
        judge_auto_node(&every, ingress, &[]),
        Line::Skipped(_)
    ));
}
