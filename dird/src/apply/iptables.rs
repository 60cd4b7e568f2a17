//! iptables through `iptables-save` / `iptables-restore` child processes (argument vectors,
//! never a shell). Must be called from a thread inside the target namespace.

use std::time::Instant;

use crate::config::IptablesWait;
use crate::netns::child::{self, ChildError};
use crate::plan::Table;

#[derive(Debug, thiserror::Error)]
pub enum IptablesError {
    #[error(transparent)]
    Run(#[from] ChildError),
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        program: String,
        status: String,
        stderr: String,
    },
}

/// Environment variable naming the save program (overrides backend detection).
pub const SAVE_ENV: &str = "DIRD_IPTABLES_SAVE";
/// Environment variable naming the restore program (overrides backend detection).
pub const RESTORE_ENV: &str = "DIRD_IPTABLES_RESTORE";
/// The system's alternatives, whichever backend they point to.
pub const SYSTEM_SAVE: &str = "iptables-save";
pub const SYSTEM_RESTORE: &str = "iptables-restore";

/// Which binaries to run. `default()`: [`SAVE_ENV`]/[`RESTORE_ENV`] when set, else the
/// system's [`SYSTEM_SAVE`]/[`SYSTEM_RESTORE`]; the daemon picks them with
/// [`super::backend::detect`] instead.
#[derive(Debug, Clone)]
pub struct IptablesTools {
    pub save: String,
    pub restore: String,
    pub wait: Option<IptablesWait>,
    /// When set, a child still running then is killed (with whatever it started) and the
    /// call fails: the per-namespace deadline of the daemon.
    pub deadline: Option<Instant>,
}

impl Default for IptablesTools {
    fn default() -> Self {
        IptablesTools {
            save: std::env::var(SAVE_ENV).unwrap_or_else(|_| SYSTEM_SAVE.into()),
            restore: std::env::var(RESTORE_ENV).unwrap_or_else(|_| SYSTEM_RESTORE.into()),
            wait: None,
            deadline: None,
        }
    }
}

/// How long the rollback after a failed apply may take: a deadline of its own, since the
/// apply's may have passed (the failure may be that it did).
pub const ROLLBACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl IptablesTools {
    /// These tools for a rollback starting now: with a deadline [`ROLLBACK_TIMEOUT`] from now
    /// when they had one.
    pub fn for_rollback(&self) -> IptablesTools {
        IptablesTools {
            deadline: self.deadline.map(|_| Instant::now() + ROLLBACK_TIMEOUT),
            ..self.clone()
        }
    }

    /// The [`Default`] binaries, run with `wait`.
    pub fn with_wait(wait: Option<IptablesWait>) -> IptablesTools {
        IptablesTools {
            wait,
            ..IptablesTools::default()
        }
    }
}

fn run(
    tools: &IptablesTools,
    program: &str,
    args: &[String],
    stdin: Option<&str>,
) -> Result<String, IptablesError> {
    let out = child::run(program, args, stdin, tools.deadline)?;
    if !out.status.success() {
        return Err(IptablesError::Failed {
            program: program.to_owned(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace('\n', "; "),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl IptablesTools {
    /// `iptables-save -t <table>`: the table's full text (restorable as is).
    pub fn save(&self, table: Table) -> Result<String, IptablesError> {
        run(self, &self.save, &["-t".into(), table.name().into()], None)
    }

    /// `iptables-save -c -t <table>`: the table with every rule's packet and byte counters.
    pub fn save_counted(&self, table: Table) -> Result<String, IptablesError> {
        run(
            self,
            &self.save,
            &["-c".into(), "-t".into(), table.name().into()],
            None,
        )
    }

    /// `iptables-save`: every table that exists, in one process.
    pub fn save_all(&self) -> Result<String, IptablesError> {
        run(self, &self.save, &[], None)
    }

    /// `iptables-restore --noflush [--wait [N]]` with one table's batch.
    pub fn restore_noflush(&self, text: &str) -> Result<(), IptablesError> {
        let mut args = vec!["--noflush".to_string()];
        args.extend(self.wait.map(IptablesWait::args).unwrap_or_default());
        run(self, &self.restore, &args, Some(text)).map(drop)
    }
}
