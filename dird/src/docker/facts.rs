//! Pure extraction of the ingress facts from Engine API objects (testable with captured JSON).

use std::net::Ipv4Addr;

use bollard::models::{
    EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum, NetworkInspect, Service,
};
use ipnet::Ipv4Net;

use crate::config::PortSpec;
use crate::plan::Ingress;

/// The key of the ingress sandbox in `docker network inspect ingress` → `Containers`.
pub const SBOX_KEY: &str = "ingress-sbox";
/// The label Swarm puts on every task container.
pub const SERVICE_LABEL: &str = "com.docker.swarm.service.name";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactsError {
    #[error("the ingress network has no IPv4 subnet")]
    NoSubnet,
    #[error("the ingress network's subnet {0:?} is not an IPv4 CIDR")]
    BadSubnet(String),
    #[error("this node has no ingress-sbox endpoint on the ingress network yet")]
    NoSbox,
    #[error("this node's ingress-sbox address {0:?} is not an IPv4 address")]
    BadSboxAddress(String),
}

/// Subnet and this node's sbox address from `GET /networks/ingress`.
pub fn ingress_from_network(net: &NetworkInspect) -> Result<Ingress, FactsError> {
    let subnet_text = net
        .ipam
        .as_ref()
        .and_then(|i| i.config.as_ref())
        .and_then(|c| {
            c.iter()
                .find_map(|c| c.subnet.clone().filter(|s| s.contains('.')))
        })
        .ok_or(FactsError::NoSubnet)?;
    let subnet: Ipv4Net = subnet_text
        .parse()
        .map_err(|_| FactsError::BadSubnet(subnet_text.clone()))?;
    let sbox = net
        .containers
        .as_ref()
        .and_then(|c| c.get(SBOX_KEY))
        .ok_or(FactsError::NoSbox)?;
    let addr = sbox.ipv4_address.clone().unwrap_or_default();
    let ip_text = addr.split('/').next().unwrap_or_default();
    let node_ip: Ipv4Addr = ip_text
        .parse()
        .map_err(|_| FactsError::BadSboxAddress(addr.clone()))?;
    Ok(Ingress {
        subnet: subnet.trunc(),
        node_ip,
    })
}

/// The ingress address of container `id`'s endpoint in `GET /networks/ingress`.
pub fn endpoint_address(net: &NetworkInspect, id: &str) -> Option<Ipv4Addr> {
    let endpoint = net.containers.as_ref()?.get(id)?;
    let addr = endpoint.ipv4_address.as_deref()?;
    addr.split('/').next()?.parse().ok()
}

/// Who the ingress network says holds an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// The endpoint of a container in its sandbox, by the container's id.
    Container(String),
    /// An endpoint made for a container and not yet in its sandbox (Docker lists it as
    /// `ep-<endpoint id>`, named after the container).
    Named(String),
}

/// Who holds `ip` in `GET /networks/ingress` (not verbose): `None` when no endpoint does,
/// when more than one does, or when it is not a container's (the sbox's, a load balancer's).
pub fn endpoint_holder(net: &NetworkInspect, ip: Ipv4Addr) -> Option<Holder> {
    let mut found = net.containers.as_ref()?.iter().filter(|(_, e)| {
        let addr = e.ipv4_address.as_deref().unwrap_or_default();
        addr.split('/').next().and_then(|a| a.parse().ok()) == Some(ip)
    });
    let (key, endpoint) = found.next()?;
    if found.next().is_some() {
        return None;
    }
    if super::valid_container_id(key) {
        return Some(Holder::Container(key.clone()));
    }
    let name = endpoint.name.as_deref().filter(|n| !n.is_empty())?;
    key.starts_with("ep-")
        .then(|| Holder::Named(name.to_owned()))
}

/// Published ingress-mode ports of the named services: (tcp, udp).
pub fn published_ports(services: &[Service], names: &[String]) -> (Vec<PortSpec>, Vec<PortSpec>) {
    let mut tcp = Vec::new();
    let mut udp = Vec::new();
    for s in services {
        let name = s
            .spec
            .as_ref()
            .and_then(|sp| sp.name.as_deref())
            .unwrap_or_default();
        if !names.iter().any(|n| n == name) {
            continue;
        }
        for p in s
            .endpoint
            .as_ref()
            .and_then(|e| e.ports.as_ref())
            .into_iter()
            .flatten()
        {
            if matches!(
                p.publish_mode,
                Some(EndpointPortConfigPublishModeEnum::HOST)
            ) {
                continue;
            }
            let Some(port) = p
                .published_port
                .and_then(|v| u16::try_from(v).ok())
                .filter(|v| *v > 0)
            else {
                continue;
            };
            let list = match p.protocol {
                Some(EndpointPortConfigProtocolEnum::UDP) => &mut udp,
                Some(EndpointPortConfigProtocolEnum::TCP)
                | None
                | Some(EndpointPortConfigProtocolEnum::EMPTY) => &mut tcp,
                Some(EndpointPortConfigProtocolEnum::SCTP) => continue,
            };
            if !list.contains(&PortSpec::Single(port)) {
                list.push(PortSpec::Single(port));
            }
        }
    }
    tcp.sort();
    udp.sort();
    (tcp, udp)
}

#[cfg(test)]
#[path = "facts_tests.rs"]
mod tests;
