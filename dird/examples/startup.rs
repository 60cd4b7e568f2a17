//! Start-up on a busy node (root, host kernel): 500 running task namespaces, dird starting cold
//! (nothing installed) → all configured, with the daemon's own worker pool. Part of `just bench`.
//! Docker's listing of the containers is not included (no Docker here); what is measured is
//! dird's side: entering each namespace, reading it, applying the difference.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use dird::apply::{IptablesTools, TaskOutcome};
use dird::config::{Gateway, RuleConfig};
use dird::node::{default_workers, Node, TaskRef};
use dird::plan::Ingress;

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn make_ns(name: &str) -> bool {
    ip(&["netns", "add", name])
        && ip(&[
            "-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p",
        ])
        && ip(&["-n", name, "addr", "add", "10.0.0.200/16", "dev", "eth0"])
        && ip(&["-n", name, "link", "set", "eth0", "up"])
        && ip(&["-n", name, "link", "set", "eth0p", "up"])
}

/// `Slab:` of /proc/meminfo, in KiB.
fn slab_kib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("Slab:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "needs root (creates network namespaces)"
    );
    let count: usize = std::env::var("DIRD_BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let lbs: usize = std::env::var("DIRD_BENCH_LBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let names: Vec<String> = (0..count)
        .map(|i| format!("dirdstart-{}-{i}", std::process::id()))
        .collect();
    eprintln!("creating {count} task namespaces (not timed) …");
    std::thread::scope(|s| {
        for chunk in names.chunks(count.div_ceil(2).max(1)) {
            s.spawn(move || chunk.iter().all(|n| make_ns(n)));
        }
    });
    let tasks: Vec<TaskRef> = names
        .iter()
        .enumerate()
        .map(|(i, n)| TaskRef {
            id: format!("task{i}"),
            service: "web".into(),
            netns: PathBuf::from("/run/netns").join(n),
        })
        .collect();
    // A /16 ingress (indexed IDs) so that up to 255 load balancers fit.
    let gateways = (0..lbs)
        .map(|i| {
            Gateway::Ip(Ipv4Addr::new(
                10,
                0,
                1 + (i / 200) as u8,
                1 + (i % 200) as u8,
            ))
        })
        .collect();
    let rules = RuleConfig {
        gateways,
        performance: true,
        ..Default::default()
    };
    let ingress = Ingress {
        subnet: "10.0.0.0/16".parse().unwrap(),
        node_ip: Ipv4Addr::new(10, 0, 0, 250),
    };
    let node = Node::new(rules, ingress, Vec::new(), IptablesTools::default()).expect("valid");
    let workers = default_workers();
    let slab_before = slab_kib();
    let start = Instant::now();
    let results = node.sync_tasks(&tasks, workers);
    let took = start.elapsed();
    let slab_after = slab_kib();
    let ok = results
        .iter()
        .filter(|r| matches!(r, Ok(TaskOutcome::Applied { .. })))
        .count();
    let secs = took.as_secs_f64();
    println!(
        "| control | start-up: {count} running tasks ({lbs} LBs), cold → all configured, {workers} workers | {secs:.2} s ({:.0} tasks/s) | ≤ 5 s | {} |",
        ok as f64 / secs,
        if secs <= 5.0 && ok == count { "yes" } else { "NO" }
    );
    if let (Some(a), Some(b)) = (slab_before, slab_after) {
        println!(
            "| control | kernel memory (slab) per configured task at {lbs} LBs | {:.0} KiB | | |",
            (b.saturating_sub(a)) as f64 / count as f64
        );
    }
    for n in &names {
        let _ = Command::new("ip").args(["netns", "del", n]).status();
    }
    if ok != count {
        eprintln!(
            "some tasks failed: {:?}",
            results.iter().find(|r| r.is_err())
        );
        std::process::exit(1);
    }
}
