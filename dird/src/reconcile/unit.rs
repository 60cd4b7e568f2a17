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
mod tests {
    use super::*;
    use crate::apply::{fail, Step};

    #[test]
    fn units_name_themselves_and_keep_12_digits() {
        assert_eq!(Unit::Sbox.to_string(), "ingress_sbox");
        let u = Unit::task("8dbf715e75e510931133c535cf8e5d941ed926c30f44bf9f0e54623377a120c2");
        assert_eq!(u, Unit::Task("8dbf715e75e5".into()));
        assert_eq!(u.to_string(), "container 8dbf715e75e5");
    }

    #[test]
    fn the_retry_follows_from_what_went_wrong() {
        let slow = JobError::DockerSlow { secs: 30 };
        assert_eq!(slow.retry_delay(1), Duration::from_secs(1));
        assert_eq!(slow.retry_delay(3), Duration::from_secs(4));
        assert_eq!(slow.retry_delay(30), RETRY_MAX);
        let parse = crate::plan::IptablesState::parse("junk").unwrap_err();
        let refused = JobError::Apply(fail("t", Step::ParseIptables, parse));
        assert!(refused.refused());
        assert_eq!(refused.retry_delay(1), RETRY_REFUSED);
        assert_eq!(refused.retry_delay(2), RETRY_REFUSED * 2);
        assert_eq!(refused.retry_delay(u32::MAX), RETRY_MAX);
        let timed_out = JobError::TimedOut {
            target: "t".into(),
            secs: 30,
        };
        assert!(!timed_out.refused());
        assert_eq!(timed_out.retry_delay(1), RETRY_FIRST);
    }
}
