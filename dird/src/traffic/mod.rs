//! Per-load-balancer traffic for the metrics, read when Prometheus scrapes (at most once per
//! [`MIN_SAMPLE`], never per packet): the packet and byte counters of the rules with which
//! this node's `ingress_sbox` stamps its load-balancer ID ([`crate::plan::counters`], from
//! `iptables-save -c -t mangle` there) and, with `--conntrack-metrics`, each configured
//! task's tracked connections by the load balancer whose mark they carry ([`conntrack`]).
//! The runner says where to look ([`Targets`]); namespaces are entered only through
//! [`crate::netns::run_in`], and what is read there is parsed strictly and only counted.

pub mod conntrack;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::apply::iptables::IptablesTools;
use crate::ids::{MARK_MASK, MARK_SHIFT};
use crate::netns;
use crate::plan::counters::{stamp_counters, StampCounter};
use crate::plan::table::Table;

/// Scrapes closer together than this share one reading.
pub const MIN_SAMPLE: Duration = Duration::from_secs(5);
/// How long the sbox's `iptables-save -c` may take.
pub const SAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the traffic is read (kept by the runner, replaced at each status publication).
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// This node's sbox and its load-balancer ID, when this node is a load balancer.
    pub sbox: Option<(PathBuf, u8)>,
    /// The iptables binaries of the detected backend.
    pub tools: Option<IptablesTools>,
    /// The configured tasks (only with `--conntrack-metrics`).
    pub tasks: Vec<TaskTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTarget {
    /// The container's 12-digit id.
    pub id: String,
    pub service: String,
    pub netns: PathBuf,
}

/// One reading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample {
    /// The load-balancer ID of this node and its stamping rules' counters.
    pub stamped: Option<(u8, Vec<StampCounter>)>,
    /// Per task and load-balancer ID: the connections tracked in the task with that ID's mark.
    pub connections: Vec<Connections>,
    /// What could not be read (one line each; the rest of the sample stands).
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connections {
    pub task: String,
    pub service: String,
    pub lb: u8,
    pub count: u64,
}

/// Reads everything `targets` names (blocking: children and netlink dumps, each with its own
/// deadline).
pub fn sample(targets: &Targets) -> Sample {
    let mut s = Sample::default();
    if let (Some((sbox, lb)), Some(tools)) = (&targets.sbox, &targets.tools) {
        let tools = IptablesTools {
            deadline: Some(Instant::now() + SAVE_TIMEOUT),
            ..tools.clone()
        };
        match read_stamped(sbox, &tools) {
            Ok(c) => s.stamped = Some((*lb, c)),
            Err(e) => s.errors.push(format!("{}: {e}", sbox.display())),
        }
    }
    for t in &targets.tasks {
        match netns::run_in(&t.netns, conntrack::count_here) {
            Ok(Ok(counts)) => s.connections.extend(by_lb(t, &counts)),
            Ok(Err(e)) => s
                .errors
                .push(format!("{} ({}): {e}", t.id, t.netns.display())),
            Err(e) => s.errors.push(format!("{}: {e}", t.id)),
        }
    }
    s
}

fn read_stamped(
    sbox: &std::path::Path,
    tools: &IptablesTools,
) -> Result<Vec<StampCounter>, String> {
    let text = netns::run_in(sbox, || tools.save_counted(Table::Mangle))
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    stamp_counters(&text).map_err(|e| e.to_string())
}

/// A task's counts by load-balancer ID (the ID is the mark's byte under [`MARK_MASK`]); entries
/// without dird's mark are left out.
fn by_lb(t: &TaskTarget, counts: &conntrack::Counts) -> Vec<Connections> {
    let mut per_lb: std::collections::BTreeMap<u8, u64> = std::collections::BTreeMap::new();
    for (mark, n) in &counts.by_mark {
        let id = (mark & MARK_MASK) >> MARK_SHIFT;
        if let Ok(id) = u8::try_from(id) {
            if id != 0 {
                *per_lb.entry(id).or_default() += n;
            }
        }
    }
    per_lb
        .into_iter()
        .map(|(lb, count)| Connections {
            task: t.id.clone(),
            service: t.service.clone(),
            lb,
            count,
        })
        .collect()
}

#[cfg(test)]
mod tests;
