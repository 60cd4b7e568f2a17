//! Applying plans in real network namespaces (root; the host kernel is enough for tasks).

mod common;

use std::net::Ipv4Addr;

use common::Netns;
use dird::apply::{
    self, ApplyError, IptablesTools, NsPlan, Outcome, Step, SysctlRoot, TaskOutcome,
};
use dird::config::RuleConfig;
use dird::discovery::{LbEntry, LbSource};
use dird::node::{uninstall_task, Discovered, Node, TaskRef};
use dird::plan::{Ingress, IptablesPlan, OwnChain, PolicyRule, Route, RoutingPlan, Table};

/// An `iptables-restore` stand-in: a batch for `nat` first lets "another writer" append a
/// rule to `mangle PREROUTING`, then fails; every other batch goes to the real tool.
const FAILING_NAT_RESTORE: &str = r#"#!/bin/sh
input=$(cat)
case "$input" in
*'*nat'*)
    iptables -t mangle -A PREROUTING -s 192.0.2.99/32 -m comment --comment foreign -j ACCEPT
    echo "refused by the test" >&2
    exit 1
    ;;
esac
printf '%s\n' "$input" | iptables-restore "$@"
"#;

const FOREIGN_RULE: &str = "-A PREROUTING -s 192.0.2.99/32 -m comment --comment foreign -j ACCEPT";

fn chain(table: Table, builtin: &'static str, rules: &[&str]) -> OwnChain {
    OwnChain {
        table,
        builtin,
        rules: rules.iter().map(|r| r.to_string()).collect(),
    }
}

fn iptables_only(chains: Vec<OwnChain>) -> NsPlan {
    NsPlan {
        iptables: IptablesPlan::new(chains, Vec::new()),
        routing: None,
        sysctls: Vec::new(),
    }
}

/// [`apply::apply_ns`] with the sysctls below `/proc/sys` (the namespace's own, since the
/// thread that writes them is in it).
fn apply_ns(
    ns: &std::path::Path,
    target: &str,
    plan: &NsPlan,
    tools: &IptablesTools,
) -> Result<Outcome, ApplyError> {
    apply::apply_ns(ns, target, plan, tools, &SysctlRoot::default())
}

/// Docker's `nat PREROUTING` REDIRECT of a published UDP port to the task's server port.
fn redirect_udp(ns: &Netns, published: u16, target: u16) {
    let (published, target) = (published.to_string(), target.to_string());
    ns.exec(&[
        "iptables",
        "-t",
        "nat",
        "-A",
        "PREROUTING",
        "-d",
        "10.0.0.5/32",
        "-p",
        "udp",
        "-m",
        "udp",
        "--dport",
        &published,
        "-j",
        "REDIRECT",
        "--to-ports",
        &target,
    ]);
}

/// A second apply with load balancers 10.0.0.2 and 10.0.0.3 changes nothing, and uninstall
/// puts the namespace back to `before`.
fn reapply_changes_nothing_and_uninstall_is_exact(ns: &Netns, t: &TaskRef, before: &str) {
    let TaskOutcome::Applied { outcome, .. } =
        node(&["10.0.0.2", "10.0.0.3"]).sync_task(t).unwrap()
    else {
        panic!()
    };
    assert!(!outcome.changed(), "idempotent: {outcome:?}");
    uninstall_task(t, &IptablesTools::default()).unwrap();
    assert_eq!(ns.snapshot(), before);
}

fn udp_rule_lines(ns: &Netns) -> Vec<String> {
    ns.ip(&["rule"])
        .lines()
        .filter(|l| l.contains("ipproto udp"))
        .map(str::to_owned)
        .collect()
}

fn node(load_balancers: &[&str]) -> Node {
    let rules = RuleConfig {
        lbs: LbSource::Explicit(
            load_balancers
                .iter()
                .map(|g| LbEntry::Ip(g.parse().unwrap()))
                .collect(),
        ),
        performance: true,
        ..Default::default()
    };
    let ingress = Ingress {
        subnet: "10.0.0.0/24".parse().unwrap(),
        node_ip: Ipv4Addr::new(10, 0, 0, 9),
    };
    Node::build(&rules, ingress, &Discovered::default())
        .unwrap()
        .node
}

