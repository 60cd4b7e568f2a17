//! Snapshot tests of rendered plans and property tests of the model.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;
use crate::commands::plan::{render, PlanInput};
use crate::config::{Gateway, PortSpec, RuleConfig};
use crate::ids::{IdEncoding, LbSet};

const SBOX_DOCKER: &str = include_str!("../../tests/fixtures/sbox-docker-20.10.iptables");
const TASK_DOCKER: &str = include_str!("../../tests/fixtures/task-docker-20.10.iptables");

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn gws(items: &[&str]) -> Vec<Gateway> {
    items
        .iter()
        .map(|s| {
            if *s == "null" {
                Gateway::Null
            } else {
                Gateway::Ip(ip(s))
            }
        })
        .collect()
}

fn base() -> RuleConfig {
    RuleConfig {
        gateways: gws(&["10.0.0.2", "10.0.0.3"]),
        performance: true,
        ..Default::default()
    }
}

fn input(rules: RuleConfig, subnet: &str, node: &str) -> PlanInput {
    PlanInput {
        rules,
        ingress: Ingress {
            subnet: subnet.parse().unwrap(),
            node_ip: ip(node),
        },
        task: TaskIngress {
            iface: "eth0".into(),
            addr: ip("10.0.0.100"),
            udp_ports: Vec::new(),
        },
        sysctl_files: Vec::new(),
        uninstall: false,
    }
}

fn snap(name: &str, input: &PlanInput) {
    let text = render(input).expect("valid plan");
    insta::assert_snapshot!(name, text);
}

#[test]
fn snapshot_default_install() {
    snap("default_install", &input(base(), "10.0.0.0/24", "10.0.0.2"));
}

#[test]
fn snapshot_tcp_ports() {
    let rules = RuleConfig {
        tcp_ports: vec![PortSpec::Single(80), PortSpec::Single(443)],
        ..base()
    };
    snap("tcp_ports", &input(rules, "10.0.0.0/24", "10.0.0.2"));
}

#[test]
fn snapshot_udp_ports() {
    let rules = RuleConfig {
        udp_ports: vec![PortSpec::Single(5353)],
        ..base()
    };
    let mut i = input(rules, "10.0.0.0/24", "10.0.0.2");
    i.task.udp_ports = vec![53];
    snap("udp_ports", &i);
}

#[test]
fn snapshot_tcp_and_udp_ports() {
    let rules = RuleConfig {
        tcp_ports: vec![PortSpec::Single(8080), PortSpec::Range(9000, 9010)],
        udp_ports: vec![PortSpec::Single(5353)],
        ..base()
    };
    snap(
        "tcp_and_udp_ports",
        &input(rules, "10.0.0.0/24", "10.0.0.2"),
    );
}

#[test]
fn snapshot_services() {
    let rules = RuleConfig {
        services: vec!["web".into(), "api".into()],
        ..base()
    };
    snap("services", &input(rules, "10.0.0.0/24", "10.0.0.3"));
}

#[test]
fn snapshot_services_with_ports() {
    let rules = RuleConfig {
        services: vec!["web".into()],
        tcp_ports: vec![PortSpec::Single(80)],
        ..base()
    };
    snap(
        "services_with_ports",
        &input(rules, "10.0.0.0/24", "10.0.0.3"),
    );
}

#[test]
fn snapshot_default_load_balancers() {
    // No --ingress-gateway-ips: the original's .2 to .9 of the node's /24, as the daemon does.
    let rules = RuleConfig {
        gateways: Vec::new(),
        ..base()
    };
    snap(
        "default_load_balancers",
        &input(rules, "10.0.0.0/24", "10.0.0.4"),
    );
}

#[test]
fn snapshot_indexed_ids() {
    let rules = RuleConfig {
        indexed_ids: true,
        gateways: gws(&["10.0.0.9", "10.0.0.4"]),
        ..base()
    };
    snap("indexed_ids", &input(rules, "10.0.0.0/24", "10.0.0.4"));
}

#[test]
fn snapshot_subnet_16() {
    let rules = RuleConfig {
        gateways: gws(&["10.0.1.5", "10.0.2.5"]),
        ..base()
    };
    snap("subnet_16", &input(rules, "10.0.0.0/16", "10.0.2.5"));
}

