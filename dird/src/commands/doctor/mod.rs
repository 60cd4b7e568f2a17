//! `dird doctor`: the misconfigurations operators hit most, diagnosed on any node (worker
//! included) without a running daemon and without changing anything. It asks Docker's API,
//! reads files under `/proc`, `/sys` and `/lib/modules`, runs `iptables-save` (and the save and
//! restore tools with `--version`) and dumps netlink state, each namespace from a thread that
//! entered it; it never runs `iptables-restore`, never sends a netlink change and never writes
//! a sysctl. One line per check: `ok: ...`, `FINDING: ...; fix: ...`, or `skipped: ...` (could
//! not be checked), then `healthy` or `N finding(s)`.

mod host;
mod swarm;
mod tasks;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::{runtime, Failure, RuntimeError, Threads};
use crate::apply::backend::Override;
use crate::config::{ConfigError, RuleArgs, RuleConfig};
use crate::docker::{DockerClient, DockerError, SBOX_NETNS};

pub use host::{backend_of_version, judge_override, xt_ipvs_evidence, KernelFiles};
pub use swarm::{judge_auto_node, judge_load_balancer, Addresses};
pub use tasks::{drift, legacy_rules, strict_rp_filter};

/// `dird doctor`: the rule flags the daemon is (or would be) started with.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
}

/// Why no report was made (findings are not errors: they are the report).
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl Failure for DoctorError {
    fn bad_input(&self) -> bool {
        matches!(self, DoctorError::Config(_))
    }
}

/// `dird doctor`: the report on stdout; exit status 0 when healthy, 1 with findings
/// (`legacy_env`: the value of `INGRESS_NODE_GATEWAY_IPS`).
pub fn exec(args: &DoctorArgs, legacy_env: Option<&str>) -> Result<ExitCode, DoctorError> {
    let input = DoctorInput::from_args(args, legacy_env)?;
    let report = runtime(Threads::Current)?.block_on(async {
        let client = connect().await;
        run(&input, client).await
    });
    print!("{}", report.render());
    Ok(match report.findings() {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A check that passed.
    Ok(String),
    /// A problem and how to fix it.
    Finding { what: String, fix: String },
    /// A check that could not be made, and why.
    Skipped(String),
}

impl Line {
    pub fn finding(what: impl Into<String>, fix: impl Into<String>) -> Line {
        Line::Finding {
            what: what.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Line::Ok(what) => write!(f, "ok: {what}"),
            Line::Finding { what, fix } => write!(f, "FINDING: {what}; fix: {fix}"),
            Line::Skipped(why) => write!(f, "skipped: {why}"),
        }
    }
}

/// Every check's line, in the order they ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub lines: Vec<Line>,
}

impl Report {
    pub fn push(&mut self, line: Line) {
        self.lines.push(line);
    }

    pub fn ok(&mut self, what: impl Into<String>) {
        self.push(Line::Ok(what.into()));
    }

    pub fn finding(&mut self, what: impl Into<String>, fix: impl Into<String>) {
        self.push(Line::finding(what, fix));
    }

    pub fn skipped(&mut self, why: impl Into<String>) {
        self.push(Line::Skipped(why.into()));
    }

    pub fn findings(&self) -> usize {
        self.lines
            .iter()
            .filter(|l| matches!(l, Line::Finding { .. }))
            .count()
    }

    /// Every line, then `healthy` or `N finding(s)`.
    pub fn render(&self) -> String {
        let mut out: String = self.lines.iter().map(|l| format!("{l}\n")).collect();
        match self.findings() {
            0 => out.push_str("healthy\n"),
            n => out.push_str(&format!("{n} finding(s)\n")),
        }
        out
    }
}

/// What `dird doctor` checks against.
#[derive(Debug, Clone)]
pub struct DoctorInput {
    pub rules: RuleConfig,
    /// This node's ingress sandbox.
    pub sbox: PathBuf,
    /// `DIRD_IPTABLES_SAVE` / `DIRD_IPTABLES_RESTORE`.
    pub over: Override,
    pub kernel: KernelFiles,
}

impl DoctorInput {
    /// The rule flags, parsed by the daemon's own list syntax (`legacy_env`: the value of
    /// `INGRESS_NODE_GATEWAY_IPS`). Only malformed input is an error: parsing checks the
    /// syntax of each address, not whether it fits the swarm, so a load balancer that does not
    /// fit (outside the ingress subnet, say) is left to the checks, which report it.
    pub fn from_args(
        args: &DoctorArgs,
        legacy_env: Option<&str>,
    ) -> Result<DoctorInput, ConfigError> {
        Ok(DoctorInput {
            rules: RuleConfig::from_args(&args.rules, legacy_env)?,
            sbox: PathBuf::from(SBOX_NETNS),
            over: Override::from_env(),
            kernel: KernelFiles::default(),
        })
    }
}

/// How long each request to the Engine may take.
const DOCKER_TIMEOUT: Duration = Duration::from_secs(10);

/// `f`'s answer, or why there is none (an error, or no answer within [`DOCKER_TIMEOUT`]).
async fn ask<T>(f: impl Future<Output = Result<T, DockerError>>) -> Result<T, String> {
    match tokio::time::timeout(DOCKER_TIMEOUT, f).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "the Docker Engine did not answer within {} s",
            DOCKER_TIMEOUT.as_secs()
        )),
    }
}

