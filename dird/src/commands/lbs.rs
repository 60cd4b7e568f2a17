//! `dird lbs`: the load balancers as this node sees them — every node's underlay IP and
//! ingress IP from the swarm, the ID each gets, and whether it is a load balancer under the
//! given flags (`--ingress-gateway-ips auto` or an explicit list), then the iptables backend
//! dird would write through and why.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::detect::{detect, DetectError};
use super::{runtime, Failure, RuntimeError, Threads};
use crate::apply::backend::{self, BackendError, Choice};
use crate::config::{ConfigError, RuleArgs, RuleConfig};
use crate::discovery::SwarmNode;
use crate::docker::swarm_view::render_table;
use crate::docker::SBOX_NETNS;
use crate::plan::Ingress;

/// `dird lbs`: the rule flags the daemon is (or would be) started with.
#[derive(Debug, Args)]
pub struct LbsArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
}

/// Why `dird lbs` printed no table.
#[derive(Debug, thiserror::Error)]
pub enum LbsError {
    /// The flags are wrong, or do not fit the swarm.
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("cannot read the swarm's load balancers: {0}")]
    Detect(#[source] DetectError),
}

impl Failure for LbsError {
    fn bad_input(&self) -> bool {
        matches!(self, LbsError::Config(_))
    }
}

/// `dird lbs`: the table on stdout, then the iptables backend line (`legacy_env`: the value
/// of `INGRESS_NODE_GATEWAY_IPS`).
pub fn exec(args: &LbsArgs, legacy_env: Option<&str>) -> Result<ExitCode, LbsError> {
    let rules = RuleConfig::from_args(&args.rules, legacy_env)?;
    runtime(Threads::Current)?.block_on(show(rules))
}

async fn show(rules: RuleConfig) -> Result<ExitCode, LbsError> {
    let (ingress, view, firewall) = detect().await.map_err(LbsError::Detect)?;
    print!("{}", render(&rules, &ingress, &view)?);
    let sbox = PathBuf::from(SBOX_NETNS);
    let backend = tokio::task::spawn_blocking(move || backend::detect(&sbox, firewall))
        .await
        .unwrap_or(Err(BackendError::Lost));
    print!("{}", backend_line(&backend));
    Ok(ExitCode::SUCCESS)
}

/// The heading (ingress, where the load balancers come from) and the table of every node of
/// `view` with the ID its source assigns.
pub fn render(
    rules: &RuleConfig,
    ingress: &Ingress,
    view: &[SwarmNode],
) -> Result<String, ConfigError> {
    let mut out = format!(
        "ingress subnet {}, this node's ingress IP {}\n",
        ingress.subnet, ingress.node_ip
    );
    let assigned = rules
        .lbs
        .assign(*ingress, view, rules.indexed_ids, rules.id_encoding)?;
    out.push_str(&format!("load balancers: {}\n", rules.lbs.describe()));
    out.push_str(&render_table(
        view,
        &assigned.lbs,
        &assigned.unmatched_hosts,
        Some(ingress.node_ip),
    ));
    Ok(out)
}

/// The line `dird lbs` prints under its table: the backend (see
/// [`crate::apply::backend::decide`]) and why, or why it cannot be told.
pub fn backend_line(detected: &Result<Choice, BackendError>) -> String {
    match detected {
        Ok(choice) => format!("iptables backend: {choice}\n"),
        Err(e) => format!("iptables backend: error: {e}\n"),
    }
}

#[cfg(test)]
#[path = "lbs_tests.rs"]
mod tests;