fn task_ref(ns: &Netns) -> TaskRef {
    TaskRef {
        id: "c0ffee".into(),
        service: "web".into(),
        netns: ns.path(),
    }
}

#[test]
fn task_install_is_idempotent_and_uninstall_is_exact() {
    let ns = Netns::task("task", "ingress7", "10.0.0.5/24");
    let before = ns.snapshot();
    let n = node(&["10.0.0.2", "10.0.0.3", "10.0.0.254"]);

    let first = n.sync_task(&task_ref(&ns)).unwrap();
    let TaskOutcome::Applied { interface, outcome } = first else {
        panic!("no interface found")
    };
    assert_eq!(interface, "ingress7", "found by address, whatever its name");
    assert!(outcome.changed());
    let rules = ns.ip(&["rule"]);
    assert!(
        rules.contains("32700:\tfrom 10.0.0.0/24 fwmark 0x20000/0xff0000 lookup 7002"),
        "{rules}"
    );
    assert!(rules.contains("lookup 7254"), "{rules}");
    let routes = ns.ip(&["route", "show", "table", "7003"]);
    assert_eq!(
        routes.trim(),
        "default via 10.0.0.3 dev ingress7 proto static"
    );
    assert_eq!(ns.sysctl("net.ipv4.conf.all.rp_filter"), "2");
    assert_eq!(ns.sysctl("net.ipv4.conf.ingress7.rp_filter"), "2");
    assert_eq!(ns.sysctl("net.ipv4.tcp_fwmark_accept"), "1");
    let save = ns.exec(&["iptables-save", "-t", "mangle"]);
    assert!(
        save.contains("-A PREROUTING -m comment --comment dird -j DIRD-PREROUTING"),
        "{save}"
    );
    assert!(
        save.contains("-A DIRD-PREROUTING ! -i ingress7 -j RETURN"),
        "{save}"
    );
    // main, local and default tables untouched by an LB at .254.
    assert_eq!(
        ns.ip(&["route", "show", "table", "main"]),
        Netns::task("cmp", "ingress7", "10.0.0.5/24").ip(&["route", "show", "table", "main"])
    );

    let again = n.sync_task(&task_ref(&ns)).unwrap();
    assert_eq!(
        again,
        TaskOutcome::Applied {
            interface: "ingress7".into(),
            outcome: Default::default()
        },
        "second apply changes nothing"
    );

    uninstall_task(&task_ref(&ns), &IptablesTools::default()).unwrap();
    assert_eq!(ns.snapshot(), before);
}

#[test]
fn udp_servers_get_source_rules_and_uninstall_removes_them() {
    let ns = Netns::task("udp", "eth0", "10.0.0.5/24");
    // Docker's port remap for a published 5353/udp → 53 (what tells dird the UDP server port).
    redirect_udp(&ns, 5353, 53);
    let before = ns.snapshot();
    let t = task_ref(&ns);
    node(&["10.0.0.2", "10.0.0.3"]).sync_task(&t).unwrap();
    let rules = ns.ip(&["rule"]);
    assert!(
        rules.contains(
            "32698:\tfrom all iif lo ipproto udp sport 53 lookup main suppress_prefixlength 0"
        ),
        "{rules}"
    );
    assert!(
        rules.contains("32699:\tfrom all iif lo ipproto udp sport 53 lookup 7000"),
        "{rules}"
    );
    assert_eq!(
        ns.ip(&["route", "show", "table", "7000"]).trim(),
        "default via 10.0.0.2 dev eth0 proto static src 10.0.0.5"
    );
    // What a reply of a server bound to 0.0.0.0:53 to an internet client gets as source:
    let got = ns.ip(&[
        "route",
        "get",
        "203.0.113.7",
        "from",
        "0.0.0.0",
        "ipproto",
        "udp",
        "sport",
        "53",
    ]);
    assert!(got.contains("src 10.0.0.5"), "{got}");
    // A peer on the gwbridge keeps its direct path.
    let got = ns.ip(&[
        "route",
        "get",
        "172.18.0.9",
        "ipproto",
        "udp",
        "sport",
        "53",
    ]);
    assert!(
        got.contains("dev gw0") && got.contains("src 172.18.0.3"),
        "{got}"
    );
    reapply_changes_nothing_and_uninstall_is_exact(&ns, &t, &before);
}