/// The Engine on `DOCKER_HOST` (a `unix://` path) or `/var/run/docker.sock`, or why not.
pub async fn connect() -> Result<DockerClient, String> {
    ask(DockerClient::connect()).await
}

/// Runs `f` on the blocking pool (it enters namespaces and runs iptables-save); a worker
/// that died gives `lost`.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static, lost: T) -> T {
    tokio::task::spawn_blocking(f).await.unwrap_or(lost)
}

/// Every check, in order: swarm membership, the ingress sandbox, IPVS and `xt_ipvs`, the
/// iptables backend, the load-balancer list, this node's place in it, then the tasks (dird's
/// rules, the original daemon's rules, `rp_filter`). `client`: the Engine, or why it cannot
/// be reached (then only the checks that need no Docker run).
pub async fn run(input: &DoctorInput, client: Result<DockerClient, String>) -> Report {
    let mut report = Report::default();
    let facts = match &client {
        Ok(c) => {
            let facts = swarm::gather(c).await;
            swarm::check_membership(&mut report, &facts);
            facts
        }
        Err(why) => {
            let why = why.trim_start_matches("Docker Engine: ");
            report.finding(
                format!("cannot reach the Docker Engine: {why}"),
                "start dockerd, or point DOCKER_HOST at its socket (unix://PATH)",
            );
            report.skipped("swarm membership and the ingress network: no Docker Engine");
            swarm::SwarmFacts::unreachable(why)
        }
    };
    let sbox = swarm::check_sbox(&mut report, &input.sbox);
    let (host_input, host_sbox) = (input.clone(), sbox.clone());
    let firewall = facts.firewall.clone().ok().flatten();
    let (lines, tools) = blocking(
        move || host::check(&host_input, host_sbox.as_deref(), firewall),
        (
            vec![Line::Skipped(
                "the host checks stopped before finishing".into(),
            )],
            Default::default(),
        ),
    )
    .await;
    report.lines.extend(lines);
    let Ok(ingress) = facts.ingress.clone() else {
        report.skipped(
            "the load balancers, this node's place among them and the tasks: no ingress network",
        );
        return report;
    };
    let planned =
        match swarm::check_load_balancers(&mut report, &input.rules, ingress, &facts, tools) {
            Ok(p) => p,
            Err(e) => {
                report.skipped(format!(
                    "the tasks: no node can be built with these flags on this swarm: {e}"
                ));
                return report;
            }
        };
    let tasks = facts.tasks.clone();
    let lines = blocking(
        move || tasks::check(&planned, tasks, sbox.as_deref()),
        vec![Line::Skipped(
            "the task checks stopped before finishing".into(),
        )],
    )
    .await;
    report.lines.extend(lines);
    report
}

#[cfg(test)]
mod tests;
