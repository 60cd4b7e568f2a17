//! Snapshot tests of rendered plans and property tests of the model.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;
use crate::config::{IdEncoding, PortSpec, RuleConfig};
use crate::discovery::{parse_load_balancers, LbEntry, LbSource};
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

/// Entries as `--ingress-gateway-ips` parses them.
fn lb_list(items: &[&str]) -> Vec<LbEntry> {
    parse_load_balancers("--ingress-gateway-ips", &[items.join(",")]).unwrap()
}

fn base() -> RuleConfig {
    RuleConfig {
        lbs: LbSource::Explicit(lb_list(&["10.0.0.2", "10.0.0.3"])),
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
        lbs: LbSource::Default,
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
        lbs: LbSource::Explicit(lb_list(&["10.0.0.9", "10.0.0.4"])),
        ..base()
    };
    snap("indexed_ids", &input(rules, "10.0.0.0/24", "10.0.0.4"));
}

#[test]
fn snapshot_subnet_16() {
    let rules = RuleConfig {
        lbs: LbSource::Explicit(lb_list(&["10.0.1.5", "10.0.2.5"])),
        ..base()
    };
    snap("subnet_16", &input(rules, "10.0.0.0/16", "10.0.2.5"));
}

#[test]
fn snapshot_null_entries() {
    let rules = RuleConfig {
        indexed_ids: true,
        lbs: LbSource::Explicit(lb_list(&["null", "10.0.0.3", "null", "10.0.0.5"])),
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
        lbs: LbSource::Explicit(lb_list(&["10.0.0.253", "10.0.0.254"])),
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

/// What `iptables-save` 1.8.9 (both backends) prints for a rule whose comment holds newlines
/// (`iptables -A INPUT -m comment --comment "$(printf 'z\n-A INPUT -M /tmp/x -j DROP\n#')" -j
/// ACCEPT`, measured in a throwaway namespace): the forged middle line looks like a rule of its
/// own; the line before it leaves its quote open.
const FORGED_SAVE: &str =
    "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
-A INPUT -m comment --comment \"z\n-A INPUT -M /tmp/x -j DROP\n#\" -j ACCEPT\nCOMMIT\n";

#[test]
fn a_save_that_does_not_parse_strictly_is_refused() {
    let e = IptablesState::parse(FORGED_SAVE).unwrap_err();
    assert_eq!(e.message, "a quote left open at the end of the line");
    assert_eq!(e.line, 5);
    for bad in [
        // Commands iptables-save never prints.
        "*nat\n:POSTROUTING ACCEPT [0:0]\n-I POSTROUTING -j ACCEPT\nCOMMIT\n",
        "*nat\n:POSTROUTING ACCEPT [0:0]\n-D POSTROUTING -j ACCEPT\nCOMMIT\n",
        "*nat\n:DIRD-X - [0:0]\n-X DIRD-X\nCOMMIT\n",
        // A line that is neither a table, a chain, a rule nor COMMIT.
        "*nat\n:POSTROUTING ACCEPT [0:0]\nhello\nCOMMIT\n",
        "*nat\n:POSTROUTING ACCEPT [0:0]\n -A POSTROUTING -j ACCEPT\nCOMMIT\n",
        // Control characters, a malformed declaration or chain name, nesting.
        "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j ACCEPT\r\nCOMMIT\n",
        "*nat\n:POSTROUTING ACCEPT\nCOMMIT\n",
        "*nat\n:POST$ROUTING ACCEPT [0:0]\nCOMMIT\n",
        "*nat\n*mangle\nCOMMIT\n",
        "*Nat\nCOMMIT\n",
    ] {
        assert!(IptablesState::parse(bad).is_err(), "{bad:?}");
    }
    // Quotes that close, with an escaped quote inside: fine.
    let ok = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"a \\\"b\\\" c\" -j ACCEPT\nCOMMIT\n";
    assert!(IptablesState::parse(ok).is_ok());
}

#[test]
fn what_is_read_from_a_namespace_is_bounded() {
    let mut many = String::from("*filter\n:INPUT ACCEPT [0:0]\n");
    for _ in 0..=crate::plan::state::MAX_RULES {
        many.push_str("-A INPUT -j ACCEPT\n");
    }
    many.push_str("COMMIT\n");
    let e = IptablesState::parse(&many).unwrap_err();
    assert_eq!(e.message, "more rules than dird reads from a namespace");
    let long = format!(
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment {} -j ACCEPT\nCOMMIT\n",
        "x".repeat(crate::plan::state::MAX_LINE)
    );
    assert!(IptablesState::parse(&long).is_err());
    let mut chains = String::from("*filter\n");
    for i in 0..=crate::plan::state::MAX_CHAINS {
        chains.push_str(&format!(":C{i} - [0:0]\n"));
    }
    chains.push_str("COMMIT\n");
    let e = IptablesState::parse(&chains).unwrap_err();
    assert_eq!(e.message, "more chains than dird reads from a namespace");
    // A deadline that has passed stops the parse.
    let past = std::time::Instant::now();
    assert!(IptablesState::parse_until(TASK_DOCKER, Some(past)).is_err());
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
                lbs: LbSource::Explicit(
                    octets
                        .iter()
                        .map(|o| LbEntry::Ip(Ipv4Addr::new(10, 0, 0, *o)))
                        .collect(),
                ),
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
    let lbs = cfg
        .lbs
        .assign(ing, &[], cfg.indexed_ids, cfg.id_encoding)
        .unwrap()
        .lbs;
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
    fn parsing_arbitrary_text_never_panics(text in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let text = String::from_utf8_lossy(&text);
        let _ = IptablesState::parse(&text);
    }

    #[test]
    fn every_rule_dird_renders_is_recognised_as_its_own((cfg, octets, _) in rule_config()) {
        let (lb, task) = plans(&cfg, &octets);
        for c in lb.iptables.chains.iter().chain(&task.iptables.chains) {
            for r in &c.rules {
                prop_assert!(
                    crate::plan::own_rules::is_own_rule(c.table, c.builtin, r),
                    "{:?} {} {}", c.table, c.builtin, r
                );
            }
        }
    }

    #[test]
    fn render_then_parse_gives_the_plan_back((cfg, octets, _) in rule_config()) {
        let (lb, task) = plans(&cfg, &octets);
        for plan in [&lb.iptables, &task.iptables] {
            let text = render_text(&render_sync(plan, &IptablesState::default()));
            let mut parsed = IptablesState::default();
            parsed.replay(&text).unwrap();
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
        let smaller = RuleConfig { lbs: LbSource::Explicit(cfg.lbs.given()[..keep].to_vec()), ..cfg.clone() };
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
    let ing = Ingress {
        subnet: "10.0.0.0/24".parse().unwrap(),
        node_ip: ip("10.0.0.2"),
    };
    let lbs = LbSource::Explicit(lb_list(&["10.0.0.2"]))
        .assign(ing, &[], false, IdEncoding::Tos)
        .unwrap()
        .lbs;
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
        "*security\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:SECMARK-X - [0:0]\n-A INPUT -j SECMARK-X\n-A SECMARK-X -j SECMARK --selctx system_u:object_r:x:s0\nCOMMIT\n{TASK_DOCKER}*bogus\n:NOTHING - [0:0]\n-A NOTHING -j ACCEPT\nCOMMIT\n"
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

// ---- nothing but dird's own text goes to iptables-restore ---------------------------------

/// Whether `line` of a batch for `table` is dird's own text: a table header, COMMIT, one of
/// dird's chains declared, flushed or deleted, a rule of dird's forms in its chain, or its
/// tagged jump / a rule of the original daemon's forms added, inserted or deleted in a
/// built-in chain.
fn is_dird_line(table: Table, line: &str) -> bool {
    use crate::plan::own_rules::{is_original_sbox_rule, is_own_rule};
    if line == "COMMIT" || line == table.header() {
        return true;
    }
    if let Some(decl) = line.strip_prefix(':') {
        return decl
            .strip_suffix(" - [0:0]")
            .is_some_and(|c| table.is_own_chain(c));
    }
    let mut words = line.splitn(3, ' ');
    let (cmd, chain, rest) = (words.next(), words.next(), words.next());
    let Some(chain) = chain else { return false };
    match (cmd, rest) {
        (Some("-F" | "-X"), None) => table.is_own_chain(chain),
        (Some("-A"), Some(r)) if table.is_own_chain(chain) => {
            is_own_rule(table, table.own_chain_builtin(chain).unwrap_or_default(), r)
        }
        (Some("-A" | "-D" | "-I"), Some(r)) if table.is_builtin(chain) => {
            let r = match cmd {
                Some("-I") => r
                    .split_once(' ')
                    .map(|(n, s)| {
                        if n.bytes().all(|b| b.is_ascii_digit()) {
                            s
                        } else {
                            r
                        }
                    })
                    .unwrap_or(r),
                _ => r,
            };
            let jump = r.rsplit_once(' ').is_some_and(|(_, c)| {
                table.is_own_chain(c) && r == crate::plan::iptables::jump_spec(c)
            });
            let legacy = crate::plan::legacy::task_rules()
                .iter()
                .any(|l| l.table == table && l.chain == chain && l.matches(r));
            jump || legacy || is_original_sbox_rule(table, chain, r)
        }
        _ => false,
    }
}

/// A namespace holding, besides Docker's rules, whatever a container with NET_ADMIN put there:
/// `DIRD-` chains of its own, rules in dird's chains, jumps that end like dird's.
fn hostile_state(docker: &str, junk: &[String]) -> IptablesState {
    let mut text = String::new();
    for (i, table) in ["raw", "mangle", "nat", "filter"].iter().enumerate() {
        text.push_str(&format!("*{table}\n"));
        let t = Table::from_name(table).unwrap();
        for b in t.builtins() {
            text.push_str(&format!(":{b} ACCEPT [0:0]\n"));
        }
        for c in [
            "DIRD-X",
            "DIRD-PREROUTING",
            "DIRD-POSTROUTING",
            "DIRD-OUTPUT",
        ] {
            text.push_str(&format!(":{c} - [0:0]\n"));
        }
        for (k, j) in junk.iter().enumerate() {
            let chain = [
                "DIRD-X",
                "DIRD-PREROUTING",
                "DIRD-POSTROUTING",
                "DIRD-OUTPUT",
            ][k % 4];
            let b = t.builtins()[(k + i) % t.builtins().len()];
            text.push_str(&format!("-A {chain} {j}\n-A {b} {j} -j {chain}\n"));
            text.push_str(&format!(
                "-A {b} -M /tmp/evil.sh -m comment --comment dird -j {chain}\n"
            ));
        }
        text.push_str("COMMIT\n");
    }
    let mut state = IptablesState::parse(&text).unwrap();
    let docker = IptablesState::parse(docker).unwrap();
    for (t, ts) in docker.tables {
        let mine = state.tables.entry(t).or_default();
        for (c, rules) in ts.chains {
            mine.chains.entry(c).or_default().extend(rules);
        }
    }
    state
}

#[test]
fn a_forged_jump_to_a_dird_chain_is_never_sent_back() {
    let state = hostile_state(TASK_DOCKER, &["-m comment --comment forged".to_string()]);
    let (lb, task) = plans(&base(), &[2, 3]);
    for plan in [
        &lb.iptables,
        &task.iptables,
        &crate::plan::lb_uninstall_plan(),
        &crate::plan::task_uninstall_plan().0,
    ] {
        let text = render_text(&render_sync(plan, &state));
        assert!(!text.contains("-M "), "{text}");
        assert!(!text.contains("forged"), "{text}");
        assert!(!text.contains("DIRD-X"), "{text}");
    }
}

proptest! {
    #[test]
    fn no_byte_of_foreign_rules_reaches_a_batch(
        (cfg, octets, _) in rule_config(),
        junk in proptest::collection::vec("[-a-zA-Z0-9 /.:!]{0,30}", 0..6),
        docker in any::<bool>(),
    ) {
        let junk: Vec<String> = junk
            .into_iter()
            .map(|j| j.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|j| !j.is_empty())
            .collect();
        let state = hostile_state(if docker { SBOX_DOCKER } else { TASK_DOCKER }, &junk);
        let (lb, task) = plans(&cfg, &octets);
        let uninstall = [crate::plan::lb_uninstall_plan(), crate::plan::task_uninstall_plan().0];
        for plan in [&lb.iptables, &task.iptables, &uninstall[0], &uninstall[1]] {
            let batches = render_sync(plan, &state);
            // Rolling back from the plan applied (on the model) to the hostile state.
            let mut after = state.clone();
            for b in &batches {
                let _ = after.replay(&b.text);
            }
            let tables: Vec<Table> = batches.iter().map(|b| b.table).collect();
            let back = crate::plan::render_restore(&state, &after, &tables, &plan.legacy);
            for b in batches.iter().chain(&back) {
                for line in b.text.lines() {
                    prop_assert!(is_dird_line(b.table, line), "not dird's: {:?} in\n{}", line, b.text);
                }
            }
        }
    }
}

#[test]
fn a_removal_takes_the_accept_away_before_its_stamp() {
    let (lb, _) = plans(&base(), &[2, 3]);
    let mut installed = IptablesState::parse(SBOX_DOCKER).unwrap();
    apply_all(
        &mut installed,
        &render_sync(&lb.iptables, &IptablesState::parse(SBOX_DOCKER).unwrap()),
    );
    let order: Vec<Table> = render_sync(&crate::plan::lb_uninstall_plan(), &installed)
        .iter()
        .map(|b| b.table)
        .collect();
    assert_eq!(order, [Table::Nat, Table::Raw, Table::Mangle]);
    // An install stamps first.
    let order: Vec<Table> = render_sync(&lb.iptables, &IptablesState::parse(SBOX_DOCKER).unwrap())
        .iter()
        .map(|b| b.table)
        .collect();
    assert_eq!(order, [Table::Raw, Table::Mangle, Table::Nat]);
}