#[test]
fn a_changed_load_balancer_list_is_reconciled_in_place() {
    let ns = Netns::task("recfg", "eth0", "10.0.0.5/24");
    node(&["10.0.0.2", "10.0.0.3"])
        .sync_task(&task_ref(&ns))
        .unwrap();
    let TaskOutcome::Applied { outcome, .. } = node(&["10.0.0.3", "10.0.0.4"])
        .sync_task(&task_ref(&ns))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        outcome.iptables_batches, 0,
        "task chains do not depend on the LB list"
    );
    assert_eq!(
        outcome.routing_changes, 4,
        "one rule and one route out, one of each in"
    );
    let rules = ns.ip(&["rule"]);
    assert!(
        !rules.contains("lookup 7002") && rules.contains("lookup 7004"),
        "{rules}"
    );
    assert!(ns.ip(&["route", "show", "table", "7002"]).is_empty());
}

#[test]
fn a_task_off_the_ingress_is_skipped() {
    let ns = Netns::task("off", "eth0", "10.1.0.5/24");
    assert_eq!(
        node(&["10.0.0.2"]).sync_task(&task_ref(&ns)).unwrap(),
        TaskOutcome::NoIngressInterface
    );
}

#[test]
fn a_refused_rule_rolls_back_every_table() {
    let ns = Netns::task("rollback", "eth0", "10.0.0.5/24");
    let before = ns.snapshot();
    let plan = NsPlan {
        iptables: IptablesPlan::new(
            vec![
                OwnChain {
                    table: Table::Raw,
                    builtin: "PREROUTING",
                    rules: vec!["-j CT --notrack".into()],
                },
                OwnChain {
                    table: Table::Mangle,
                    builtin: "POSTROUTING",
                    rules: vec!["-j TOS --set-tos 0x02/0xff".into()],
                },
                OwnChain {
                    table: Table::Nat,
                    builtin: "POSTROUTING",
                    rules: vec!["-m no-such-match -j ACCEPT".into()],
                },
            ],
            Vec::new(),
        ),
        routing: None,
        sysctls: Vec::new(),
    };
    let err = apply_ns(
        &ns.path(),
        "ingress_sbox test",
        &plan,
        &IptablesTools::default(),
    )
    .unwrap_err();
    assert_eq!(err.step, Step::WriteIptables(Table::Nat));
    assert!(
        err.to_string()
            .starts_with("ingress_sbox test: applying iptables table nat"),
        "{err}"
    );
    assert!(err.rollback_failure.is_none(), "{err}");
    assert_eq!(ns.snapshot(), before);
}

