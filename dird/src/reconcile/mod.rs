//! The daemon loop: start-up sync, container events, periodic audit, sbox rebuild detection,
//! configuration reload. It decides *what* to apply (through [`crate::node::Node`]), never how.

mod sync;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};

use crate::config::{self, Config};
use crate::docker::{DockerClient, Event, IngressState, SBOX_NETNS};
use crate::plan::Ingress;

pub use sync::{build_node, full_sync, uninstall_all, BuildError};

/// How often `--ingress-gateway-ips auto` re-reads the swarm's view (network events also do).
pub const AUTO_POLL: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// How the daemon was started, for reloads.
#[derive(Debug, Clone)]
pub struct Launch {
    pub argv: Vec<String>,
    pub legacy_env: Option<String>,
    pub sbox: PathBuf,
    pub sysctl_dir: PathBuf,
}

impl Launch {
    pub fn new(argv: Vec<String>, legacy_env: Option<String>) -> Launch {
        Launch {
            argv,
            legacy_env,
            sbox: PathBuf::from(SBOX_NETNS),
            sysctl_dir: PathBuf::from("/etc/sysctl.d"),
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

fn reload(launch: &Launch, cfg: &mut Config) {
    match config::load(&launch.argv, launch.legacy_env.as_deref()) {
        Ok(new) => {
            info!("configuration reloaded (SIGHUP)");
            *cfg = new;
        }
        Err(e) => error!("configuration not reloaded, keeping the previous one: {e}"),
    }
}

/// Runs until SIGTERM/SIGINT; installed rules are left in place (as the original daemon).
pub async fn run(launch: Launch, mut cfg: Config) -> Result<(), DaemonError> {
    let mut signals = Signals::new()?;
    let mut backoff = Duration::from_secs(1);
    let mut first = true;
    'connect: loop {
        // Every retry waits (with backoff), whatever failed: dockerd gone, an API error in a
        // sync, the event stream ending.
        if !std::mem::take(&mut first) {
            match signals.sleep(backoff).await {
                Wake::Stop => return Ok(()),
                Wake::Reload => reload(&launch, &mut cfg),
                Wake::Elapsed => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
        let connected = match DockerClient::connect().await {
            Ok(c) => c.ping().await.map(|()| c),
            Err(e) => Err(e),
        };
        let client = match connected {
            Ok(c) => c,
            Err(e) => {
                warn!(
                    "Docker Engine not reachable ({e}); retrying in {}s",
                    backoff.as_secs()
                );
                continue 'connect;
            }
        };

        // Wait for the swarm's ingress on this node.
        let ingress: Ingress = loop {
            match client.ingress().await {
                Ok(IngressState::Ready(i)) => break i,
                Ok(IngressState::NotReady(why)) => {
                    info!("waiting for the swarm ingress: {why}; checking again in 5s")
                }
                Err(e) => {
                    warn!("lost the Docker Engine while waiting for the ingress: {e}");
                    continue 'connect;
                }
            }
            match signals.sleep(Duration::from_secs(5)).await {
                Wake::Stop => return Ok(()),
                Wake::Reload => reload(&launch, &mut cfg),
                Wake::Elapsed => {}
            }
        };
        info!(
            "ingress subnet {}, this node's ingress IP {}",
            ingress.subnet, ingress.node_ip
        );

        let mut node = match build_node(&client, &launch, &cfg, ingress).await {
            Ok(n) => n,
            Err(sync::BuildError::Config(e)) => return Err(e.into()),
            Err(sync::BuildError::Docker(e)) => {
                warn!("Docker Engine: {e}");
                continue 'connect;
            }
            Err(sync::BuildError::Waiting(why)) => {
                info!("{why}; checking again");
                continue 'connect;
            }
            // Logged once by build_node; retried with the backoff.
            Err(sync::BuildError::Backend(_)) => continue 'connect,
        };
        if full_sync(&client, &launch, &node).await.is_err() {
            continue 'connect;
        }
        backoff = Duration::from_secs(1);

        let mut events = Box::pin(client.events());
        let mut audit = tokio::time::interval(if cfg.resync_interval.is_zero() {
            Duration::from_secs(86400 * 365)
        } else {
            cfg.resync_interval
        });
        audit.reset();
        let mut sbox_watch = tokio::time::interval(Duration::from_secs(2));
        let mut sbox_id = sbox_identity(&launch.sbox);
        let mut view_poll = tokio::time::interval(AUTO_POLL);
        view_poll.reset();
        loop {
            let mut rebuild = false;
            tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(Some(Event::ContainerStart { id }))) => sync::start_event(&client, &node, &id).await,
                    Some(Ok(Some(Event::ContainerGone { id }))) => tracing::debug!(container = %id, "container gone; forgotten"),
                    Some(Ok(Some(Event::ServiceChanged))) => rebuild = !cfg.rules.services.is_empty() && !cfg.rules.has_port_filter(),
                    Some(Ok(Some(Event::NetworkChanged))) => rebuild = true,
                    Some(Ok(None)) => {}
                    Some(Err(e)) => {
                        warn!("Docker event stream broke ({e}); reconnecting and resyncing");
                        continue 'connect;
                    }
                    None => {
                        warn!("Docker event stream ended; reconnecting and resyncing");
                        continue 'connect;
                    }
                },
                _ = audit.tick() => {
                    if full_sync(&client, &launch, &node).await.is_err() {
                        continue 'connect;
                    }
                }
                _ = sbox_watch.tick() => {
                    let now = sbox_identity(&launch.sbox);
                    if now != sbox_id {
                        info!("ingress_sbox was re-created; reinstalling the load-balancer rules");
                        sbox_id = now;
                        rebuild = true;
                    }
                }
                _ = view_poll.tick(), if cfg.rules.auto_gateways => {
                    rebuild = sync::view_changed(&client, &node).await;
                }
                _ = signals.hup.recv() => {
                    reload(&launch, &mut cfg);
                    rebuild = true;
                }
                _ = signals.term.recv() => return Ok(()),
                _ = signals.int.recv() => return Ok(()),
            }
            if rebuild {
                // The ingress may have moved (network re-created), ports may have changed.
                let ingress = match client.ingress().await {
                    Ok(IngressState::Ready(i)) => i,
                    Ok(IngressState::NotReady(why)) => {
                        info!("ingress not ready: {why}");
                        continue 'connect;
                    }
                    Err(e) => {
                        warn!("Docker Engine: {e}");
                        continue 'connect;
                    }
                };
                node = match build_node(&client, &launch, &cfg, ingress).await {
                    Ok(n) => n,
                    Err(sync::BuildError::Config(e)) => {
                        error!("{e}; keeping the previous configuration");
                        continue;
                    }
                    Err(sync::BuildError::Docker(e)) => {
                        warn!("Docker Engine: {e}");
                        continue 'connect;
                    }
                    Err(sync::BuildError::Waiting(why)) => {
                        info!("{why}; keeping the previous load balancers");
                        continue;
                    }
                    // Logged once by build_node; the previous node is dropped so that nothing
                    // more is installed until the backend can be told again.
                    Err(sync::BuildError::Backend(_)) => continue 'connect,
                };
                if full_sync(&client, &launch, &node).await.is_err() {
                    continue 'connect;
                }
            }
        }
    }
}
