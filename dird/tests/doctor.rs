//! `dird doctor` against a fake Engine, with throwaway namespaces (root) as the ingress sandbox
//! and as a task's sandbox (bind-mounted where Docker keeps them): each check that can find a
//! problem is shown finding it, and a namespace doctor looked into is shown unchanged.
//! No test sets the environment: the Engine's socket and the iptables override are given.

mod common;
#[path = "common/fake_engine.rs"]
mod fake_engine;

use std::path::PathBuf;
use std::process::Command;

use common::{Mounted, Netns};
use dird::apply::backend::Override;
use dird::apply::IptablesTools;
use dird::commands::doctor::{run, DoctorInput, KernelFiles, Report};
use dird::config::{RuleArgs, RuleConfig};
use dird::docker::DockerClient;
use fake_engine::{Container, FakeEngine, Role, Spec};

/// The system's tools, whatever Docker rules this test host holds in either backend.
fn system_tools() -> Override {
    Override {
        save: Some("iptables-save".into()),
        restore: Some("iptables-restore".into()),
    }
}

/// Doctor's input for `--ingress-gateway-ips <lbs>` (and the legacy variable `legacy`).
fn input(lbs: &[&str], legacy: Option<&str>, sbox: PathBuf) -> DoctorInput {
    let args = RuleArgs {
        ingress_gateway_ips: lbs.iter().map(|s| s.to_string()).collect(),
        ..RuleArgs::default()
    };
    DoctorInput {
        rules: RuleConfig::from_args(&args, legacy).expect("valid flags"),
        sbox,
        over: system_tools(),
        kernel: KernelFiles::default(),
    }
}

/// Doctor's report on a node the fake Engine `spec` describes.
fn doctor(spec: Spec, input: &DoctorInput) -> Report {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let engine = {
        let _inside = rt.enter();
        FakeEngine::start(spec)
    };
    rt.block_on(async {
        let client = DockerClient::connect_socket(engine.socket())
            .await
            .map_err(|e| e.to_string());
        run(input, client).await
    })
}

/// A swarm manager with no container.
fn bare_node() -> Spec {
    Spec {
        containers: Vec::new(),
        ..Spec::engine_29()
    }
}

/// `iptables` (the `program` of a backend) inside `ns`, with the rule's words from `rule`.
fn iptables(ns: &Netns, program: &str, rule: &str) {
    let mut args = vec![program];
    args.extend(rule.split(' '));
    ns.exec(&args);
}

fn no_sbox() -> PathBuf {
    PathBuf::from("/nonexistent/ingress_sbox")
}

#[track_caller]
fn assert_line(report: &Report, prefix: &str, needle: &str) {
    let text = report.render();
    assert!(
        text.lines()
            .any(|l| l.starts_with(prefix) && l.contains(needle)),
        "no {prefix:?} line with {needle:?} in:\n{text}"
    );
}

#[test]
fn a_node_outside_a_swarm_and_without_an_ingress_sandbox() {
    let spec = Spec {
        role: Role::NotInSwarm,
        containers: Vec::new(),
        ..Spec::engine_29()
    };
    let report = doctor(spec, &input(&["10.0.0.2"], None, no_sbox()));
    assert_line(
        &report,
        "FINDING: ",
        "this node is not in a swarm (Docker reports Swarm.LocalNodeState \"inactive\")",
    );
    assert_line(
        &report,
        "FINDING: ",
        "the ingress sandbox /nonexistent/ingress_sbox is missing",
    );
    assert_line(&report, "skipped: ", "no ingress network");
    assert!(report
        .render()
        .ends_with(&format!("{} finding(s)\n", report.findings())));
}

