//! The daemon itself (no subcommand): `--install` runs it, `--uninstall` removes what it
//! installed, neither shows the usage screen. Its flags are [`crate::config::DaemonArgs`],
//! read with a `--config` file by [`config::load`] (as SIGHUP reads them again).

use std::process::ExitCode;
use std::time::Duration;

use super::{runtime, usage, Failure, RuntimeError, Threads};
use crate::config::{self, Action, LoadError};
use crate::reconcile::{self, DaemonError, Launch, UninstallError};

/// The daemon's worker threads.
const WORKERS: usize = 2;

/// How long the way out waits for blocking work: an apply abandoned at its deadline may still
/// hold a blocking thread, and is not waited for (its iptables children were killed).
const SHUTDOWN: Duration = Duration::from_millis(200);

/// Why the daemon did not start, or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonCommandError {
    /// The flags or the `--config` file are wrong.
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Uninstall(#[from] UninstallError),
    #[error(transparent)]
    Daemon(#[from] DaemonError),
}

impl Failure for DaemonCommandError {
    fn bad_input(&self) -> bool {
        matches!(
            self,
            DaemonCommandError::Load(_) | DaemonCommandError::Daemon(DaemonError::Config(_))
        )
    }
}

/// The daemon with the command line `argv` (program name first; kept for SIGHUP) and
/// `legacy_env`, the value of `INGRESS_NODE_GATEWAY_IPS`.
pub fn exec(argv: Vec<String>, legacy_env: Option<String>) -> Result<ExitCode, DaemonCommandError> {
    let cfg = config::load(&argv, legacy_env.as_deref())?;
    let rt = runtime(Threads::Workers(WORKERS))?;
    let launch = Launch::new(argv, legacy_env);
    let outcome = rt.block_on(async move {
        match cfg.action {
            Action::Usage => Ok(usage::show().await),
            Action::Uninstall => {
                reconcile::uninstall_all(&launch, &cfg).await?;
                Ok(ExitCode::SUCCESS)
            }
            Action::Install => {
                reconcile::run(launch, cfg).await?;
                tracing::info!(
                    "stopping; installed rules are left in place (dird --uninstall removes them)"
                );
                Ok(ExitCode::SUCCESS)
            }
        }
    });
    rt.shutdown_timeout(SHUTDOWN);
    outcome
}
