//! Building the node from Docker's facts, logging applies, `--uninstall`, and the swarm's view
//! for a load-balancer source that assigns from it (`auto`). Blocking work (namespace threads,
//! iptables) runs on tokio's blocking pool.

use std::sync::Mutex;

use tracing::{error, info, warn};

use super::Launch;
use crate::apply::backend::{self, BackendError, Choice};
use crate::apply::{ApplyError, IptablesTools, Outcome, TaskOutcome};
use crate::config::{Config, ConfigError, PortSpec};
use crate::discovery::{self, SwarmNode};
use crate::docker::{DockerClient, DockerError};
use crate::node::{self, Built, Discovered, Node, SboxOutcome, TaskRef};
use crate::plan::Ingress;
use crate::sysctl_files;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// `auto` and the swarm lists no ingress endpoint yet, or `--services` without ports on a
    /// manager that cannot list the services (no quorum).
    #[error("{0}")]
    Waiting(String),
    /// No usable iptables backend (see [`BackendError`]); already logged by [`build_node`].
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// The last backend line logged (choice or error), so that each is logged once, not on
/// every rebuild or retry.
static LAST_BACKEND_REPORT: Mutex<Option<String>> = Mutex::new(None);

/// Whether `line` differs from the last backend line (and records it).
fn backend_report_is_new(line: &str) -> bool {
    let mut last = LAST_BACKEND_REPORT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if last.as_deref() == Some(line) {
        return false;
    }
    *last = Some(line.to_owned());
    true
}

/// Docker's iptables backend (see [`backend::decide`]), read on the blocking pool; `client`:
/// the Engine, asked for its firewall driver (not asked, or not answering: the rules decide).
async fn detect_backend(
    launch: &Launch,
    client: Option<&DockerClient>,
) -> Result<Choice, BackendError> {
    let firewall = match client {
        Some(c) => c.firewall_driver().await.unwrap_or_else(|e| {
            tracing::debug!("the Engine's firewall driver is not known: {e}");
            None
        }),
        None => None,
    };
    let (sbox, host) = (launch.sbox.clone(), launch.host_netns.clone());
    tokio::task::spawn_blocking(move || {
        let sbox = Some(sbox.as_path()).filter(|p| p.exists());
        backend::detect_with(
            &backend::Override::from_env(),
            host.as_deref(),
            sbox,
            firewall,
        )
    })
    .await
    .unwrap_or(Err(BackendError::Lost))
}

/// The tools for the detected backend; logs the choice at info and an error at error level,
/// each only when it differs from the last one logged.
async fn backend_tools(
    launch: &Launch,
    cfg: &Config,
    client: &DockerClient,
) -> Result<IptablesTools, BackendError> {
    match detect_backend(launch, Some(client)).await {
        Ok(choice) => {
            let line = format!("iptables backend: {choice}");
            if backend_report_is_new(&line) {
                info!("{line}");
            }
            Ok(choice.tools(cfg.iptables_wait))
        }
        Err(e) => {
            if backend_report_is_new(&e.to_string()) {
                error!("{e}");
            }
            Err(e)
        }
    }
}