/// The apply's deadline passes while its last table hangs: the tables done before it are still
/// rolled back, under a deadline of the rollback's own.
#[test]
fn a_rollback_after_the_deadline_still_runs() {
    use std::os::unix::fs::PermissionsExt;
    let ns = Netns::task("latefail", "eth0", "10.0.0.5/24");
    let before = ns.snapshot();
    let dir = std::env::temp_dir().join(format!("dird-late-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch");
    let sleeper = dir.join("dirdlatesleep");
    std::fs::copy("/bin/sleep", &sleeper).expect("sleep");
    // iptables-restore, except that a batch for the nat table hangs.
    let wrapper = dir.join("restore");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ninput=$(cat)\ncase \"$input\" in *'*nat'*) exec {} 3600 ;; esac\nprintf '%s\\n' \"$input\" | exec iptables-restore \"$@\"\n",
            sleeper.display()
        ),
    )
    .expect("wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let tools = IptablesTools {
        save: "iptables-save".into(),
        restore: wrapper.display().to_string(),
        wait: None,
        deadline: Some(std::time::Instant::now() + std::time::Duration::from_secs(2)),
    };
    let plan = iptables_only(vec![
        chain(Table::Raw, "PREROUTING", &["-j CT --notrack"]),
        chain(
            Table::Mangle,
            "POSTROUTING",
            &["-d 10.0.0.0/24 -j TOS --set-tos 0x02/0xff"],
        ),
        chain(
            Table::Nat,
            "POSTROUTING",
            &["-d 10.0.0.0/24 -m ipvs --ipvs -j ACCEPT"],
        ),
    ]);
    let err = apply_ns(&ns.path(), "ingress_sbox test", &plan, &tools).unwrap_err();
    assert_eq!(err.step, Step::WriteIptables(Table::Nat));
    assert!(err.rollback_failure.is_none(), "{err}");
    assert_eq!(ns.snapshot(), before, "raw and mangle were not rolled back");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_refused_route_rolls_back_rules_routes_and_iptables() {
    let ns = Netns::task("rtfail", "eth0", "10.0.0.5/24");
    let before = ns.snapshot();
    let subnet = "10.0.0.0/24".parse().unwrap();
    let good = Route {
        table: 7002,
        gateway: Ipv4Addr::new(10, 0, 0, 2),
        dev: "eth0".into(),
        src: None,
    };
    let bad = Route {
        table: 7003,
        gateway: Ipv4Addr::new(192, 0, 2, 1),
        dev: "eth0".into(),
        src: None,
    };
    let plan = NsPlan {
        iptables: IptablesPlan::new(
            vec![OwnChain {
                table: Table::Mangle,
                builtin: "OUTPUT",
                rules: vec!["-p tcp -j ACCEPT".into()],
            }],
            Vec::new(),
        ),
        routing: Some(RoutingPlan {
            rules: vec![PolicyRule {
                priority: 32700,
                from: subnet,
                fwmark: 0x20000,
                mask: 0xff0000,
                table: 7002,
            }],
            routes: vec![good, bad],
            udp_rules: Vec::new(),
        }),
        sysctls: Vec::new(),
    };
    let err = apply_ns(&ns.path(), "container x", &plan, &IptablesTools::default()).unwrap_err();
    assert_eq!(err.step, Step::WriteRouting);
    assert!(err.to_string().contains("192.0.2.1"), "{err}");
    assert_eq!(ns.snapshot(), before);
}

#[test]
fn a_vanished_namespace_is_named() {
    let n = node(&["10.0.0.2"]);
    let t = TaskRef {
        id: "gone".into(),
        service: "web".into(),
        netns: "/proc/999999999/ns/net".into(),
    };
    let err = n.sync_task(&t).unwrap_err();
    assert_eq!(err.step, Step::EnterNamespace);
    assert!(
        err.to_string()
            .contains("container gone (service web, netns /proc/999999999/ns/net)"),
        "{err}"
    );
}

#[test]
fn uninstall_removes_the_original_daemons_task_rules() {
    let ns = Netns::task("legacy", "eth0", "10.0.0.5/24");
    let before = ns.snapshot();
    // Exactly what docker-ingress-routing-daemon v4.3.0 runs in a container.
    let lbs = [
        (2, Ipv4Addr::new(10, 0, 0, 2), 2),
        (3, Ipv4Addr::new(10, 0, 0, 3), 3),
    ];
    for argv in common::original_task_commands("10.0.0.0/24", "eth0", &lbs) {
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        ns.exec(&args);
    }
    assert_ne!(ns.snapshot(), before);
    uninstall_task(&task_ref(&ns), &IptablesTools::default()).unwrap();
    assert_eq!(ns.snapshot(), before);
}

