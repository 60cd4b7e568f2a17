//! Per-task apply latency on the host kernel (root): dird's batched apply versus the original
//! daemon's one-process-per-rule method, for 1, 16, 64 and 255 load balancers. Part of
//! `just bench`; prints a table.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{bench_node, lb_ip, original_task_commands, run, Netns};
use dird::node::TaskRef;

/// The original daemon's way: one nsenter + iptables/ip/sysctl process per rule.
fn per_process(ns: &Netns, lbs: usize) {
    let net = format!("--net={}", ns.path().display());
    let lb_list: Vec<(u32, std::net::Ipv4Addr, u32)> = (0..lbs)
        .map(|i| (1 + i as u32, lb_ip(i), 1000 + i as u32))
        .collect();
    for argv in original_task_commands("10.0.0.0/16", "eth0", &lb_list) {
        let mut v = vec!["nsenter", net.as_str()];
        v.extend(argv.iter().map(String::as_str));
        run(&v);
    }
}

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p99 = v[((v.len() as f64 * 0.99).ceil() as usize)
        .saturating_sub(1)
        .min(v.len() - 1)];
    (ms(v[v.len() / 2]), ms(p99))
}

fn main() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "needs root (creates network namespaces)"
    );
    let runs: usize = std::env::var("DIRD_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    eprintln!("per-task apply latency: fresh task namespace, {runs} runs each (original method: fewer runs)");
    for lbs in [1usize, 16, 64, 255] {
        let n = bench_node(lbs);
        let mut ours = Vec::new();
        for i in 0..runs {
            let ns = Netns::task("bench", "eth0", "10.0.0.250/16");
            let t = TaskRef {
                id: format!("bench{i}"),
                service: "web".into(),
                netns: ns.path(),
            };
            let start = Instant::now();
            n.sync_task(&t).expect("apply");
            ours.push(start.elapsed());
        }
        let mut theirs = Vec::new();
        for _ in 0..(runs / 6).max(3) {
            let ns = Netns::task("bench", "eth0", "10.0.0.250/16");
            let start = Instant::now();
            per_process(&ns, lbs);
            theirs.push(start.elapsed());
        }
        let (om, op) = stats(ours);
        let (tm, tp) = stats(theirs);
        let ratio = tm / om;
        let (target, met) = if lbs == 16 {
            (
                "≤ 5 ms median; ≥ 20× the per-process method",
                if om <= 5.0 && ratio >= 20.0 {
                    "yes"
                } else {
                    "NO"
                },
            )
        } else {
            ("", "")
        };
        let plural = if lbs == 1 { "" } else { "s" };
        println!(
            "| control | per-task apply, {lbs} LB{plural}: median / p99 (per-process method: median / p99, ratio) | {om:.2} / {op:.2} ms ({tm:.0} / {tp:.0} ms, {ratio:.0}×) | {target} | {met} |"
        );
    }
}