#[test]
fn snapshot_null_entries() {
    let rules = RuleConfig {
        indexed_ids: true,
        gateways: gws(&["null", "10.0.0.3", "null", "10.0.0.5"]),
        ..base()
    };
    snap("null_entries", &input(rules, "10.0.0.0/24", "10.0.0.5"));
}

#[test]
fn snapshot_no_performance() {
    let rules = RuleConfig {
        performance: false,
        ..base()
    };
    snap("no_performance", &input(rules, "10.0.0.0/24", "10.0.0.2"));
}

#[test]
fn snapshot_dscp() {
    let rules = RuleConfig {
        id_encoding: IdEncoding::Dscp,
        ..base()
    };
    snap("dscp", &input(rules, "10.0.0.0/24", "10.0.0.3"));
}

#[test]
fn snapshot_lb_at_254() {
    let rules = RuleConfig {
        gateways: gws(&["10.0.0.253", "10.0.0.254"]),
        ..base()
    };
    snap("lb_at_254", &input(rules, "10.0.0.0/24", "10.0.0.254"));
}

#[test]
fn snapshot_more_than_15_ports() {
    let mut tcp: Vec<PortSpec> = (8001..=8020).map(PortSpec::Single).collect();
    tcp.push(PortSpec::Range(9000, 9100));
    let rules = RuleConfig {
        tcp_ports: tcp,
        ..base()
    };
    snap(
        "more_than_15_ports",
        &input(rules, "10.0.0.0/24", "10.0.0.2"),
    );
}

#[test]
fn snapshot_not_a_load_balancer() {
    snap(
        "not_a_load_balancer",
        &input(base(), "10.0.0.0/24", "10.0.0.7"),
    );
}

#[test]
fn snapshot_sysctl_files() {
    let mut i = input(base(), "10.0.0.0/24", "10.0.0.2");
    i.sysctl_files = crate::config::sysctl_conf::parse(
        "/etc/sysctl.d/conntrack.conf",
        "net.netfilter.nf_conntrack_max = 1048576\n",
    )
    .unwrap();
    snap("sysctl_files", &i);
}

#[test]
fn snapshot_uninstall() {
    let mut i = input(base(), "10.0.0.0/24", "10.0.0.2");
    i.uninstall = true;
    snap("uninstall", &i);
}

#[test]
fn no_multiport_rule_exceeds_15_slots() {
    let mut tcp: Vec<PortSpec> = (1..=40).map(PortSpec::Single).collect();
    tcp.extend((100..110).map(|p| PortSpec::Range(p * 10, p * 10 + 5)));
    let cfg = RuleConfig {
        tcp_ports: tcp.clone(),
        ..base()
    };
    let filters = port_filters(&cfg);
    let mut seen = Vec::new();
    for f in &filters {
        let list = f.rsplit(' ').next().unwrap();
        let slots: usize = list
            .split(',')
            .map(|p| if p.contains(':') { 2 } else { 1 })
            .sum();
        assert!(slots <= MULTIPORT_MAX_SLOTS, "{f}");
        seen.extend(list.split(',').map(str::to_owned));
    }
    let want: Vec<String> = tcp.iter().map(ToString::to_string).collect();
    assert_eq!(seen, want);
}

#[test]
fn legacy_rules_of_the_original_are_removed() {
    let mut sbox = IptablesState::parse(SBOX_DOCKER).unwrap();
    let before = sbox.clone();
    // What the bash daemon installs in the sbox (as iptables-save prints it).
    sbox.apply(
        "*raw\n-I PREROUTING 1 -j CT --notrack\nCOMMIT\n*mangle\n-A POSTROUTING -d 10.0.0.0/24 -j TOS --set-tos 0x02/0xff\nCOMMIT\n*nat\n-I POSTROUTING 1 -d 10.0.0.0/24 -m ipvs --ipvs -j ACCEPT\nCOMMIT\n",
    )
    .unwrap();
    for b in render_sync(&lb_uninstall_plan(), &sbox) {
        sbox.apply(&b.text).unwrap();
    }
    assert_eq!(sbox.canonical(), before.canonical());

    let mut task = IptablesState::parse(TASK_DOCKER).unwrap();
    let before = task.clone();
    task.apply("*mangle\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -m comment --comment docker-ingress-routing-daemon\n-A OUTPUT -p udp -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff\n-A OUTPUT -p tcp -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff\n-A PREROUTING -m tos --tos 0x02/0xff -j CONNMARK --set-xmark 0x2/0xffffffff\nCOMMIT\n").unwrap();
    let (ipt, _) = task_uninstall_plan();
    for b in render_sync(&ipt, &task) {
        task.apply(&b.text).unwrap();
    }
    assert_eq!(task.canonical(), before.canonical());
}

