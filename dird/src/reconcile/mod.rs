//! The daemon: connecting to Docker, signals, and the [`runner`] that does the work (start-up
//! sync, container events, periodic audit, sbox rebuild detection, configuration reload). It
//! decides *what* to apply (through [`crate::node::Node`]), never how.

mod answers;
mod jobs;
mod observe;
mod programming;
mod records;
mod runner;
mod schedule;
mod settings;
mod sync;
mod unit;
mod work;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};

use tracing::{info, warn};

use crate::config::Config;
use crate::docker::{DockerClient, SBOX_NETNS};
use crate::netns::child;
use crate::telemetry::{server, Telemetry};
use runner::{Exit, Runner};

pub use runner::{AUTO_POLL, MIN_SYNC_INTERVAL};
pub use sync::{build_node, uninstall_all, view_changed, BackendLog, BuildError, UninstallError};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    #[error(transparent)]
    Metrics(#[from] server::ListenError),
}

/// How the daemon was started, for reloads.
#[derive(Debug, Clone)]
pub struct Launch {
    pub argv: Vec<String>,
    pub legacy_env: Option<String>,
    pub sbox: PathBuf,
    pub sysctl_dir: PathBuf,
    /// The namespace whose Docker chains tell the iptables backend (`None`: dird's own).
    pub host_netns: Option<PathBuf>,
}

impl Launch {
    pub fn new(argv: Vec<String>, legacy_env: Option<String>) -> Launch {
        Launch {
            argv,
            legacy_env,
            sbox: PathBuf::from(SBOX_NETNS),
            sysctl_dir: PathBuf::from("/etc/sysctl.d"),
            host_netns: None,
        }
    }
}

fn sbox_identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

struct Signals {
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

enum Wake {
    Stop,
    Reload,
    Elapsed,
}

impl Signals {
    fn new() -> Result<Signals, DaemonError> {
        Ok(Signals {
            hup: signal(SignalKind::hangup()).map_err(DaemonError::Signals)?,
            term: signal(SignalKind::terminate()).map_err(DaemonError::Signals)?,
            int: signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?,
        })
    }

    /// Sleeps, but wakes early for a signal.
    async fn sleep(&mut self, d: Duration) -> Wake {
        tokio::select! {
            _ = tokio::time::sleep(d) => Wake::Elapsed,
            _ = self.hup.recv() => Wake::Reload,
            _ = self.term.recv() => Wake::Stop,
            _ = self.int.recv() => Wake::Stop,
        }
    }
}

/// Runs until SIGTERM/SIGINT; installed rules are left in place (as the original daemon).
/// Connects to Docker (again, with backoff, whenever it goes away) and runs the [`Runner`]'s
/// session; on the way out, iptables children still running are killed.
pub async fn run(launch: Launch, cfg: Config) -> Result<(), DaemonError> {
    let mut signals = Signals::new()?;
    let telemetry = Arc::new(Telemetry::new());
    if let Some(addr) = cfg.metrics_addr {
        let bound = server::start(addr, telemetry.clone(), cfg.public_status).await?;
        info!("serving /metrics, /healthz and /status on http://{bound}");
    }
    let result = connect_and_run(&mut signals, Runner::new(launch, cfg, telemetry)).await;
    child::kill_all();
    result
}

/// The longest wait between two attempts to reach Docker: connecting to its socket is cheap,
/// and tasks that dockerd restarts are configured only once dird is back.
const RECONNECT_MAX: Duration = Duration::from_secs(5);

async fn connect_and_run(signals: &mut Signals, mut runner: Runner) -> Result<(), DaemonError> {
    let mut backoff = Duration::from_secs(1);
    let mut first = true;
    let mut away = Outage::default();
    loop {
        // Every retry waits (with backoff), whatever failed: dockerd gone, an API error in a
        // sync, the event stream ending.
        if !std::mem::take(&mut first) {
            match signals.sleep(backoff).await {
                Wake::Stop => return Ok(()),
                Wake::Reload => runner.reload(),
                Wake::Elapsed => {}
            }
            backoff = (backoff * 2).min(RECONNECT_MAX);
        }
        let connected = match DockerClient::connect().await {
            Ok(c) => c.ping().await.map(|()| c),
            Err(e) => Err(e),
        };
        let client = match connected {
            Ok(c) => c,
            Err(e) => {
                let why = e.to_string();
                if away.failed(&why, std::time::Instant::now()) {
                    warn!(
                        "Docker Engine not reachable ({why}); retrying every {} s at most",
                        RECONNECT_MAX.as_secs()
                    );
                } else {
                    tracing::debug!("Docker Engine still not reachable ({why})");
                }
                continue;
            }
        };
        if let Some((attempts, secs)) = away.ended(std::time::Instant::now()) {
            info!("Docker Engine reachable again after {attempts} failed attempt(s) over {secs} s");
        }
        let started = std::time::Instant::now();
        match runner.session(&client, signals).await {
            Exit::Stop => return Ok(()),
            Exit::Fatal(e) => return Err(e.into()),
            Exit::Reconnect => {}
        }
        // A session that lasted resets the backoff: Docker was back.
        if started.elapsed() > Duration::from_secs(30) {
            backoff = Duration::from_secs(1);
        }
    }
}

/// Docker being away, so that a reason is logged when it differs from the last one logged
/// (not at every attempt), and Docker's return once.
#[derive(Debug, Default)]
struct Outage {
    since: Option<std::time::Instant>,
    attempts: u32,
    logged: crate::logging::LastLine,
}

impl Outage {
    /// An attempt failed for `why` at `now`: whether to log it (not the last reason logged).
    fn failed(&mut self, why: &str, now: std::time::Instant) -> bool {
        self.since.get_or_insert(now);
        self.attempts += 1;
        self.logged.changed(why)
    }

    /// Docker answered at `now`: the failed attempts and the seconds the outage lasted, if
    /// there was one.
    fn ended(&mut self, now: std::time::Instant) -> Option<(u32, u64)> {
        let since = self.since.take()?;
        let attempts = std::mem::take(&mut self.attempts);
        self.logged.clear();
        Some((attempts, now.saturating_duration_since(since).as_secs()))
    }
}

#[cfg(test)]
mod tests;