#[test]
fn a_rollback_keeps_what_another_writer_added_meanwhile() {
    let ns = Netns::task("foreign", "eth0", "10.0.0.5/24");
    let tools = IptablesTools::default();
    let first = iptables_only(vec![
        chain(
            Table::Raw,
            "PREROUTING",
            &["-p udp -m multiport --dports 53 -j CT --notrack"],
        ),
        chain(
            Table::Mangle,
            "POSTROUTING",
            &["-d 10.0.0.0/24 -j TOS --set-tos 0x02/0xff"],
        ),
    ]);
    apply_ns(&ns.path(), "ns", &first, &tools).unwrap();
    let before = ns.snapshot();

    // raw: chain removed; mangle: chain refilled and one more chain; nat: refused.
    let second = iptables_only(vec![
        chain(
            Table::Mangle,
            "POSTROUTING",
            &["-d 10.0.0.0/24 -j TOS --set-tos 0x03/0xff"],
        ),
        chain(Table::Mangle, "OUTPUT", &["-p tcp -j ACCEPT"]),
        chain(Table::Nat, "POSTROUTING", &["-j ACCEPT"]),
    ]);
    let wrapper = std::env::temp_dir().join(format!("dird-failing-restore-{}", std::process::id()));
    std::fs::write(&wrapper, FAILING_NAT_RESTORE).unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let failing = IptablesTools {
        restore: wrapper.display().to_string(),
        ..IptablesTools::default()
    };
    let err = apply_ns(&ns.path(), "ns", &second, &failing).unwrap_err();
    let _ = std::fs::remove_file(&wrapper);
    assert_eq!(err.step, Step::WriteIptables(Table::Nat), "{err}");
    assert!(err.rollback_failure.is_none(), "{err}");

    let mangle = ns.exec(&["iptables-save", "-t", "mangle"]);
    assert!(
        mangle.contains(FOREIGN_RULE),
        "the other writer's rule survives: {mangle}"
    );
    ns.exec(&[
        "iptables",
        "-t",
        "mangle",
        "-D",
        "PREROUTING",
        "-s",
        "192.0.2.99/32",
        "-m",
        "comment",
        "--comment",
        "foreign",
        "-j",
        "ACCEPT",
    ]);
    assert_eq!(ns.snapshot(), before, "dird's chains and jumps are back");
}

