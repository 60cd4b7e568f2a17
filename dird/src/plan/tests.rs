//! Snapshot tests of rendered plans and property tests of the model.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;
use crate::config::{IdEncoding, LbEntry, PortSpec, RuleConfig};
use crate::ids::LbSet;
use crate::node::{Discovered, Node};

const SBOX_DOCKER: &str = include_str!("../../tests/fixtures/sbox-docker-20.10.iptables");
const TASK_DOCKER: &str = include_str!("../../tests/fixtures/task-docker-20.10.iptables");
/// What the original bash daemon installs in the sbox (as iptables-save prints it).
const SBOX_ORIGINAL: &str = "*raw\n-I PREROUTING 1 -j CT --notrack\nCOMMIT\n*mangle\n-A POSTROUTING -d 10.0.0.0/24 -j TOS --set-tos 0x02/0xff\nCOMMIT\n*nat\n-I POSTROUTING 1 -d 10.0.0.0/24 -m ipvs --ipvs -j ACCEPT\nCOMMIT\n";
/// What the original bash daemon installs in a task (as iptables-save prints it).
const TASK_ORIGINAL: &str = "*mangle\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -m comment --comment docker-ingress-routing-daemon\n-A OUTPUT -p udp -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff\n-A OUTPUT -p tcp -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff\n-A PREROUTING -m tos --tos 0x02/0xff -j CONNMARK --set-xmark 0x2/0xffffffff\nCOMMIT\n";
/// Rules another writer adds to the chains dird hooks, after them and before them.
const FOREIGN: &str = "*raw\n-A PREROUTING -s 192.0.2.99/32 -j ACCEPT\nCOMMIT\n*mangle\n-A PREROUTING -s 192.0.2.99/32 -j MARK --set-xmark 0x100/0xffffffff\n-A OUTPUT -s 192.0.2.99/32 -j ACCEPT\n-A POSTROUTING -s 192.0.2.99/32 -j ACCEPT\nCOMMIT\n*nat\n-A POSTROUTING -s 192.0.2.99/32 -j ACCEPT\nCOMMIT\n*filter\n-I INPUT 1 -s 192.0.2.99/32 -j ACCEPT\nCOMMIT\n";

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn lb_list(items: &[&str]) -> Vec<LbEntry> {
    items
        .iter()
        .map(|s| {
            if *s == "null" {
                LbEntry::Null
            } else {
                LbEntry::Ip(ip(s))
            }
        })
        .collect()
}

fn base() -> RuleConfig {
    RuleConfig {
        load_balancers: lb_list(&["10.0.0.2", "10.0.0.3"]),
        performance: true,
        ..Default::default()
    }
}

/// One configuration to snapshot: its rules, ingress, one task, the sysctl files, and
/// whether the plans are shown being removed.
struct Case {
    rules: RuleConfig,
    ingress: Ingress,
    task: TaskIngress,
    sysctl_files: Vec<Sysctl>,
    uninstall: bool,
}