#[test]
fn similar_rules_without_the_marker_are_left_alone() {
    let text = "*mangle\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p tcp -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff\nCOMMIT\n";
    let task = IptablesState::parse(text).unwrap();
    let (ipt, _) = task_uninstall_plan();
    assert!(render_sync(&ipt, &task).is_empty());
}

#[test]
fn a_misplaced_nat_jump_is_moved_to_the_front() {
    let lbs = LbSet::assign(
        &gws(&["10.0.0.2"]),
        "10.0.0.0/24".parse().unwrap(),
        false,
        IdEncoding::Tos,
    )
    .unwrap();
    let ing = Ingress {
        subnet: "10.0.0.0/24".parse().unwrap(),
        node_ip: ip("10.0.0.2"),
    };
    let plan = lb_plan(&base(), &ing, lbs.members[0].id, &[]);
    let mut sbox = IptablesState::parse(SBOX_DOCKER).unwrap();
    for b in render_sync(&plan.iptables, &sbox) {
        sbox.apply(&b.text).unwrap();
    }
    // Docker re-inserts its SNAT rule in front of ours (as after an sbox rebuild).
    sbox.apply("*nat\n-I POSTROUTING 1 -d 10.0.0.0/24 -m ipvs --ipvs -j SNAT --to-source 10.0.0.2\nCOMMIT\n").unwrap();
    let fix = render_sync(&plan.iptables, &sbox);
    assert_eq!(fix.len(), 1);
    for b in fix {
        sbox.apply(&b.text).unwrap();
    }
    let nat = sbox.rules(Table::Nat, "POSTROUTING").unwrap();
    assert_eq!(nat[0], "-m comment --comment dird -j DIRD-POSTROUTING");
    assert_eq!(
        nat.iter()
            .filter(|r| r.contains("DIRD-POSTROUTING"))
            .count(),
        1
    );
    assert!(render_sync(&plan.iptables, &sbox).is_empty());
}

#[test]
fn parse_reads_counters_and_rejects_garbage() {
    let s = IptablesState::parse(
        "*nat\n:POSTROUTING ACCEPT [3:180]\n[3:180] -A POSTROUTING -j ACCEPT\nCOMMIT\n",
    )
    .unwrap();
    assert_eq!(
        s.rules(Table::Nat, "POSTROUTING").unwrap(),
        &vec!["-j ACCEPT".to_string()]
    );
    for bad in [
        "-A X -j ACCEPT\n",
        "*bogus\nCOMMIT\n",
        "*nat\n-A NOPE -j ACCEPT\nCOMMIT\n",
        "*nat\n:POSTROUTING ACCEPT [0:0]\n",
    ] {
        assert!(IptablesState::parse(bad).is_err(), "{bad}");
    }
}

// ---- properties -------------------------------------------------------------------------

fn rule_config() -> impl Strategy<Value = (RuleConfig, Vec<u8>, bool)> {
    (
        proptest::collection::btree_set(2u8..=254, 1..12),
        proptest::collection::vec(1u16..=65535, 0..20),
        proptest::collection::vec(1u16..=65535, 0..20),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(octets, tcp, udp, dscp, indexed, perf)| {
            let octets: Vec<u8> = octets.into_iter().collect();
            let dedup = |v: Vec<u16>| {
                let mut out: Vec<PortSpec> = Vec::new();
                for p in v {
                    if !out.contains(&PortSpec::Single(p)) {
                        out.push(PortSpec::Single(p));
                    }
                }
                out
            };
            let cfg = RuleConfig {
                gateways: octets
                    .iter()
                    .map(|o| Gateway::Ip(Ipv4Addr::new(10, 0, 0, *o)))
                    .collect(),
                tcp_ports: dedup(tcp),
                udp_ports: dedup(udp),
                id_encoding: if dscp {
                    IdEncoding::Dscp
                } else {
                    IdEncoding::Tos
                },
                indexed_ids: indexed || dscp,
                performance: perf,
                ..Default::default()
            };
            (cfg, octets, dscp)
        })
}

