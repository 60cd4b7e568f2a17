//! Start-up on a busy node (root, host kernel): 500 running task namespaces, dird starting cold
//! (nothing installed) → all configured, with the daemon's own worker pool. Part of `just bench`.
//! Docker's listing of the containers is not included (no Docker here); what is measured is
//! dird's side: entering each namespace, reading it, applying the difference.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::{bench_node, Netns};
use dird::apply::TaskOutcome;
use dird::node::{default_workers, TaskRef};

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
    eprintln!("creating {count} task namespaces (not timed) …");
    let namespaces: Vec<Netns> = std::thread::scope(|s| {
        let half = count.div_ceil(2);
        let workers: Vec<_> = [half, count - half]
            .into_iter()
            .map(|n| {
                s.spawn(move || {
                    (0..n)
                        .map(|_| Netns::task("start", "eth0", "10.0.0.200/16"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let tasks: Vec<TaskRef> = namespaces
        .iter()
        .enumerate()
        .map(|(i, ns)| TaskRef {
            id: format!("task{i}"),
            service: "web".into(),
            netns: ns.path(),
        })
        .collect();
    let node = bench_node(lbs);
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
    drop(namespaces);
    if ok != count {
        eprintln!(
            "some tasks failed: {:?}",
            results.iter().find(|r| r.is_err())
        );
        std::process::exit(1);
    }
}
