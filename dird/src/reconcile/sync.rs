//! Building the node from Docker's facts, logging applies, `--uninstall`, and the swarm's view
//! for a load-balancer source that assigns from it (`auto`). Blocking work (namespace threads,
//! iptables) runs on tokio's blocking pool.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::Launch;
use crate::apply::backend::{self, BackendError, Choice};
use crate::apply::{ApplyError, IptablesTools, Outcome, SysctlRoot, TaskOutcome};
use crate::config::{Config, ConfigError, PortSpec};
use crate::discovery::{self, SwarmNode};
use crate::docker::{DockerClient, DockerError};
use crate::logging::LastLine;
use crate::node::{self, Built, Discovered, Node, SboxOutcome, TaskRef};
use crate::plan::{lb_ports, Ingress};
use crate::sysctl_files;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// `auto` and the swarm lists no ingress endpoint yet, or `--services` without ports on a
    /// manager that cannot list the services (no quorum) or on a worker that cannot read them
    /// from the ingress view and its sbox.
    #[error("{0}")]
    Waiting(String),
    /// No usable iptables backend (see [`BackendError`]); already logged by [`build_node`]
    /// (through the runner's [`BackendLog`]).
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// The last iptables-backend line logged (the choice, or why there is none), so that each is
/// logged once rather than at every rebuild or retry. The runner keeps one for its life and
/// hands a clone (the same line) to every rebuild, which runs as a job of its own.
#[derive(Debug, Clone, Default)]
pub struct BackendLog(Arc<Mutex<LastLine>>);