fn plans(cfg: &RuleConfig, octets: &[u8]) -> (LbPlan, TaskPlan) {
    let ing = Ingress {
        subnet: "10.0.0.0/24".parse().unwrap(),
        node_ip: Ipv4Addr::new(10, 0, 0, octets[0]),
    };
    let lbs = LbSet::for_rules(cfg, ing.subnet).unwrap();
    let id = lbs.id_of(ing.node_ip).unwrap();
    let task = TaskIngress {
        iface: "eth0".into(),
        addr: Ipv4Addr::new(10, 0, 0, 200),
        udp_ports: vec![53, 5353],
    };
    (lb_plan(cfg, &ing, id, &[]), task_plan(&lbs, &ing, &task))
}

fn apply_all(state: &mut IptablesState, batches: &[TableBatch]) {
    for b in batches {
        state.apply(&b.text).unwrap();
    }
}

proptest! {
    #[test]
    fn plans_are_deterministic((cfg, octets, _) in rule_config()) {
        prop_assert_eq!(plans(&cfg, &octets), plans(&cfg, &octets));
    }

    #[test]
    fn render_then_parse_gives_the_plan_back((cfg, octets, _) in rule_config()) {
        let (lb, task) = plans(&cfg, &octets);
        for plan in [&lb.iptables, &task.iptables] {
            let text = render_text(&render_sync(plan, &IptablesState::default()));
            let parsed = IptablesState::parse(&text).unwrap();
            prop_assert_eq!(&parsed.own_chains().chains, &plan.chains);
            prop_assert!(render_sync(plan, &parsed).is_empty(), "applying twice changes nothing");
        }
    }

    #[test]
    fn install_then_uninstall_gives_the_starting_state((cfg, octets, _) in rule_config(), docker in any::<bool>()) {
        let (lb, task) = plans(&cfg, &octets);
        let cases = [
            (&lb.iptables, lb_uninstall_plan(), SBOX_DOCKER),
            (&task.iptables, task_uninstall_plan().0, TASK_DOCKER),
        ];
        for (plan, uninstall, docker_rules) in cases {
            let start = if docker { IptablesState::parse(docker_rules).unwrap() } else { IptablesState::default() };
            let mut state = start.clone();
            let batches = render_sync(plan, &state);
            apply_all(&mut state, &batches);
            prop_assert!(state.canonical() != start.canonical());
            let batches = render_sync(&uninstall, &state);
            apply_all(&mut state, &batches);
            prop_assert_eq!(state.canonical(), start.canonical());
            prop_assert!(render_sync(&uninstall, &state).is_empty());
        }
        // Routing: uninstall of an installed task removes every rule and route it added.
        let installed = task.routing.clone();
        let undo = routing::diff(&RoutingPlan::default(), &installed);
        prop_assert_eq!(undo.del_rules, task.routing.rules.clone());
        prop_assert_eq!(undo.del_routes, task.routing.routes.clone());
        prop_assert_eq!(undo.del_udp_rules, task.routing.udp_rules.clone());
        prop_assert!(routing::diff(&task.routing, &installed).is_empty());
    }

    #[test]
    fn reconfiguring_replaces_only_what_changed((cfg, octets, _) in rule_config(), keep in 1usize..12) {
        let (_, task) = plans(&cfg, &octets);
        let keep = keep.min(octets.len());
        let smaller = RuleConfig { gateways: cfg.gateways[..keep].to_vec(), ..cfg.clone() };
        let (_, task2) = plans(&smaller, &octets);
        let mut state = IptablesState::default();
        apply_all(&mut state, &render_sync(&task.iptables, &IptablesState::default()));
        // The task chains do not depend on the load-balancer list: nothing to change there.
        prop_assert!(render_sync(&task2.iptables, &state).is_empty());
        let ch = routing::diff(&task2.routing, &task.routing);
        prop_assert_eq!(ch.del_rules.len(), octets.len() - keep);
        prop_assert!(ch.add_rules.is_empty());
    }
}

#[test]
fn udp_server_ports_come_from_dockers_redirect_rules() {
    let task = IptablesState::parse(TASK_DOCKER).unwrap();
    assert_eq!(
        udp_redirect_ports(&task),
        vec![53],
        "5353/udp is remapped to 53 in the reference task"
    );
    assert!(udp_redirect_ports(&IptablesState::default()).is_empty());
}
