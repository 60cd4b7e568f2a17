//! `dird status`: what the running daemon did, from its `--status-file` — every service task on
//! this node and every load balancer, the latter with whether the ingress overlay reaches it
//! (a remote load balancer is reachable when Docker's overlay driver has programmed its
//! endpoint into the ingress overlay's namespace). The kernel keeps no per-table packet
//! counters for policy routing, so none are shown.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::{runtime, Failure, RuntimeError, Threads};
use crate::docker::DockerClient;
use crate::telemetry::status::{self, Status, StatusFileError, TaskState};

/// `dird status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON (for scripts) instead of tables.
    #[arg(long)]
    pub json: bool,
    /// The daemon's --status-file.
    #[arg(long, value_name = "PATH", default_value = status::DEFAULT_STATUS_FILE)]
    pub status_file: std::path::PathBuf,
}

/// Why `dird status` printed nothing.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    Read(#[from] StatusFileError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl Failure for StatusError {
    fn bad_input(&self) -> bool {
        false
    }
}

/// `dird status`: the daemon's status file as tables, with whether the overlay reaches each
/// load balancer, or as JSON.
pub fn exec(args: &StatusArgs) -> Result<ExitCode, StatusError> {
    let status = status::read(&args.status_file)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    let reach = runtime(Threads::Current)?.block_on(overlay_reach());
    print!("{}", render(&status, &reach, status::now()));
    Ok(ExitCode::SUCCESS)
}

/// Every remote endpoint of the ingress overlay (address -> node), within 5 s; `None` when it
/// cannot be read (no Docker, no root).
async fn overlay_reach() -> Reach {
    let ask = async {
        let client = DockerClient::connect().await.ok()?;
        let ns = client.ingress_overlay_netns().await.ok()??;
        let peers = tokio::task::spawn_blocking(move || crate::apply::peers::overlay_peers(&ns))
            .await
            .ok()?
            .ok()?;
        Some(peers.into_iter().map(|p| (p.ip, Some(p.vtep))).collect())
    };
    tokio::time::timeout(Duration::from_secs(5), ask)
        .await
        .ok()
        .flatten()
}

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
#[path = "status_tests.rs"]
mod tests;
