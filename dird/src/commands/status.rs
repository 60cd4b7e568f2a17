//! `dird status`: what the running daemon did, from its `--status-file` — every service task on
//! this node and every load balancer, the latter with whether the ingress overlay reaches it
//! (a remote load balancer is reachable when Docker's overlay driver has programmed its
//! endpoint into the ingress overlay's namespace). The kernel keeps no per-table packet
//! counters for policy routing, so none are shown.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::telemetry::status::{Status, TaskState};

/// Whether each load balancer is reachable through the overlay: `Some(underlay)` when it is,
/// `None` when it is not; the whole map is `None` when the overlay could not be read.
pub type Reach = Option<BTreeMap<Ipv4Addr, Option<Ipv4Addr>>>;

fn ago(now: u64, then: Option<u64>) -> String {
    then.map(|t| format!("{} s ago", now.saturating_sub(t)))
        .unwrap_or_else(|| "never".into())
}

/// The human tables.
pub fn render(status: &Status, reach: &Reach, now: u64) -> String {
    let mut out = String::new();
    let count = |s: TaskState| status.tasks.iter().filter(|t| t.state == s).count();
    let _ = writeln!(
        out,
        "tasks: {} configured, {} failing, {} pending, {} skipped (status taken {})",
        count(TaskState::Configured),
        count(TaskState::Failing),
        count(TaskState::Pending),
        count(TaskState::Skipped),
        ago(now, Some(status.taken))
    );
    let _ = writeln!(
        out,
        "{:<14}{:<20}{:<12}{:<18}{:<14}ERROR",
        "CONTAINER", "SERVICE", "STATE", "LB TABLES", "LAST APPLY"
    );
    for t in &status.tasks {
        let tables: Vec<String> = t.lb_tables.iter().map(u32::to_string).collect();
        let _ = writeln!(
            out,
            "{:<14}{:<20}{:<12}{:<18}{:<14}{}",
            t.id,
            t.service,
            t.state.name(),
            if tables.is_empty() {
                "-".into()
            } else {
                tables.join(",")
            },
            ago(now, t.last_apply),
            t.last_error.as_deref().unwrap_or("-")
        );
    }
    let _ = writeln!(
        out,
        "\n{:<6}{:<18}{:<8}REACHABLE THROUGH THE OVERLAY",
        "ID", "LOAD BALANCER", "TABLE"
    );
    for lb in &status.load_balancers {
        let reachable = if lb.this_node {
            "this node".to_string()
        } else {
            match reach.as_ref().map(|m| m.get(&lb.ip)) {
                None => "unknown (cannot read the ingress overlay)".into(),
                Some(Some(Some(underlay))) => format!("yes (node {underlay})"),
                Some(_) => "no: the overlay has no endpoint for it".into(),
            }
        };
        let _ = writeln!(out, "{:<6}{:<18}{:<8}{reachable}", lb.id, lb.ip, lb.table);
    }
    if status.load_balancers.is_empty() {
        out.push_str("(no load balancers)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::telemetry::status::{LbStatus, TaskStatus};

    #[test]
    fn tables_show_tasks_and_load_balancers() {
        let status = Status {
            taken: 100,
            node_ip: Some([10, 0, 0, 2].into()),
            tasks: vec![
                TaskStatus {
                    id: "8dbf715e75e5".into(),
                    service: "web".into(),
                    netns: PathBuf::from("/run/docker/netns/2f3c4d5e6f70"),
                    state: TaskState::Configured,
                    lb_tables: vec![7002, 7003],
                    last_apply: Some(90),
                    configured_at_ms: None,
                    last_error: None,
                },
                TaskStatus {
                    id: "f6e5d4c3b2a1".into(),
                    service: "api".into(),
                    netns: PathBuf::from("/run/docker/netns/0a1b2c3d4e5f"),
                    state: TaskState::Failing,
                    lb_tables: Vec::new(),
                    last_apply: Some(99),
                    configured_at_ms: None,
                    last_error: Some("timed out".into()),
                },
            ],
            load_balancers: vec![
                LbStatus {
                    id: 2,
                    ip: [10, 0, 0, 2].into(),
                    table: 7002,
                    this_node: true,
                },
                LbStatus {
                    id: 3,
                    ip: [10, 0, 0, 3].into(),
                    table: 7003,
                    this_node: false,
                },
                LbStatus {
                    id: 4,
                    ip: [10, 0, 0, 4].into(),
                    table: 7004,
                    this_node: false,
                },
            ],
        };
        let reach: Reach = Some(BTreeMap::from([(
            Ipv4Addr::new(10, 0, 0, 3),
            Some(Ipv4Addr::new(192, 0, 2, 2)),
        )]));
        insta::assert_snapshot!(render(&status, &reach, 100));
    }
}
