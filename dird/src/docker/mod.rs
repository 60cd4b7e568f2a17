//! Everything that talks to the Docker Engine (bollard): ingress discovery, service task
//! containers, published ports, and the event stream. Nothing else in dird talks to Docker.

pub mod facts;
pub mod raw;
pub mod sandbox;
pub mod swarm_view;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use bollard::query_parameters::{
    EventsOptions, InspectNetworkOptions, ListContainersOptions, ListServicesOptions,
};
use bollard::{ClientVersion, Docker, API_DEFAULT_VERSION};
use futures::{Stream, StreamExt};

pub use facts::{FactsError, SBOX_KEY, SERVICE_LABEL};

use crate::config::PortSpec;
use crate::discovery::SwarmNode;
use crate::node::TaskRef;
use crate::plan::Ingress;

/// Where Docker keeps the ingress sandbox's network namespace.
pub const SBOX_NETNS: &str = "/var/run/docker/netns/ingress_sbox";

/// The swarm's ingress network.
const INGRESS: &str = "ingress";

/// How long one Engine request may take to answer (bollard's own default).
const REQUEST_TIMEOUT_SECS: u64 = 120;
/// Container inspects of one listing under way at once, and how long each may take.
pub const INSPECTS: usize = 8;
pub const INSPECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("Docker Engine: {0}")]
    Api(#[from] bollard::errors::Error),
    #[error(transparent)]
    Raw(#[from] raw::RawError),
    #[error(transparent)]
    View(#[from] swarm_view::ViewError),
    #[error("Docker Engine: {what} took longer than {secs} s")]
    Slow { what: &'static str, secs: u64 },
    #[error("reading the ingress overlay's remote endpoints: {source}")]
    Overlay {
        #[source]
        source: crate::apply::ApplyError,
    },
    #[error("reading the ingress overlay's remote endpoints: the worker stopped: {0}")]
    OverlayLost(String),
    #[error("Docker socket path {0:?} is not UTF-8")]
    SocketPath(PathBuf),
    /// `/services` answered 503 on a node whose `/info` says it is a manager: the swarm has
    /// no leader (lost quorum), so the published ports cannot be known right now.
    #[error("this node is a swarm manager but cannot list the services (has the swarm lost its quorum?): {source}")]
    ManagerUnavailable {
        #[source]
        source: bollard::errors::Error,
    },
}

/// Where the ingress is for this node, or why it is not there yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngressState {
    Ready(Ingress),
    /// Not in a swarm, or the ingress sandbox is not up on this node yet.
    NotReady(String),
}

#[derive(Debug, Clone)]
pub struct DockerClient {
    docker: Docker,
    /// The Engine's Unix socket, for the requests bollard cannot make ([`raw`]).
    socket: PathBuf,
    /// The last view read from the ingress overlay (see [`swarm_view::from_overlay`]).
    overlay_view: std::sync::Arc<std::sync::Mutex<Vec<SwarmNode>>>,
}

/// What dird reacts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    ContainerStart {
        id: String,
    },
    /// A container joined the ingress network (`network connect`): counted, nothing more (its
    /// namespace is configured as its address arrives there, see
    /// [`crate::netns::arrivals`]).
    IngressJoined {
        container: String,
    },
    ContainerGone {
        id: String,
    },
    /// A service was created, updated or removed (its published ports may have changed).
    ServiceChanged,
    /// The ingress network was created or removed.
    NetworkChanged,
}

/// The namespace of the overlay network `id` (Docker names it `1-` and the id's first 10
/// characters), in the first of [`sandbox::NETNS_DIRS`] that exists; `None` for an id that
/// could steer the path.
pub fn overlay_netns(id: &str) -> Option<PathBuf> {
    let short: String = id.chars().take(10).collect();
    if short.len() != 10 || !short.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let dir = sandbox::NETNS_DIRS
        .iter()
        .map(Path::new)
        .find(|d| d.is_dir())?;
    Some(dir.join(format!("1-{short}")))
}

impl Event {
    /// A short name for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::ContainerStart { .. } => "container_start",
            Event::IngressJoined { .. } => "ingress_joined",
            Event::ContainerGone { .. } => "container_gone",
            Event::ServiceChanged => "service_changed",
            Event::NetworkChanged => "network_changed",
        }
    }
}

/// A container id as Docker prints it: lowercase hex. Anything else is refused, so that an id
/// can never steer a path or an argument.
pub fn valid_container_id(id: &str) -> bool {
    (12..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn filters(pairs: &[(&str, &[&str])]) -> Option<HashMap<String, Vec<String>>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect(),
    )
}

