//! Everything that talks to the Docker Engine (bollard): ingress discovery, service task
//! containers, published ports, and the event stream. Nothing else in dird talks to Docker.

pub mod facts;
pub mod raw;
pub mod swarm_view;

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::query_parameters::{
    EventsOptions, InspectNetworkOptions, ListContainersOptions, ListServicesOptions,
};
use bollard::Docker;
use futures::{Stream, StreamExt};

pub use facts::{FactsError, SBOX_KEY, SERVICE_LABEL};

use crate::config::PortSpec;
use crate::node::TaskRef;
use crate::plan::Ingress;

/// Where Docker keeps the ingress sandbox's network namespace.
pub const SBOX_NETNS: &str = "/var/run/docker/netns/ingress_sbox";

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("Docker Engine: {0}")]
    Api(#[from] bollard::errors::Error),
    #[error(transparent)]
    Raw(#[from] raw::RawError),
    #[error(transparent)]
    View(#[from] swarm_view::ViewError),
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
}

/// What dird reacts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    ContainerStart {
        id: String,
    },
    ContainerGone {
        id: String,
    },
    /// A service was created, updated or removed (its published ports may have changed).
    ServiceChanged,
    /// A network was created or removed (the ingress may have been rebuilt).
    NetworkChanged,
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
    /// Connects through `DOCKER_HOST` or the local socket, negotiating the API version (Docker
    /// 20.10 speaks 1.41).
    pub async fn connect() -> Result<DockerClient, DockerError> {
        let docker = Docker::connect_with_local_defaults()?
            .negotiate_version()
            .await?;
        Ok(DockerClient { docker })
    }

    pub async fn ping(&self) -> Result<(), DockerError> {
        self.docker.ping().await.map(drop).map_err(Into::into)
    }

    pub async fn ingress(&self) -> Result<IngressState, DockerError> {
        let opts = InspectNetworkOptions {
            verbose: false,
            scope: None,
        };
        match self.docker.inspect_network("ingress", Some(opts)).await {
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

    /// Every node's ingress endpoint, as the swarm lists them (for `--ingress-gateway-ips auto`).
    pub async fn swarm_view(&self) -> Result<Vec<crate::ids::auto::SwarmNode>, DockerError> {
        let v = self.docker.client_version();
        let body = raw::get(
            (v.major_version, v.minor_version),
            "/networks/ingress?verbose=true",
        )
        .await?;
        Ok(swarm_view::parse(&body)?)
    }

    /// Running containers labelled with a service name, with their network namespaces.
    pub async fn service_tasks(&self) -> Result<Vec<TaskRef>, DockerError> {
        let opts = ListContainersOptions {
            filters: filters(&[("label", &[SERVICE_LABEL]), ("status", &["running"])]),
            ..Default::default()
        };
        let mut out = Vec::new();
        for c in self.docker.list_containers(Some(opts)).await? {
            if let Some(id) = c.id {
                if let Some(t) = self.task(&id).await? {
                    out.push(t);
                }
            }
        }
        Ok(out)
    }

    /// One container as a task, if it is a running service task.
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
        let service = c
            .config
            .as_ref()
            .and_then(|cfg| cfg.labels.as_ref())
            .and_then(|l| l.get(SERVICE_LABEL))
            .cloned();
        let pid = c
            .state
            .as_ref()
            .filter(|s| s.running == Some(true))
            .and_then(|s| s.pid)
            .filter(|p| *p > 0);
        Ok(match (service, pid) {
            (Some(service), Some(pid)) => Some(TaskRef {
                id: id.chars().take(12).collect(),
                service,
                netns: PathBuf::from(format!("/proc/{pid}/ns/net")),
            }),
            _ => None,
        })
    }

    /// Published ingress ports of the named services: (tcp, udp); `None` on a worker node,
    /// where the Swarm API cannot list services.
    pub async fn published_ports(
        &self,
        names: &[String],
    ) -> Result<Option<(Vec<PortSpec>, Vec<PortSpec>)>, DockerError> {
        match self.docker.list_services(None::<ListServicesOptions>).await {
            Ok(services) => Ok(Some(facts::published_ports(&services, names))),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 503, ..
            }) => Ok(None),
            Err(e) => Err(e.into()),
        }
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
            let id = m.actor.and_then(|a| a.id).unwrap_or_default();
            use bollard::models::EventMessageTypeEnum as T;
            Ok(match (m.typ, action.as_str()) {
                (Some(T::CONTAINER), "start") => Some(Event::ContainerStart { id }),
                (Some(T::CONTAINER), "die" | "destroy") => Some(Event::ContainerGone { id }),
                (Some(T::SERVICE), "create" | "update" | "remove") => Some(Event::ServiceChanged),
                (Some(T::NETWORK), "create" | "destroy") => Some(Event::NetworkChanged),
                _ => None,
            })
        })
    }
}