#[test]
fn load_balancer_addresses_are_checked_against_the_swarm() {
    let spec = bare_node();
    // The gateway through the legacy variable, the others through the flag.
    let lbs = ["172.18.0.5,10.9.9.9", "10.0.0.7 10.0.0.3"];
    let report = doctor(spec, &input(&lbs, Some("10.0.0.1"), no_sbox()));
    assert_line(&report, "FINDING: ", "--ingress-gateway-ips 10.0.0.1 is the ingress network's gateway, not a node's ingress_sbox address; fix: give the sbox addresses `dird lbs` lists");
    assert_line(
        &report,
        "FINDING: ",
        "--ingress-gateway-ips 172.18.0.5 is inside docker_gwbridge's subnet 172.18.0.0/16",
    );
    assert_line(
        &report,
        "FINDING: ",
        "--ingress-gateway-ips 10.9.9.9 is outside the ingress subnet 10.0.0.0/24",
    );
    assert_line(&report, "FINDING: ", "--ingress-gateway-ips 10.0.0.7 is not any node's ingress_sbox address in the swarm's view (10.0.0.2, 10.0.0.3)");
    assert_line(
        &report,
        "ok: ",
        "--ingress-gateway-ips 10.0.0.3 is a node's ingress_sbox address",
    );
    assert_line(
        &report,
        "FINDING: ",
        "this node's ingress_sbox address 10.0.0.2 is not in --ingress-gateway-ips",
    );
    let text = report.render();
    assert!(
        !text.contains("the daemon refuses this configuration"),
        "outside the subnet is said once:\n{text}"
    );

    let report = doctor(bare_node(), &input(&["10.0.0.2,10.0.0.3"], None, no_sbox()));
    assert_line(
        &report,
        "ok: ",
        "this node's ingress_sbox address 10.0.0.2 is one of the load balancers",
    );
    assert_line(
        &report,
        "ok: ",
        "no running service task for dird on this node",
    );
    assert!(!report
        .render()
        .contains("ingress-gateway-ips 10.0.0.2 is not"));
}

#[test]
fn auto_names_the_nodes_it_gives() {
    let args = RuleArgs {
        ingress_gateway_ips: vec!["auto".into()],
        load_balancer_hosts: vec!["192.0.2.2".into()],
        ..RuleArgs::default()
    };
    let input = DoctorInput {
        rules: RuleConfig::from_args(&args, None).expect("valid flags"),
        ..input(&[], None, no_sbox())
    };
    let report = doctor(bare_node(), &input);
    assert_line(&report, "FINDING: ", "with auto, the load balancers are the nodes whose underlay address matches --load-balancer-hosts: 10.0.0.3; this node (10.0.0.2) is not one of them; fix: if this node receives public traffic, add its underlay address 192.0.2.1 to --load-balancer-hosts");
}

