//! What the runner works on, one at a time each: the sbox, or one service task container. A
//! job's error keeps its cause, so that its retry follows from what went wrong.

use std::fmt;
use std::time::Duration;

use crate::apply::ApplyError;
use crate::docker::DockerError;

/// The sbox, or a task container by its 12-digit id (events give 64 digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    Sbox,
    Task(String),
}

impl Unit {
    /// The task container `id` (its first 12 digits).
    pub fn task(id: &str) -> Unit {
        Unit::Task(id.chars().take(12).collect())
    }
}

impl Unit {
    /// The metrics' name of its kind: `sbox` or `task`.
    pub fn kind(&self) -> &'static str {
        match self {
            Unit::Sbox => "sbox",
            Unit::Task(_) => "task",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unit::Sbox => f.write_str("ingress_sbox"),
            Unit::Task(id) => write!(f, "container {id}"),
        }
    }
}

/// Why a unit's job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("Docker did not answer within {secs} s")]
    DockerSlow { secs: u64 },
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("{target}: timed out: the apply took longer than --apply-timeout {secs} s and was abandoned")]
    TimedOut { target: String, secs: u64 },
    #[error("the worker stopped: {0}")]
    WorkerLost(#[source] tokio::task::JoinError),
}

/// Delay before the first retry; it doubles with each failure up to [`RETRY_MAX`].
pub const RETRY_FIRST: Duration = Duration::from_secs(1);
/// The first retry of a namespace whose content was refused.
pub const RETRY_REFUSED: Duration = Duration::from_secs(30);
pub const RETRY_MAX: Duration = Duration::from_secs(300);

impl JobError {
    /// Whether the apply was given up at `--apply-timeout` (its children killed there, or its
    /// worker abandoned still running).
    pub fn timed_out(&self) -> bool {
        match self {
            JobError::TimedOut { .. } => true,
            JobError::Apply(e) => e.timed_out(),
            _ => false,
        }
    }

    /// Whether what the namespace holds was refused (it does not parse strictly, holds more
    /// than dird reads, names its ingress interface oddly): whoever controls it has to change
    /// it, which a second later is unlikely, and each look at it reads all of it again.
    pub fn refused(&self) -> bool {
        matches!(self, JobError::Apply(e) if e.refused())
    }

    /// The delay before retry number `failures` (1 = after the first failure): doubling from
    /// [`RETRY_FIRST`], or from [`RETRY_REFUSED`] for a refused namespace, up to [`RETRY_MAX`].
    pub fn retry_delay(&self, failures: u32) -> Duration {
        let first = if self.refused() {
            RETRY_REFUSED
        } else {
            RETRY_FIRST
        };
        let doublings = failures.saturating_sub(1).min(16);
        first.saturating_mul(1 << doublings).min(RETRY_MAX)
    }
}

#[cfg(test)]
#[path = "unit_tests.rs"]
mod tests;
