//! The command line and what the binary does, one file per command: each subcommand's flags
//! (clap) and its `exec` together. `daemon.rs` runs the daemon itself (no subcommand; its
//! flags are [`DaemonArgs`], kept in [`crate::config`] since `--config` files and SIGHUP read
//! them too), `usage.rs` is its screen without `--install`/`--uninstall`, `detect.rs` what
//! `lbs` and that screen ask the local Docker Engine. Each `exec` returns the exit status or
//! its module's error; the binary edge (`main.rs`) prints the error and picks the exit status
//! by [`Failure::bad_input`].

pub mod daemon;
pub mod detect;
pub mod doctor;
pub mod health;
pub mod lbs;
pub mod man;
pub mod plan;
pub mod status;
pub mod usage;

use clap::{Parser, Subcommand};

use crate::config::DaemonArgs;

const AFTER_HELP: &str = "\
Lists (<SERVICES>, <PORTS>, <IPS>) may be comma-separated, space-separated, or the flag may be
given several times. An IP of 'null' is skipped but keeps its index, so old load balancers can
be retired without renumbering the others. INGRESS_NODE_GATEWAY_IPS (legacy) is read as a first
--ingress-gateway-ips value.

Without --install or --uninstall, dird prints this help and, when Docker is reachable, this
node's ingress subnet and ingress IP (exit status 1, as the original daemon).";

/// dird: make the true client IP reach containers behind Docker Swarm's ingress routing mesh.
#[derive(Debug, Parser)]
#[command(name = "dird", version, after_help = AFTER_HELP, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(flatten)]
    pub daemon: DaemonArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// (extension) Print the exact rules the daemon would install for these flags, without root
    /// or Docker.
    Plan(plan::PlanArgs),
    /// (extension) Print every swarm node's underlay IP, ingress IP, ID, and whether it is a
    /// load balancer under the given flags (asks the local Docker Engine).
    Lbs(lbs::LbsArgs),
    /// (extension) Diagnose this node (any node, worker included) for the misconfigurations
    /// that keep client IPs from reaching tasks; changes nothing and needs no running daemon.
    /// Prints one line per check ('ok:', 'FINDING: ...; fix: ...', 'skipped:') and a summary;
    /// exit status 0 when healthy, 1 with findings.
    Doctor(doctor::DoctorArgs),
    /// (extension) Print what the running daemon did: every service task on this node
    /// (configured or not, its load-balancer tables, its last apply and error) and every load
    /// balancer (ID, IP, table, reachable through the ingress overlay). Reads --status-file.
    Status(status::StatusArgs),
    /// (extension) Ask a running daemon's /healthz (its --metrics-addr): exit status 0 when
    /// healthy, 1 when not or when it does not answer within 3 s. For container healthchecks.
    Health(health::HealthArgs),
    /// Print the manual page of the whole command line (roff, section 8) on stdout; the
    /// Debian package's dird.8 is made from it.
    #[command(hide = true)]
    Man,
}

/// What the binary needs of a command's error besides its one line (`Display`): whether the
/// input was wrong and nothing was changed (exit status 2), or something failed while running
/// (1).
pub trait Failure: std::error::Error {
    fn bad_input(&self) -> bool;
}

/// No tokio runtime could be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the runtime: {0}")]
pub struct RuntimeError(#[source] std::io::Error);

/// The threads a command's runtime runs on.
#[derive(Debug, Clone, Copy)]
pub enum Threads {
    /// This thread: the commands that only ask and print.
    Current,
    /// This many worker threads: the daemon.
    Workers(usize),
}

/// A runtime with every driver (I/O, time) on `threads`.
pub fn runtime(threads: Threads) -> Result<tokio::runtime::Runtime, RuntimeError> {
    let mut builder = match threads {
        Threads::Current => tokio::runtime::Builder::new_current_thread(),
        Threads::Workers(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    };
    builder.enable_all().build().map_err(RuntimeError)
}