#[test]
fn the_binary_exits_2_on_malformed_input_and_1_with_findings() {
    let dird = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dird"))
            .args(args)
            .env_remove("INGRESS_NODE_GATEWAY_IPS")
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .output()
            .expect("run dird")
    };
    let out = dird(&["doctor", "--ingress-gateway-ips", "10.0.0.300"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        "dird: invalid IPv4 address \"10.0.0.300\" in --ingress-gateway-ips"
    );
    assert!(out.stdout.is_empty());

    let out = dird(&["doctor", "--ingress-gateway-ips", "10.0.0.2"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("FINDING: cannot reach the Docker Engine: "),
        "{text}"
    );
    assert!(
        text.trim_end()
            .lines()
            .last()
            .is_some_and(|l| l.ends_with(" finding(s)")),
        "{text}"
    );
}

/// Kernel files for the IPVS checks: `ip_vs` as the IPVS table's path inside the sbox, and a
/// scratch folder whose match list holds `matches`, with an empty module folder.
fn kernel(dir: &std::path::Path, ip_vs: &str, matches: &str) -> KernelFiles {
    std::fs::create_dir_all(dir.join("modules")).expect("scratch dir");
    std::fs::write(dir.join("ip_tables_matches"), matches).expect("matches");
    KernelFiles {
        ip_vs: PathBuf::from(ip_vs),
        ip_tables_matches: dir.join("ip_tables_matches"),
        xt_ipvs_module: dir.join("no-such-module"),
        modules_dir: dir.join("modules"),
    }
}

#[test]
fn ipvs_and_xt_ipvs_are_looked_for_in_the_sandbox_and_the_kernel() {
    let sbox = Netns::new("doc-ipvs");
    let dir = std::env::temp_dir().join(format!("dird-doctor-{}", std::process::id()));
    let missing = DoctorInput {
        kernel: kernel(
            &dir,
            "/proc/thread-self/net/dird-no-ip_vs",
            "u32\nconntrack\n",
        ),
        ..input(&["10.0.0.2"], None, sbox.path())
    };
    let report = doctor(bare_node(), &missing);
    assert_line(&report, "ok: ", "the ingress sandbox exists");
    assert_line(
        &report,
        "FINDING: ",
        "IPVS is not available in ingress_sbox",
    );
    assert_line(
        &report,
        "FINDING: ",
        "the xt_ipvs match (-m ipvs) is not available",
    );
    // `dev` is in every namespace's /proc/net.
    let present = DoctorInput {
        kernel: kernel(&dir, "/proc/thread-self/net/dev", "u32\nipvs\n"),
        ..input(&["10.0.0.2"], None, sbox.path())
    };
    let report = doctor(bare_node(), &present);
    assert_line(&report, "ok: ", "IPVS is loaded");
    assert_line(&report, "ok: ", "the xt_ipvs match (-m ipvs) is registered");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_override_of_the_other_backend_than_dockers_is_found() {
    let sbox = Netns::new("doc-backend");
    // Docker's ingress MARK rule, through the nft backend only.
    iptables(
        &sbox,
        "iptables-nft",
        "-t mangle -A PREROUTING -p tcp --dport 8080 -j MARK --set-xmark 0x100/0xffffffff",
    );
    let legacy = DoctorInput {
        over: Override {
            save: Some("iptables-legacy-save".into()),
            restore: Some("iptables-legacy-restore".into()),
        },
        ..input(&["10.0.0.2"], None, sbox.path())
    };
    let report = doctor(bare_node(), &legacy);
    assert_line(&report, "FINDING: ", "DIRD_IPTABLES_SAVE=iptables-legacy-save is legacy and DIRD_IPTABLES_RESTORE=iptables-legacy-restore is legacy, but Docker's rules are in iptables-nft-save only");
    let detected = DoctorInput {
        over: Override::default(),
        ..legacy
    };
    let report = doctor(bare_node(), &detected);
    assert_line(&report, "ok: ", "iptables backend: nft (Docker's rules found in iptables-nft-save only: ingress_sbox MARK rules in mangle");
}

#[test]
fn dockers_rules_in_both_backends_are_found() {
    let sbox = Netns::new("doc-both");
    for program in ["iptables-nft", "iptables-legacy"] {
        let mark =
            "-t mangle -A PREROUTING -p tcp --dport 8080 -j MARK --set-xmark 0x100/0xffffffff";
        iptables(&sbox, program, mark);
    }
    let detected = DoctorInput {
        over: Override::default(),
        ..input(&["10.0.0.2"], None, sbox.path())
    };
    let report = doctor(bare_node(), &detected);
    assert_line(&report, "FINDING: ", "dird cannot use Docker's iptables backend: cannot tell which iptables backend dockerd uses: Docker's ingress_sbox rules are in both iptables-nft-save");
}

#[test]
fn an_engine_on_native_nftables_is_found_with_the_fix() {
    // No Docker rule in the sbox in either backend (nor on this test host, where dockerd never
    // runs), and the Engine says its firewall is nftables.
    let sbox = Netns::new("doc-nft");
    let detected = DoctorInput {
        over: Override::default(),
        ..input(&["10.0.0.2"], None, sbox.path())
    };
    let spec = Spec {
        firewall: Some("nftables"),
        ..bare_node()
    };
    let report = doctor(spec, &detected);
    assert_line(&report, "FINDING: ", "firewall backend is nftables");
    let text = report.render();
    assert!(
        text.contains(r#"set "firewall-backend": "iptables" in /etc/docker/daemon.json"#),
        "{text}"
    );
}

const TASK_KEY: &str = "/run/docker/netns/d0c7a5c0ffee";
const TASK_ID: &str = "d0c7a5c0ffee0123456789abcdef0123456789abcdef0123456789abcdef0123";

#[test]
fn tasks_without_dirds_rules_with_the_originals_or_strict_rp_filter_are_found_and_left_as_they_are()
{
    let sbox = Netns::new("doc-sbox");
    // The original daemon's notrack rule in the sbox.
    iptables(
        &sbox,
        "iptables",
        "-t raw -A PREROUTING -p tcp --dport 8080 -j CT --notrack",
    );
    let task = Mounted::new(Netns::task("doc-task", "eth0", "10.0.0.7/24"), TASK_KEY);
    let spec = || Spec {
        containers: vec![Container {
            id: TASK_ID,
            name: "web.1.2h4j6l8n0q2s4u6w8y0a2c4e6",
            running: true,
            pid: 6161,
            task: Some(("web", 1, "2h4j6l8n0q2s4u6w8y0a2c4e6")),
            network_mode: "default",
            sandbox_key: TASK_KEY,
        }],
        ..Spec::engine_29()
    };
    let input = input(&["10.0.0.2,10.0.0.3"], None, sbox.path());
    let name = "task d0c7a5c0ffee (service web)";

    let before = (
        task.ns.snapshot(),
        sbox.snapshot(),
        task.ns.sysctl("net.ipv4.conf.eth0.rp_filter"),
    );
    let report = doctor(spec(), &input);
    assert_line(&report, "FINDING: ", &format!("{name}: dird's rules are missing or out of date (iptables table(s) mangle to change; 4 policy rule(s)/route(s) to add, 0 to remove)"));
    assert_line(&report, "FINDING: ", "ingress_sbox still holds the original daemon's rules (raw PREROUTING: -p tcp -m tcp --dport 8080 -j CT --notrack)");
    let after = (
        task.ns.snapshot(),
        sbox.snapshot(),
        task.ns.sysctl("net.ipv4.conf.eth0.rp_filter"),
    );
    assert_eq!(after, before, "doctor changed a namespace");

    // Configured by the daemon's own code: nothing to say about the task.
    let tools = IptablesTools {
        save: "iptables-save".into(),
        restore: "iptables-restore".into(),
        wait: None,
        deadline: None,
    };
    let ingress = dird::plan::Ingress {
        subnet: "10.0.0.0/24".parse().expect("subnet"),
        node_ip: "10.0.0.2".parse().expect("ip"),
    };
    let discovered = dird::node::Discovered {
        tools,
        ..Default::default()
    };
    let node = dird::node::Node::build(&input.rules, ingress, &discovered)
        .expect("node")
        .node;
    let t = dird::node::TaskRef {
        id: TASK_ID[..12].into(),
        service: "web".into(),
        netns: PathBuf::from(TASK_KEY),
    };
    node.sync_task(&t).expect("configure the task");
    let report = doctor(spec(), &input);
    assert_line(&report, "ok: ", &format!("{name}: dird's rules in place, none of the original daemon's rules, rp_filter not strict (ingress interface eth0)"));

    // The original daemon's rules for load balancer 10.0.0.5 (as it installs them), and strict
    // rp_filter on the ingress interface.
    let lb5 = [(5, "10.0.0.5".parse().expect("ip"), 5)];
    for argv in common::original_task_commands("10.0.0.0/24", "eth0", &lb5) {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        task.ns.exec(&argv);
    }
    task.ns
        .exec(&["sysctl", "-q", "-w", "net.ipv4.conf.eth0.rp_filter=1"]);
    let report = doctor(spec(), &input);
    let legacy = format!("{name}: the original daemon's rules are still there (mangle OUTPUT: -m comment --comment docker-ingress-routing-daemon; ");
    assert_line(&report, "FINDING: ", &legacy);
    assert_line(&report, "FINDING: ", "mangle PREROUTING: -m tos --tos 0x05/0xff -j CONNMARK --set-xmark 0x5/0xffffffff; rule from 10.0.0.0/24 fwmark 0x5 lookup 5 priority 32700)");
    assert_line(
        &report,
        "FINDING: ",
        &format!("{name}: strict reverse-path filtering (net.ipv4.conf.eth0.rp_filter=1)"),
    );
    assert!(
        !report.render().contains("out of date"),
        "the original's rules are not dird's drift:\n{}",
        report.render()
    );

    // --services leaves other services' tasks alone.
    let only_api = DoctorInput {
        rules: RuleConfig {
            services: vec!["api".into()],
            ..input.rules.clone()
        },
        ..input.clone()
    };
    let report = doctor(spec(), &only_api);
    assert!(!report.render().contains(name), "{}", report.render());
}