impl BackendLog {
    /// Whether `line` differs from the last backend line (and records it).
    fn is_new(&self, line: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .changed(line)
    }
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
/// each only when it differs from the last one in `log`.
async fn backend_tools(
    launch: &Launch,
    cfg: &Config,
    client: &DockerClient,
    log: &BackendLog,
) -> Result<IptablesTools, BackendError> {
    match detect_backend(launch, Some(client)).await {
        Ok(choice) => {
            let line = format!("iptables backend: {choice}");
            if log.is_new(&line) {
                info!("{line}");
            }
            Ok(choice.tools(cfg.iptables_wait))
        }
        Err(e) => {
            if log.is_new(&e.to_string()) {
                error!("{e}");
            }
            Err(e)
        }
    }
}

/// The published ports (tcp, udp) as a rebuild reads them.
type Ports = (Vec<PortSpec>, Vec<PortSpec>);

/// How long reading the sbox's MARK rules may take (its `iptables-save` is killed then).
const SBOX_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a worker cannot tell the published ports from the ingress view and its sbox.
#[derive(Debug, thiserror::Error)]
pub enum SboxPortsError {
    #[error("cannot read the services' load-balancer indexes from the ingress view: {source}")]
    View {
        #[source]
        source: DockerError,
    },
    #[error("cannot read ingress_sbox's MARK rules: {source}")]
    Sbox {
        #[source]
        source: ApplyError,
    },
    #[error("reading ingress_sbox's MARK rules: the worker stopped: {source}")]
    Lost {
        #[source]
        source: tokio::task::JoinError,
    },
}

/// "tcp [8080] udp [5353]".
fn describe_ports((tcp, udp): (&[PortSpec], &[PortSpec])) -> String {
    let list = |v: &[PortSpec]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    format!("tcp [{}] udp [{}]", list(tcp), list(udp))
}

/// The published ports of the services `names` as a worker tells them (see
/// [`crate::plan::lb_ports`]): each service's load-balancer index from the verbose ingress
/// view, and the sbox's MARK rules for those indexes, read with `tools` within
/// [`SBOX_READ_TIMEOUT`]. `None` without an sbox (this node is no load balancer yet); none
/// for a service the view does not list or whose rules are not in the sbox yet.
async fn sbox_ports(
    client: &DockerClient,
    sbox: &Path,
    names: &[String],
    tools: &IptablesTools,
) -> Result<Option<Ports>, SboxPortsError> {
    if !sbox.exists() {
        return Ok(None);
    }
    let indexes = client
        .lb_indexes()
        .await
        .map_err(|source| SboxPortsError::View { source })?;
    if !names.iter().any(|n| indexes.contains_key(n)) {
        return Ok(Some((Vec::new(), Vec::new())));
    }
    let path = sbox.to_path_buf();
    let tools = IptablesTools {
        deadline: Some(Instant::now() + SBOX_READ_TIMEOUT),
        ..tools.clone()
    };
    let state = tokio::task::spawn_blocking(move || {
        crate::apply::read_iptables(&path, &format!("ingress_sbox {}", path.display()), &tools)
    })
    .await
    .map_err(|source| SboxPortsError::Lost { source })?
    .map_err(|source| SboxPortsError::Sbox { source })?;
    Ok(Some(lb_ports::published_ports(&state, &indexes, names)))
}

/// The rebuild waits: the published ports cannot be read now (`why`).
fn waiting(why: impl std::fmt::Display) -> BuildError {
    BuildError::Waiting(format!("--services without ports: {why}"))
}

/// With `--services` and no port flags, those services' published ports (tcp, udp) and
/// whether they came from the sbox: on a manager from the Swarm API's service list; on a
/// worker, which cannot list services, from the ingress view and the sbox's MARK rules
/// ([`sbox_ports`], read with `tools`; none without an sbox at `sbox`).
/// [`BuildError::Waiting`] on a manager that cannot list them (no quorum) and on a worker
/// that cannot read them, so that the daemon keeps the load balancers it has.
async fn published_ports(
    client: &DockerClient,
    sbox: &Path,
    cfg: &Config,
    tools: &IptablesTools,
) -> Result<(Option<Ports>, bool), BuildError> {
    if !node::needs_published_ports(&cfg.rules) {
        return Ok((None, false));
    }
    let services = cfg.rules.services.join(",");
    let (ports, from_sbox) = match client.published_ports(&cfg.rules.services).await {
        Ok(Some(ports)) => (ports, false),
        // A worker: only a load balancer needs the ports; tasks are configured all the same.
        Ok(None) => match sbox_ports(client, sbox, &cfg.rules.services, tools).await {
            Ok(Some(ports)) => (ports, true),
            Ok(None) => {
                info!("--services without ports: no ingress_sbox on this worker yet, so no published ports of {services} to read; its load-balancer rules stay off until it has one");
                return Ok((Some((Vec::new(), Vec::new())), true));
            }
            Err(e) => return Err(waiting(e)),
        },
        Err(e @ DockerError::ManagerUnavailable { .. }) => return Err(waiting(e)),
        Err(e) => return Err(e.into()),
    };
    let whence = if from_sbox {
        " from the ingress view and the sbox's MARK rules (this node is a worker)"
    } else {
        ""
    };
    info!(
        "--services without ports: using the published ports of {services}{whence}: {}",
        describe_ports((&ports.0, &ports.1))
    );
    Ok((Some(ports), from_sbox))
}

/// For a load balancer whose ports come from the sbox ([`Node::ports_from_sbox`]): whether
/// they differ now (logged); false when they cannot be read now (at debug: the next poll tries
/// again). A node that is no load balancer needs no ports (a rebuild that makes it one reads
/// them).
async fn ports_changed(client: &DockerClient, sbox: &Path, node: &Node) -> bool {
    if !node.ports_from_sbox || node.lbs.id_of(node.ingress.node_ip).is_none() {
        return false;
    }
    let services = &node.rules.services;
    let now = match sbox_ports(client, sbox, services, &node.tools).await {
        Ok(ports) => ports.unwrap_or_default(),
        Err(e) => {
            tracing::debug!("--services without ports: not re-read: {e}");
            return false;
        }
    };
    let before = (&node.rules.tcp_ports[..], &node.rules.udp_ports[..]);
    if (&now.0[..], &now.1[..]) == before {
        return false;
    }
    info!(
        "--services without ports: the published ports of {} changed: {} -> {}",
        services.join(","),
        describe_ports(before),
        describe_ports((&now.0, &now.1))
    );
    true
}

/// The node's configuration for this ingress: reads from Docker what [`Node::build`] needs
/// (published ports when `--services` has no ports, the swarm's view when the load-balancer
/// source needs it: `view` when the caller has read it already, else read now), the sysctl
/// files and the iptables backend (logged when it differs from the last line in
/// `backend_log`), builds the node, which writes its sysctls below `cfg`'s `--sysctl-root`,
/// and logs its load balancers.
pub async fn build_node(
    client: &DockerClient,
    launch: &Launch,
    cfg: &Config,
    ingress: Ingress,
    view: Option<Vec<SwarmNode>>,
    backend_log: &BackendLog,
) -> Result<Node, BuildError> {
    if let Some(warning) = cfg.rules.lbs.warning() {
        warn!("{warning}");
    }
    let sysctl_files = if cfg.rules.performance {
        sysctl_files::read_sbox_files(&launch.sysctl_dir).unwrap_or_else(|e| {
            error!("{e}; not applying sysctl files");
            Vec::new()
        })
    } else {
        Vec::new()
    };
    // Nothing is installed without a backend: the caller gets the error and installs nothing.
    let tools = backend_tools(launch, cfg, client, backend_log).await?;
    let (published, ports_from_sbox) = published_ports(client, &launch.sbox, cfg, &tools).await?;
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
        ports_from_sbox,
        swarm: swarm.unwrap_or_default(),
        sysctl_files,
        tools,
        sysctl_root: SysctlRoot::new(&cfg.sysctl_root),
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

/// What the poll re-reads (every [`super::AUTO_POLL`]): for a load-balancer source that
/// assigns from the swarm's view (`auto`), the view, and for a node whose ports come from the
/// sbox (a worker, [`Node::ports_from_sbox`]), those ports, from the sbox at `sbox`. The view
/// to rebuild from when either changed (the view read now; empty for a source that needs
/// none, which ignores it); `None` when nothing changed, or the view cannot be read or
/// assigned (logged).
pub async fn view_changed(
    client: &DockerClient,
    sbox: &Path,
    node: &Node,
) -> Option<Vec<SwarmNode>> {
    let view = match discovery::swarm_view(&node.rules.lbs, None, client).await {
        Ok(view) => view,
        Err(e) => {
            warn!("cannot read the swarm's ingress view: {e}");
            return None;
        }
    };
    let lbs = view.as_ref().is_some_and(|v| lbs_changed(node, v));
    if lbs || ports_changed(client, sbox, node).await {
        return Some(view.unwrap_or_default());
    }
    None
}

/// Whether `view` gives another set of load balancers than `node`'s (logged); false when it
/// cannot be assigned (logged).
fn lbs_changed(node: &Node, view: &[SwarmNode]) -> bool {
    let rules = &node.rules;
    match rules
        .lbs
        .assign(node.ingress, view, rules.indexed_ids, rules.id_encoding)
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
            true
        }
        Ok(_) => false,
        Err(e) => {
            error!("{e}; keeping the previous load balancers");
            false
        }
    }
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