impl DockerClient {
    /// Connects to the Engine on `DOCKER_HOST` (a `unix://` path) or `/var/run/docker.sock`
    /// and negotiates the API version: bollard starts at its own version (1.53 in bollard 0.21)
    /// and lowers it to the Engine's `ApiVersion` when the Engine is older (Docker 20.10
    /// answers 1.41); it never raises it. Nothing is pinned because an Engine refuses versions
    /// outside its range with HTTP 400 (Engine 29 refuses anything below 1.44), so any fixed
    /// version locks out either old or new Engines.
    ///
    /// The negotiated version only shows in dird's own versioned request
    /// ([`DockerClient::swarm_view`]); an Engine whose minimum is above bollard's version would
    /// refuse that one. bollard's typed requests join an absolute path onto its `/v1.xx` base
    /// URL, which drops the prefix, so the Engine answers them in its current API version
    /// (Engine 29's events carry no `id`, `status` or `from`; [`DockerClient::events`] reads
    /// only `Type`, `Action` and `Actor.ID`).
    pub async fn connect() -> Result<DockerClient, DockerError> {
        DockerClient::connect_socket(&raw::socket_path()).await
    }

    /// [`DockerClient::connect`] to the Engine listening on `socket`.
    pub async fn connect_socket(socket: &Path) -> Result<DockerClient, DockerError> {
        let path = socket
            .to_str()
            .ok_or_else(|| DockerError::SocketPath(socket.to_path_buf()))?;
        let docker = Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)?
            .negotiate_version()
            .await?;
        Ok(DockerClient::with_docker(docker, socket))
    }

    /// A client around a bollard connection made elsewhere (whose version is kept as it is)
    /// to the Engine listening on `socket`.
    pub fn with_docker(docker: Docker, socket: &Path) -> DockerClient {
        DockerClient {
            docker,
            socket: socket.to_path_buf(),
            overlay_view: Default::default(),
        }
    }

    /// The API version of dird's versioned requests (the negotiated one after
    /// [`DockerClient::connect_socket`]).
    pub fn api_version(&self) -> (usize, usize) {
        let ClientVersion {
            major_version,
            minor_version,
        } = self.docker.client_version();
        (major_version, minor_version)
    }

    /// `GET /networks/<name>` (not verbose).
    async fn inspect_network(
        &self,
        name: &str,
    ) -> Result<bollard::models::NetworkInspect, bollard::errors::Error> {
        let opts = InspectNetworkOptions {
            verbose: false,
            scope: None,
        };
        self.docker.inspect_network(name, Some(opts)).await
    }

    pub async fn ping(&self) -> Result<(), DockerError> {
        self.docker.ping().await.map(drop).map_err(Into::into)
    }

    pub async fn ingress(&self) -> Result<IngressState, DockerError> {
        match self.inspect_network(INGRESS).await {
            Ok(net) => Ok(match facts::ingress_from_network(&net) {
                Ok(i) => IngressState::Ready(i),
                Err(e) => IngressState::NotReady(e.to_string()),
            }),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(IngressState::NotReady(
                "no ingress network: this node is not in a swarm".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The namespace of the ingress network's overlay on this node ([`overlay_netns`]).
    pub async fn ingress_overlay_netns(&self) -> Result<Option<PathBuf>, DockerError> {
        let net = self.inspect_network(INGRESS).await?;
        Ok(net.id.as_deref().and_then(overlay_netns))
    }

    /// Every node's ingress endpoint, as the swarm lists them: raw facts, which a
    /// load-balancer source assigns from ([`crate::discovery::swarm_view`] asks for them on its
    /// behalf).
    pub async fn swarm_view(&self) -> Result<Vec<SwarmNode>, DockerError> {
        let body = self.verbose_ingress().await?;
        let listed = swarm_view::parse(&body)?;
        if !listed.is_empty() {
            return Ok(listed);
        }
        // Newer engines (26.1) list no `ingress-endpoint`: every other node's comes from the
        // remote endpoints of the ingress overlay's namespace.
        let Some(ns) = swarm_view::network_id(&body).and_then(|id| overlay_netns(&id)) else {
            return Ok(listed);
        };
        let local_host = self.node_addr().await?;
        let peers = tokio::task::spawn_blocking(move || crate::apply::peers::overlay_peers(&ns))
            .await
            .map_err(|e| DockerError::OverlayLost(e.to_string()))?
            .map_err(|source| DockerError::Overlay { source })?;
        let mut last = self.overlay_view.lock().unwrap_or_else(|p| p.into_inner());
        let view = swarm_view::from_overlay(&body, local_host, &peers, &last)?;
        last.clone_from(&view);
        Ok(view)
    }

    /// Each service's load-balancer index on this node (`LocalLBIndex`), by service name, from
    /// the verbose ingress view, which workers answer too: raw facts
    /// ([`swarm_view::lb_indexes`]).
    pub async fn lb_indexes(&self) -> Result<BTreeMap<String, u32>, DockerError> {
        let body = self.verbose_ingress().await?;
        Ok(swarm_view::lb_indexes(&body)?)
    }

    /// `GET /networks/ingress?verbose=true`, as the Engine sends it.
    async fn verbose_ingress(&self) -> Result<String, DockerError> {
        Ok(raw::get(
            &self.socket,
            self.api_version(),
            "/networks/ingress?verbose=true",
        )
        .await?)
    }

    /// This node's underlay address in the swarm (`/info`: `Swarm.NodeAddr`).
    pub async fn node_addr(&self) -> Result<Option<std::net::Ipv4Addr>, DockerError> {
        let info = self.docker.info().await?;
        Ok(info
            .swarm
            .and_then(|s| s.node_addr)
            .and_then(|a| a.parse().ok()))
    }

    /// Running containers labelled with a service name, with their network namespaces (those
    /// [`DockerClient::task`] accepts): one list, then [`INSPECTS`] inspects at a time, each
    /// within [`INSPECT_TIMEOUT`]. A container whose inspect fails or takes longer (Docker
    /// holds a container that is starting or stopping locked) is left out of this list, with
    /// a line at debug: its own event, or the next audit, finds it.
    pub async fn service_tasks(&self) -> Result<Vec<TaskRef>, DockerError> {
        let opts = ListContainersOptions {
            filters: filters(&[("label", &[SERVICE_LABEL]), ("status", &["running"])]),
            ..Default::default()
        };
        let ids: Vec<String> = self
            .docker
            .list_containers(Some(opts))
            .await?
            .into_iter()
            .filter_map(|c| c.id)
            .collect();
        let inspected: Vec<(String, Result<Option<TaskRef>, String>)> = futures::stream::iter(ids)
            .map(|id| async move {
                let r = match tokio::time::timeout(INSPECT_TIMEOUT, self.task(&id)).await {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(_) => Err(format!("no inspect within {} s", INSPECT_TIMEOUT.as_secs())),
                };
                (id, r)
            })
            .buffer_unordered(INSPECTS)
            .collect()
            .await;
        let mut out = Vec::new();
        for (id, r) in inspected {
            match r {
                Ok(Some(t)) => out.push(t),
                Ok(None) => {}
                Err(e) => tracing::debug!(container = %id, "left out of this listing: {e}"),
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// One container as a task, if it is a running service task in a network namespace of its
    /// own ([`sandbox::task_from_inspect`]).
    pub async fn task(&self, id: &str) -> Result<Option<TaskRef>, DockerError> {
        if !valid_container_id(id) {
            return Ok(None);
        }
        let c = match self
            .docker
            .inspect_container(
                id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
        {
            Ok(c) => c,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(sandbox::task_from_inspect(id, &c))
    }

    /// The service task Docker gave the ingress address `ip` (its 12-digit id and its service),
    /// asked without inspecting the container, which Docker holds locked while it starts it:
    /// the ingress network's endpoints say whose the address is (by container id, or by
    /// container name for an endpoint not in its sandbox yet), the container list gives the
    /// id and the service label. `None` when no service task holds it.
    pub async fn ingress_holder(
        &self,
        ip: std::net::Ipv4Addr,
    ) -> Result<Option<(String, String)>, DockerError> {
        let net = self.inspect_network(INGRESS).await?;
        let Some(holder) = facts::endpoint_holder(&net, ip) else {
            return Ok(None);
        };
        let opts = ListContainersOptions {
            all: true,
            filters: filters(&[("label", &[SERVICE_LABEL])]),
            ..Default::default()
        };
        let listed = self.docker.list_containers(Some(opts)).await?;
        Ok(listed.iter().find_map(|c| {
            let id = c.id.as_deref().filter(|id| valid_container_id(id))?;
            let held = match &holder {
                facts::Holder::Container(full) => id == full,
                facts::Holder::Named(name) => c
                    .names
                    .iter()
                    .flatten()
                    .any(|n| n.strip_prefix('/') == Some(name.as_str())),
            };
            let service = c.labels.as_ref()?.get(SERVICE_LABEL)?;
            held.then(|| (id.chars().take(12).collect(), service.clone()))
        }))
    }

    /// Published ingress ports of the named services: (tcp, udp); `None` on a worker node,
    /// where the Swarm API cannot list services (there, [`DockerClient::lb_indexes`] and the
    /// sbox's MARK rules tell them: [`crate::plan::lb_ports`]). A manager answers 503 too when the swarm has
    /// no leader: `/info` (`Swarm.ControlAvailable`) tells the two apart, and a manager's 503
    /// is [`DockerError::ManagerUnavailable`].
    pub async fn published_ports(
        &self,
        names: &[String],
    ) -> Result<Option<(Vec<PortSpec>, Vec<PortSpec>)>, DockerError> {
        match self.docker.list_services(None::<ListServicesOptions>).await {
            Ok(services) => Ok(Some(facts::published_ports(&services, names))),
            Err(
                source @ bollard::errors::Error::DockerResponseServerError {
                    status_code: 503, ..
                },
            ) => {
                if self.is_manager().await? {
                    Err(DockerError::ManagerUnavailable { source })
                } else {
                    Ok(None)
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The Engine's firewall driver (`/info` `FirewallBackend.Driver`, Engine 28.1 and later:
    /// `iptables`, `nftables`, either with `+firewalld`); `None` when it does not say.
    pub async fn firewall_driver(&self) -> Result<Option<String>, DockerError> {
        let info = self.docker.info().await?;
        Ok(info
            .firewall_backend
            .and_then(|f| f.driver)
            .filter(|d| !d.is_empty()))
    }

    /// Whether this node is a swarm manager (`/info`: `Swarm.ControlAvailable`).
    pub async fn is_manager(&self) -> Result<bool, DockerError> {
        let info = self.docker.info().await?;
        Ok(info.swarm.and_then(|s| s.control_available) == Some(true))
    }

    /// The events dird reacts to; the stream ends when dockerd goes away.
    pub fn events(&self) -> impl Stream<Item = Result<Option<Event>, DockerError>> + '_ {
        let opts = EventsOptions {
            filters: filters(&[("type", &["container", "service", "network"])]),
            ..Default::default()
        };
        self.docker.events(Some(opts)).map(|r| {
            let m = r?;
            let action = m.action.unwrap_or_default();
            let (id, attributes) = m
                .actor
                .map(|a| (a.id.unwrap_or_default(), a.attributes.unwrap_or_default()))
                .unwrap_or_default();
            let attribute = |k: &str| attributes.get(k).map(String::as_str);
            use bollard::models::EventMessageTypeEnum as T;
            Ok(match (m.typ, action.as_str()) {
                (Some(T::CONTAINER), "start") => Some(Event::ContainerStart { id }),
                (Some(T::NETWORK), "connect") if attribute("name") == Some(INGRESS) => {
                    attribute("container").map(|c| Event::IngressJoined {
                        container: c.to_owned(),
                    })
                }
                (Some(T::CONTAINER), "die" | "destroy") => Some(Event::ContainerGone { id }),
                (Some(T::SERVICE), "create" | "update" | "remove") => Some(Event::ServiceChanged),
                // Only the ingress shapes dird's rules (a re-created ingress is a new subnet,
                // a new sbox): other networks coming and going change nothing.
                (Some(T::NETWORK), "create" | "destroy") if attribute("name") == Some(INGRESS) => {
                    Some(Event::NetworkChanged)
                }
                _ => None,
            })
        })
    }

    /// This node's swarm state as `/info` reports it (`Swarm.LocalNodeState`: `active`,
    /// `inactive`, `pending`, `error`, `locked`; empty when the Engine reports none).
    pub async fn local_node_state(&self) -> Result<String, DockerError> {
        let info = self.docker.info().await?;
        Ok(info
            .swarm
            .and_then(|s| s.local_node_state)
            .map(|s| s.to_string())
            .unwrap_or_default())
    }

    /// The IPv4 subnets of the network `name` (IPAM config) with their gateways; `None` when
    /// the Engine has no such network. Entries that are not IPv4 CIDRs are left out.
    pub async fn network_ipam(
        &self,
        name: &str,
    ) -> Result<Option<Vec<(ipnet::Ipv4Net, Option<std::net::Ipv4Addr>)>>, DockerError> {
        let net = match self.inspect_network(name).await {
            Ok(net) => net,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let configs = net.ipam.and_then(|i| i.config).unwrap_or_default();
        Ok(Some(
            configs
                .iter()
                .filter_map(|c| {
                    let subnet = c.subnet.as_deref()?.parse::<ipnet::Ipv4Net>().ok()?;
                    let gateway = c.gateway.as_deref().and_then(|g| g.parse().ok());
                    Some((subnet.trunc(), gateway))
                })
                .collect(),
        ))
    }
}