fn input(rules: RuleConfig, subnet: &str, node: &str) -> Case {
    Case {
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

/// The node's plans as they render themselves ([`install_text`], [`removal_text`]): the load
/// balancers and their IDs, the sbox's plan, then the task's.
fn snap(name: &str, case: &Case) {
    let discovered = Discovered {
        sysctl_files: case.sysctl_files.clone(),
        ..Discovered::default()
    };
    let node = Node::build(&case.rules, case.ingress, &discovered)
        .expect("valid plan")
        .node;
    let ids: Vec<String> = node
        .lbs
        .members
        .iter()
        .map(|m| format!("{}={}", m.ip, m.id))
        .collect();
    let mut text = format!("load balancers: [{}]\nsbox:\n", ids.join(", "));
    match (node.lbs.id_of(case.ingress.node_ip), node.lb_enabled) {
        (Some(id), true) => {
            let plan = lb_plan(&node.rules, &node.ingress, id, &node.sysctl_files);
            text.push_str(&if case.uninstall {
                removal_text(&plan.iptables, &lb_uninstall_plan(), None)
            } else {
                install_text(&plan.iptables, None, &plan.sysctls)
            });
        }
        (Some(_), false) => text.push_str("(load-balancer rules off: no ports to filter on)\n"),
        (None, _) => text.push_str("(not a load balancer)\n"),
    }
    text.push_str("task:\n");
    let plan = task_plan(&node.lbs, &node.ingress, &case.task);
    text.push_str(&if case.uninstall {
        removal_text(
            &plan.iptables,
            &task_uninstall_plan().0,
            Some(&plan.routing),
        )
    } else {
        install_text(&plan.iptables, Some(&plan.routing), &plan.sysctls)
    });
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
fn snapshot_udp_port_ranges() {
    let mut i = input(base(), "10.0.0.0/24", "10.0.0.7");
    i.task.udp_ports = vec![53, 5000, 10002, 10000, 10001, 10003, 65535, 5001];
    snap("udp_port_ranges", &i);
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
        load_balancers: Vec::new(),
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
        load_balancers: lb_list(&["10.0.0.9", "10.0.0.4"]),
        ..base()
    };
    snap("indexed_ids", &input(rules, "10.0.0.0/24", "10.0.0.4"));
}

#[test]
fn snapshot_subnet_16() {
    let rules = RuleConfig {
        load_balancers: lb_list(&["10.0.1.5", "10.0.2.5"]),
        ..base()
    };
    snap("subnet_16", &input(rules, "10.0.0.0/16", "10.0.2.5"));
}

#[test]
fn snapshot_null_entries() {
    let rules = RuleConfig {
        indexed_ids: true,
        load_balancers: lb_list(&["null", "10.0.0.3", "null", "10.0.0.5"]),
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
        load_balancers: lb_list(&["10.0.0.253", "10.0.0.254"]),
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
    i.sysctl_files = crate::sysctl_files::parse(
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
    sbox.replay(SBOX_ORIGINAL).unwrap();
    for b in render_sync(&lb_uninstall_plan(), &sbox) {
        sbox.replay(&b.text).unwrap();
    }
    assert_eq!(sbox.canonical(), before.canonical());

    let mut task = IptablesState::parse(TASK_DOCKER).unwrap();
    let before = task.clone();
    task.replay(TASK_ORIGINAL).unwrap();
    let (ipt, _) = task_uninstall_plan();
    for b in render_sync(&ipt, &task) {
        task.replay(&b.text).unwrap();
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
    let (lbs, ing) = one_lb();
    let plan = lb_plan(&base(), &ing, lbs.members[0].id, &[]);
    let mut sbox = IptablesState::parse(SBOX_DOCKER).unwrap();
    for b in render_sync(&plan.iptables, &sbox) {
        sbox.replay(&b.text).unwrap();
    }
    // Docker re-inserts its SNAT rule in front of ours (as after an sbox rebuild).
    sbox.replay("*nat\n-I POSTROUTING 1 -d 10.0.0.0/24 -m ipvs --ipvs -j SNAT --to-source 10.0.0.2\nCOMMIT\n").unwrap();
    let fix = render_sync(&plan.iptables, &sbox);
    assert_eq!(fix.len(), 1);
    for b in fix {
        sbox.replay(&b.text).unwrap();
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
        "*\nCOMMIT\n",
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
                load_balancers: octets
                    .iter()
                    .map(|o| LbEntry::Ip(Ipv4Addr::new(10, 0, 0, *o)))
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
        state.replay(&b.text).unwrap();
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
    fn port_ranges_cover_exactly_the_ports(ports in proptest::collection::vec(any::<u16>(), 0..200), base in any::<u16>(), run in 0u16..300) {
        let mut ports = ports;
        ports.extend((0..run).filter_map(|i| base.checked_add(i)));
        let ranges = port_ranges(&ports);
        let want: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
        let covered: Vec<u16> = ranges.iter().flat_map(|r| r.start..=r.end).collect();
        prop_assert_eq!(covered.iter().copied().collect::<std::collections::BTreeSet<u16>>(), want);
        prop_assert_eq!(covered.len(), ports.iter().collect::<std::collections::HashSet<_>>().len(), "no port twice");
        for pair in ranges.windows(2) {
            prop_assert!(u32::from(pair[0].end) + 1 < u32::from(pair[1].start), "maximal, sorted: {:?}", pair);
        }
        let plan = one_lb_task(ports.clone());
        prop_assert_eq!(plan.routing.udp_rules.len(), 2 * ranges.len());
    }

    #[test]
    fn rollback_restores_dirds_part_and_keeps_other_writers_rules(
        (cfg1, octets1, _) in rule_config(),
        (cfg2, octets2, _) in rule_config(),
        installed in any::<bool>(),
        uninstall in any::<bool>(),
        original in any::<bool>(),
    ) {
        let (lb1, task1) = plans(&cfg1, &octets1);
        let (lb2, task2) = plans(&cfg2, &octets2);
        let (lb_next, task_next) = if uninstall {
            (lb_uninstall_plan(), task_uninstall_plan().0)
        } else {
            (lb2.iptables, task2.iptables)
        };
        let cases = [
            (lb1.iptables, lb_next, SBOX_DOCKER, SBOX_ORIGINAL),
            (task1.iptables, task_next, TASK_DOCKER, TASK_ORIGINAL),
        ];
        for (first, next, docker, original_rules) in cases {
            let mut saved = IptablesState::parse(docker).unwrap();
            if original {
                saved.replay(original_rules).unwrap();
            }
            if installed {
                let batches = render_sync(&first, &saved);
                apply_all(&mut saved, &batches);
            }
            let batches = render_sync(&next, &saved);
            let tables: Vec<Table> = batches.iter().map(|b| b.table).collect();
            let mut now = saved.clone();
            apply_all(&mut now, &batches);
            now.replay(FOREIGN).unwrap();
            let undo = render_restore(&saved, &now, &tables, &next.legacy);
            prop_assert!(undo.iter().all(|b| !b.text.contains("192.0.2.99")));
            apply_all(&mut now, &undo);
            let mut want = saved.clone();
            want.replay(FOREIGN).unwrap();
            prop_assert_eq!(now.canonical(), want.canonical());
            prop_assert!(render_restore(&saved, &now, &tables, &next.legacy).is_empty());
        }
    }

    #[test]
    fn reconfiguring_replaces_only_what_changed((cfg, octets, _) in rule_config(), keep in 1usize..12) {
        let (_, task) = plans(&cfg, &octets);
        let keep = keep.min(octets.len());
        let smaller = RuleConfig { load_balancers: cfg.load_balancers[..keep].to_vec(), ..cfg.clone() };
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

/// One load balancer, 10.0.0.2, in 10.0.0.0/24.
fn one_lb() -> (LbSet, Ingress) {
    let lbs = LbSet::assign(
        &lb_list(&["10.0.0.2"]),
        "10.0.0.0/24".parse().unwrap(),
        false,
        IdEncoding::Tos,
    )
    .unwrap();
    let ing = Ingress {
        subnet: "10.0.0.0/24".parse().unwrap(),
        node_ip: ip("10.0.0.2"),
    };
    (lbs, ing)
}

fn one_lb_task(udp_ports: Vec<u16>) -> TaskPlan {
    let (lbs, ing) = one_lb();
    let task = TaskIngress {
        iface: "eth0".into(),
        addr: ip("10.0.0.100"),
        udp_ports,
    };
    task_plan(&lbs, &ing, &task)
}

#[test]
fn a_udp_port_range_gives_one_pair_of_rules() {
    let plan = one_lb_task((10000..=20000).rev().collect());
    assert_eq!(plan.routing.udp_rules.len(), 2);
    let text: Vec<String> = plan
        .routing
        .udp_rules
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(
        text,
        [
            "ip rule add iif lo ipproto udp sport 10000-20000 lookup 254 suppress_prefixlength 0 priority 32698",
            "ip rule add iif lo ipproto udp sport 10000-20000 lookup 7000 priority 32699",
        ]
    );
}

#[test]
fn unknown_tables_are_ignored() {
    let save = format!(
        "*security\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:SECMARK-X - [0:0]\n-A INPUT -j SECMARK-X\n-A SECMARK-X -j SECMARK --selctx system_u:object_r:x:s0\nCOMMIT\n{TASK_DOCKER}*bogus\n-X NOTHING\nCOMMIT\n"
    );
    let state = IptablesState::parse(&save).unwrap();
    assert_eq!(state, IptablesState::parse(TASK_DOCKER).unwrap());
    let (_, task) = plans(&base(), &[2, 3]);
    let batches = render_sync(&task.iptables, &state);
    assert!(batches.iter().all(|b| !b.text.contains("security")));
    let mut installed = state.clone();
    apply_all(&mut installed, &batches);
    assert!(render_sync(&task.iptables, &installed).is_empty());
}
