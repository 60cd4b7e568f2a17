//! The checks inside namespaces, from what they hold now: dird's load-balancer rules in
//! ingress_sbox, in each running service task dird's rules missing or out of date (what the
//! daemon would change), the original bash daemon's rules still there (also in ingress_sbox),
//! and strict reverse-path filtering.

use std::collections::BTreeSet;
use std::path::Path;

use super::Line;
use crate::apply::{self, TaskReading};
use crate::node::{Node, TaskCheck, TaskRef};
use crate::plan::legacy::{self, LegacyRule};
use crate::plan::routing::{diff, is_dird_table, is_legacy_rule};
use crate::plan::{render_sync, IptablesPlan, IptablesState, RoutingState, Table};

/// The node the daemon would build for these flags on this swarm.
#[derive(Debug, Clone)]
pub struct Planned {
    pub node: Node,
    /// False when the daemon would install nothing (it refuses the flags, or waits for the
    /// swarm's view under `auto`): then the task plans are not compared with the tasks.
    pub comparable: bool,
}

/// What dird would change in its own part of a task: its chains and their jumps, its policy
/// rules, routes and UDP source rules. The original daemon's rules, which the daemon would
/// remove too, are left to [`legacy_rules`]. `None`: nothing.
pub fn drift(r: &TaskReading) -> Option<String> {
    let own = IptablesPlan {
        chains: r.plan.iptables.chains.clone(),
        legacy: Vec::new(),
    };
    let tables: Vec<&str> = render_sync(&own, &r.iptables)
        .iter()
        .map(|b| b.table.name())
        .collect();
    let c = r
        .plan
        .routing
        .as_ref()
        .map(|p| diff(p, &r.routing))
        .unwrap_or_default();
    let add = c.add_rules.len() + c.add_routes.len() + c.add_udp_rules.len();
    let remove = c.del_rules.iter().filter(|x| !is_legacy_rule(x)).count()
        + c.del_routes
            .iter()
            .filter(|x| is_dird_table(x.table))
            .count()
        + c.del_udp_rules.len();
    let mut parts = Vec::new();
    if !tables.is_empty() {
        parts.push(format!("iptables table(s) {} to change", tables.join(", ")));
    }
    if add + remove > 0 {
        parts.push(format!(
            "{add} policy rule(s)/route(s) to add, {remove} to remove"
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The original daemon's rules in a namespace: iptables rules matching `patterns` (task
/// patterns only where its marker rule is, as the daemon's removal decides) and its policy
/// rules in `routing` (`fwmark N lookup N priority 32700`).
pub fn legacy_rules(
    patterns: &[LegacyRule],
    state: &IptablesState,
    routing: Option<&RoutingState>,
) -> Vec<String> {
    let mut found = BTreeSet::new();
    if legacy::applies(patterns, state.rules(Table::Mangle, "OUTPUT")) {
        for p in patterns {
            for r in state.rules(p.table, p.chain).into_iter().flatten() {
                if p.matches(r) {
                    found.insert(format!("{} {}: {r}", p.table.name(), p.chain));
                }
            }
        }
    }
    for r in routing.into_iter().flat_map(|s| &s.rules) {
        if is_legacy_rule(r) {
            found.insert(format!(
                "rule from {} fwmark {:#x} lookup {} priority {}",
                r.from, r.fwmark, r.table, r.priority
            ));
        }
    }
    found.into_iter().collect()
}

/// The task's `rp_filter` settings (on `all` and the ingress interface; the kernel uses the
/// larger) that are strict (1) where dird sets loose (2), as `key=1`.
pub fn strict_rp_filter(r: &TaskReading) -> Vec<String> {
    r.sysctls
        .iter()
        .filter(|(s, v)| s.key().ends_with(".rp_filter") && v.as_deref() == Some("1"))
        .map(|(s, _)| format!("{}=1", s.key()))
        .collect()
}

/// How the original daemon's rules go.
const LEGACY_FIX: &str = "stop the original docker-ingress-routing-daemon; `dird --install` replaces its rules (or `dird --uninstall` removes them)";

/// Checks 7, 8 and 9 (blocking: enters every namespace): the sbox's legacy rules, then each
/// running service task that `--services` selects.
pub fn check(
    planned: &Planned,
    tasks: Result<Vec<TaskRef>, String>,
    sbox: Option<&Path>,
) -> Vec<Line> {
    let node = &planned.node;
    let mut lines = Vec::new();
    if let Some(sbox) = sbox {
        match apply::read_iptables(sbox, "ingress_sbox", &node.tools) {
            Ok(state) => {
                lines.push(sbox_own(planned, &state));
                lines.push(sbox_legacy(&state));
            }
            Err(e) => lines.push(Line::Skipped(format!(
                "dird's and the original daemon's rules in ingress_sbox: {e}"
            ))),
        }
    }
    let tasks = match tasks {
        Ok(t) => t,
        Err(why) => {
            lines.push(Line::Skipped(format!("the service tasks: {why}")));
            return lines;
        }
    };
    if !planned.comparable {
        lines.push(Line::Skipped("dird's rules in the tasks: the daemon would install none with these flags on this swarm (see above), so there is no plan to compare them with".into()));
    }
    let wanted: Vec<&TaskRef> = tasks
        .iter()
        .filter(|t| node.wants_service(&t.service))
        .collect();
    if wanted.is_empty() {
        lines.push(Line::Ok(
            "no running service task for dird on this node".into(),
        ));
    }
    for t in wanted {
        let name = task_name(t);
        match node.check_task(t) {
            // What the namespace holds is refused (it does not parse strictly, or is more than
            // dird reads): the daemon leaves that task alone too.
            Err(e) if e.refused() => lines.push(Line::finding(
                format!("{name}: dird refuses its namespace: {e}"),
                "look at what that container puts into its own network namespace (it holds NET_ADMIN?); dird configures it once its iptables parse and stay within dird's limits",
            )),
            Err(e) => lines.push(Line::Skipped(format!("{name}: cannot be read: {e}"))),
            Ok(TaskCheck::NoIngressInterface) => lines.push(Line::Ok(format!(
                "{name} has no address on the ingress network: dird leaves it alone"
            ))),
            Ok(TaskCheck::Read(r)) => lines.extend(judge_task(&name, &r, planned.comparable)),
        }
    }
    lines
}

/// Check 7 in the sbox: dird's load-balancer rules as the daemon would have them (none on a
/// node that is no load balancer).
pub fn sbox_own(planned: &Planned, state: &IptablesState) -> Line {
    let node = &planned.node;
    let has_any = Table::ALL
        .into_iter()
        .any(|t| !state.own_chain_names(t).is_empty());
    let Some(id) = node.lb_id().filter(|_| planned.comparable) else {
        return if has_any {
            Line::finding(
                "ingress_sbox holds dird's load-balancer rules, though with these flags this node is no load balancer",
                "run the daemon with the flags of the swarm (it removes them), or `dird --uninstall`",
            )
        } else {
            Line::Ok("ingress_sbox holds none of dird's rules (this node is no load balancer with these flags)".into())
        };
    };
    if !has_any {
        return Line::finding(
            format!("ingress_sbox holds none of dird's load-balancer rules (this node is load balancer ID {id})"),
            "run the daemon (`systemctl enable --now dird`): it installs them at start-up",
        );
    }
    let own = IptablesPlan {
        chains: node.sbox_plan().chains,
        legacy: Vec::new(),
    };
    let tables: Vec<&str> = render_sync(&own, state)
        .iter()
        .map(|b| b.table.name())
        .collect();
    if tables.is_empty() {
        Line::Ok(format!(
            "ingress_sbox: dird's load-balancer rules in place (ID {id})"
        ))
    } else {
        Line::finding(
            format!("ingress_sbox: dird's load-balancer rules are out of date (iptables table(s) {} to change)", tables.join(", ")),
            "run the daemon: it repairs them at each --resync-interval",
        )
    }
}

/// Check 8 in the sbox.
fn sbox_legacy(state: &IptablesState) -> Line {
    let found = legacy_rules(&legacy::sbox_rules(), state, None);
    if found.is_empty() {
        return Line::Ok("ingress_sbox holds none of the original daemon's rules".into());
    }
    Line::finding(
        format!(
            "ingress_sbox still holds the original daemon's rules ({})",
            found.join("; ")
        ),
        LEGACY_FIX,
    )
}

/// `task <12-char id> (service <name>)`, control characters of the service name replaced.
fn task_name(t: &TaskRef) -> String {
    let service: String = t
        .service
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    let id: String = t.id.chars().take(12).collect();
    format!("task {id} (service {service})")
}

/// Checks 7 (when `comparable`), 8 and 9 for one task read.
fn judge_task(name: &str, r: &TaskReading, comparable: bool) -> Vec<Line> {
    let mut lines = Vec::new();
    if let Some(what) = drift(r).filter(|_| comparable) {
        lines.push(Line::finding(
            format!("{name}: dird's rules are missing or out of date ({what})"),
            "run the daemon (`systemctl enable --now dird`): it configures every running task at start-up and repairs drift at each --resync-interval",
        ));
    }
    let old = legacy_rules(&legacy::task_rules(), &r.iptables, Some(&r.routing));
    if !old.is_empty() {
        lines.push(Line::finding(
            format!(
                "{name}: the original daemon's rules are still there ({})",
                old.join("; ")
            ),
            LEGACY_FIX,
        ));
    }
    let strict = strict_rp_filter(r);
    if !strict.is_empty() {
        lines.push(Line::finding(
            format!("{name}: strict reverse-path filtering ({}) drops replies routed back through another load balancer", strict.join(", ")),
            "dird sets rp_filter to 2 (loose) on all and the ingress interface when it configures the task; if it is 1 again, something in the container or its image sets it: set net.ipv4.conf.all.rp_filter=2 there (docker service update --sysctl-add)",
        ));
    }
    if lines.is_empty() {
        let rules = if comparable {
            "dird's rules in place, "
        } else {
            ""
        };
        lines.push(Line::Ok(format!(
            "{name}: {rules}none of the original daemon's rules, rp_filter not strict (ingress interface {})",
            r.interface
        )));
    }
    lines
}

#[cfg(test)]
#[path = "tasks_tests.rs"]
mod tests;