#[test]
fn a_failing_sysctl_d_line_is_skipped_and_the_rest_applied() {
    let ns = Netns::new("sysctld");
    let dir = std::env::temp_dir().join(format!("dird-sysctl-d-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("conntrack.conf"),
        "net.nf_conntrack_max = 262144\nnet.ipv4.no_such_dird_key = 1\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("ipvs.conf"),
        "net.ipv4.ip_local_port_range = 20000 60000\nnet.ipv4.tcp_keepalive_time = 600\n",
    )
    .unwrap();
    let files = dird::sysctl_files::read_sbox_files(&dir).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let plan = NsPlan {
        sysctls: files,
        ..NsPlan::default()
    };
    let tools = IptablesTools::default();
    let outcome = apply_ns(&ns.path(), "ingress_sbox test", &plan, &tools).unwrap();
    assert_eq!(outcome.sysctls_written, 2, "{outcome:?}");
    assert_eq!(ns.sysctl("net.ipv4.ip_local_port_range"), "20000\t60000");
    assert_eq!(ns.sysctl("net.ipv4.tcp_keepalive_time"), "600");
    let again = apply_ns(&ns.path(), "ingress_sbox test", &plan, &tools).unwrap();
    assert!(
        !again.changed(),
        "values already right are not written: {again:?}"
    );
}

#[test]
fn served_udp_port_ranges_get_one_pair_of_rules() {
    let ns = Netns::task("udprange", "eth0", "10.0.0.5/24");
    for port in 10000..=10002 {
        redirect_udp(&ns, port, port);
    }
    redirect_udp(&ns, 5353, 53);
    let before = ns.snapshot();
    let t = task_ref(&ns);
    node(&["10.0.0.2", "10.0.0.3"]).sync_task(&t).unwrap();
    assert_eq!(
        udp_rule_lines(&ns),
        [
            "32698:\tfrom all iif lo ipproto udp sport 53 lookup main suppress_prefixlength 0",
            "32698:\tfrom all iif lo ipproto udp sport 10000-10002 lookup main suppress_prefixlength 0",
            "32699:\tfrom all iif lo ipproto udp sport 53 lookup 7000",
            "32699:\tfrom all iif lo ipproto udp sport 10000-10002 lookup 7000",
        ]
    );
    let got = ns.ip(&[
        "route",
        "get",
        "203.0.113.7",
        "from",
        "0.0.0.0",
        "ipproto",
        "udp",
        "sport",
        "10001",
    ]);
    assert!(got.contains("src 10.0.0.5"), "{got}");
    reapply_changes_nothing_and_uninstall_is_exact(&ns, &t, &before);
}

#[test]
fn one_port_rules_of_an_older_dird_are_replaced_and_uninstalled() {
    let ns = Netns::task("udpold", "eth0", "10.0.0.5/24");
    for port in 10000..=10001 {
        redirect_udp(&ns, port, port);
    }
    let before = ns.snapshot();
    let older = |ns: &Netns| {
        for port in ["10000", "10001"] {
            ns.ip(&[
                "rule",
                "add",
                "iif",
                "lo",
                "ipproto",
                "udp",
                "sport",
                port,
                "lookup",
                "main",
                "suppress_prefixlength",
                "0",
                "priority",
                "32698",
            ]);
            ns.ip(&[
                "rule", "add", "iif", "lo", "ipproto", "udp", "sport", port, "lookup", "7000",
                "priority", "32699",
            ]);
        }
    };
    older(&ns);
    let t = task_ref(&ns);
    node(&["10.0.0.2"]).sync_task(&t).unwrap();
    assert_eq!(
        udp_rule_lines(&ns),
        [
            "32698:\tfrom all iif lo ipproto udp sport 10000-10001 lookup main suppress_prefixlength 0",
            "32699:\tfrom all iif lo ipproto udp sport 10000-10001 lookup 7000",
        ]
    );
    older(&ns);
    uninstall_task(&t, &IptablesTools::default()).unwrap();
    assert_eq!(ns.snapshot(), before);
}

#[test]
fn a_table_dird_does_not_know_is_left_alone() {
    let ns = Netns::task("security", "eth0", "10.0.0.5/24");
    ns.exec(&[
        "iptables",
        "-t",
        "security",
        "-A",
        "INPUT",
        "-s",
        "192.0.2.1/32",
        "-j",
        "ACCEPT",
    ]);
    let before = ns.snapshot();
    let t = task_ref(&ns);
    node(&["10.0.0.2"]).sync_task(&t).unwrap();
    let security = ns.exec(&["iptables-save", "-t", "security"]);
    assert!(
        security.contains("-A INPUT -s 192.0.2.1/32 -j ACCEPT"),
        "{security}"
    );
    uninstall_task(&t, &IptablesTools::default()).unwrap();
    assert_eq!(ns.snapshot(), before);
}

#[test]
fn another_tools_udp_rule_at_dirds_priority_is_left_alone() {
    let ns = Netns::task("udpforeign", "eth0", "10.0.0.5/24");
    redirect_udp(&ns, 5353, 53);
    // Another tool's rule at dird's UDP priority: not `iif lo`, not dird's table.
    ns.ip(&[
        "rule", "add", "iif", "eth0", "ipproto", "udp", "sport", "53", "lookup", "100", "priority",
        "32699",
    ]);
    let before = ns.snapshot();
    let t = task_ref(&ns);
    node(&["10.0.0.2"]).sync_task(&t).unwrap();
    node(&["10.0.0.2"]).sync_task(&t).unwrap();
    let foreign = "32699:\tfrom all iif eth0 ipproto udp sport 53 lookup 100";
    assert!(ns.ip(&["rule"]).contains(foreign), "{}", ns.ip(&["rule"]));
    uninstall_task(&t, &IptablesTools::default()).unwrap();
    assert_eq!(ns.snapshot(), before);
}