/// With `--services` and no port flags, those services' published ports (tcp, udp): none on a
/// worker, which cannot list services; [`BuildError::Waiting`] on a manager that cannot list
/// them either (no quorum), so that the daemon keeps the load balancers it has.
async fn published_ports(
    client: &DockerClient,
    cfg: &Config,
) -> Result<Option<(Vec<PortSpec>, Vec<PortSpec>)>, BuildError> {
    if !node::needs_published_ports(&cfg.rules) {
        return Ok(None);
    }
    match client.published_ports(&cfg.rules.services).await {
        Ok(Some((tcp, udp))) => {
            let list = |v: &[PortSpec]| {
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            info!(
                "--services without ports: using the published ports of {}: tcp [{}] udp [{}]",
                cfg.rules.services.join(","),
                list(&tcp),
                list(&udp)
            );
            Ok(Some((tcp, udp)))
        }
        Ok(None) => {
            // Only a load balancer needs the ports; tasks are configured all the same.
            warn!("--services without ports: this node is a worker and cannot read the services' published ports from the Swarm API; its load-balancer rules stay off (give --tcp-ports/--udp-ports to enable them on workers)");
            Ok(Some((Vec::new(), Vec::new())))
        }
        Err(e @ DockerError::ManagerUnavailable { .. }) => Err(BuildError::Waiting(format!(
            "--services without ports: {e}"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The node's configuration for this ingress: reads from Docker what [`Node::build`] needs
/// (published ports when `--services` has no ports, the swarm's view when the load-balancer
/// source needs it: `view` when the caller has read it already, else read now), the sysctl
/// files and the iptables backend, builds the node and logs its load balancers.
pub async fn build_node(
    client: &DockerClient,
    launch: &Launch,
    cfg: &Config,
    ingress: Ingress,
    view: Option<Vec<SwarmNode>>,
) -> Result<Node, BuildError> {
    if let Some(warning) = cfg.rules.lbs.warning() {
        warn!("{warning}");
    }
    let published = published_ports(client, cfg).await?;
    let sysctl_files = if cfg.rules.performance {
        sysctl_files::read_sbox_files(&launch.sysctl_dir).unwrap_or_else(|e| {
            error!("{e}; not applying sysctl files");
            Vec::new()
        })
    } else {
        Vec::new()
    };
    // Nothing is installed without a backend: the caller gets the error and installs nothing.
    let tools = backend_tools(launch, cfg, client).await?;
    let swarm = discovery::swarm_view(&cfg.rules.lbs, view, client)
        .await
        .map_err(|e| BuildError::Waiting(format!("no load balancers discovered yet: {e}")))?;
    if swarm.as_ref().is_some_and(Vec::is_empty) {
        return Err(BuildError::Waiting(
            "the swarm lists no load balancer (ingress-endpoint) yet, and the ingress overlay knows no other node's".into(),
        ));
    }
    let discovered = Discovered {
        published,
        swarm: swarm.unwrap_or_default(),
        sysctl_files,
        tools,
    };
    let Built {
        node,
        unmatched_hosts,
    } = Node::build(&cfg.rules, ingress, &discovered)?;
    for c in &unmatched_hosts {
        warn!("--load-balancer-hosts {c} matches no node of the swarm");
    }
    if node.lbs.forced_indexed {
        info!(
            "ingress subnet {} is larger than /24: using indexed IDs",
            node.ingress.subnet
        );
    }
    for m in &node.lbs.members {
        let this = if m.ip == node.ingress.node_ip {
            " <== this node"
        } else {
            ""
        };
        info!("load balancer {} has ID {}{this}", m.ip, m.id);
    }
    Ok(node)
}

pub(super) fn log_sbox(outcome: &SboxOutcome) {
    match outcome {
        SboxOutcome::LoadBalancer { id, outcome } if outcome.changed() => info!(
            netns = "ingress_sbox",
            "load-balancer rules installed (ID {id}): {}",
            describe(outcome)
        ),
        SboxOutcome::LoadBalancer { .. } => tracing::debug!(
            netns = "ingress_sbox",
            "load-balancer rules already in place"
        ),
        SboxOutcome::NotLoadBalancer { outcome } if outcome.changed() => info!(
            netns = "ingress_sbox",
            "not a load balancer: removed old load-balancer rules"
        ),
        SboxOutcome::NotLoadBalancer { .. } => tracing::debug!(
            netns = "ingress_sbox",
            "not a load balancer: nothing to install"
        ),
    }
}

fn describe(o: &Outcome) -> String {
    format!(
        "{} iptables batch(es), {} routing change(s), {} sysctl(s)",
        o.iptables_batches, o.routing_changes, o.sysctls_written
    )
}

pub(super) fn log_task(t: &TaskRef, outcome: &TaskOutcome) {
    let (id, service, netns) = (&t.id, &t.service, t.netns.display());
    match outcome {
        TaskOutcome::Applied { interface, outcome } if outcome.changed() => {
            info!(container = %id, service = %service, netns = %netns, "configured (ingress interface {interface}): {}", describe(outcome))
        }
        TaskOutcome::Applied { .. } => {
            tracing::debug!(container = %id, service = %service, "already configured")
        }
        TaskOutcome::NoIngressInterface => {
            tracing::debug!(container = %id, service = %service, "no interface in the ingress subnet; skipped")
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UninstallError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// `--uninstall`: the sbox, then every running service task (when Docker is reachable),
/// through the backend Docker uses (nothing is removed when it cannot be told).
pub async fn uninstall_all(launch: &Launch, cfg: &Config) -> Result<(), UninstallError> {
    let client = DockerClient::connect().await;
    let choice = detect_backend(launch, client.as_ref().ok()).await?;
    info!("iptables backend: {choice}");
    let tools = choice.tools(cfg.iptables_wait);
    if launch.sbox.exists() {
        let (sbox, t) = (launch.sbox.clone(), tools.clone());
        let r = tokio::task::spawn_blocking(move || node::uninstall_sbox(&sbox, &t)).await;
        match r {
            Ok(Ok(o)) => info!(
                netns = "ingress_sbox",
                "load-balancer rules removed ({})",
                describe(&o)
            ),
            Ok(Err(e)) => return Err(e.into()),
            Err(e) => error!("worker failed: {e}"),
        }
    } else {
        warn!("no ingress_sbox at {}", launch.sbox.display());
    }
    let tasks = match client {
        Ok(c) => c.service_tasks().await.unwrap_or_else(|e| {
            warn!("cannot list containers ({e}); task rules left in place");
            Vec::new()
        }),
        Err(e) => {
            warn!("Docker Engine not reachable ({e}); task rules left in place");
            Vec::new()
        }
    };
    for t in tasks {
        let tt = t.clone();
        let tl = tools.clone();
        match tokio::task::spawn_blocking(move || node::uninstall_task(&tt, &tl)).await {
            Ok(Ok(o)) if o.changed() => {
                info!(container = %t.id, service = %t.service, "task rules removed")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => error!("{e}"),
            Err(e) => error!("worker failed: {e}"),
        }
    }
    Ok(())
}

/// For a load-balancer source that assigns from the swarm's view (`auto`): the view, read
/// now, when it gives another set of load balancers than `node`'s (the rebuild then builds
/// from it rather than reading it again); `None` when it gives the same set, or cannot be read
/// or assigned (logged).
pub async fn view_changed(client: &DockerClient, node: &Node) -> Option<Vec<SwarmNode>> {
    let view = match discovery::swarm_view(&node.rules.lbs, None, client).await {
        Ok(view) => view?,
        Err(e) => {
            warn!("cannot read the swarm's ingress view: {e}");
            return None;
        }
    };
    let rules = &node.rules;
    match rules
        .lbs
        .assign(node.ingress, &view, rules.indexed_ids, rules.id_encoding)
    {
        Ok(set) if set.lbs != node.lbs => {
            let ips = |l: &crate::ids::LbSet| {
                l.members
                    .iter()
                    .map(|m| m.ip.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            info!(
                "swarm load balancers changed: [{}] -> [{}]",
                ips(&node.lbs),
                ips(&set.lbs)
            );
            Some(view)
        }
        Ok(_) => None,
        Err(e) => {
            error!("{e}; keeping the previous load balancers");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What `f` logs at `level` and above.
    fn logged(level: tracing::Level, f: impl FnOnce()) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = out.0.lock().unwrap().clone();
        String::from_utf8(text).unwrap()
    }

    #[test]
    fn a_task_off_the_ingress_is_logged_at_debug_only() {
        let t = TaskRef {
            id: "8dbf715e75e5".into(),
            service: "web".into(),
            netns: PathBuf::from("/var/run/docker/netns/2f3c4d5e6f70"),
        };
        let skip = || log_task(&t, &TaskOutcome::NoIngressInterface);
        assert_eq!(logged(tracing::Level::INFO, skip), "");
        let debug = logged(tracing::Level::DEBUG, skip);
        assert!(
            debug.contains("no interface in the ingress subnet"),
            "{debug}"
        );
    }
}
