//! Pure extraction of the ingress facts from Engine API objects (testable with captured JSON).

use std::net::Ipv4Addr;

use bollard::models::{
    EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum, Network, Service,
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
pub fn ingress_from_network(net: &Network) -> Result<Ingress, FactsError> {
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
pub fn endpoint_address(net: &Network, id: &str) -> Option<Ipv4Addr> {
    let endpoint = net.containers.as_ref()?.get(id)?;
    let addr = endpoint.ipv4_address.as_deref()?;
    addr.split('/').next()?.parse().ok()
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
mod tests {
    use super::*;

    const ONE_NODE: &str = include_str!("../../tests/fixtures/network-ingress-1node.json");

    #[test]
    fn ingress_facts_from_a_real_swarm() {
        let nets: Vec<Network> = serde_json::from_str(ONE_NODE).unwrap();
        let ing = ingress_from_network(&nets[0]).unwrap();
        assert_eq!(ing.subnet.to_string(), "10.0.0.0/24");
        assert_eq!(ing.node_ip, Ipv4Addr::new(10, 0, 0, 2));
    }

    #[test]
    fn a_node_without_sbox_is_reported() {
        let mut nets: Vec<Network> = serde_json::from_str(ONE_NODE).unwrap();
        nets[0].containers.as_mut().unwrap().remove(SBOX_KEY);
        assert_eq!(ingress_from_network(&nets[0]), Err(FactsError::NoSbox));
    }

    #[test]
    fn published_ports_of_named_services() {
        let json = r#"[
          {"Spec":{"Name":"web"},"Endpoint":{"Ports":[
            {"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"},
            {"Protocol":"udp","TargetPort":53,"PublishedPort":5353,"PublishMode":"ingress"},
            {"Protocol":"tcp","TargetPort":81,"PublishedPort":8181,"PublishMode":"host"}]}},
          {"Spec":{"Name":"api"},"Endpoint":{"Ports":[{"Protocol":"tcp","TargetPort":90,"PublishedPort":9090,"PublishMode":"ingress"}]}}
        ]"#;
        let services: Vec<Service> = serde_json::from_str(json).unwrap();
        let (tcp, udp) = published_ports(&services, &["web".to_string()]);
        assert_eq!(tcp, vec![PortSpec::Single(8080)]);
        assert_eq!(udp, vec![PortSpec::Single(5353)]);
        assert_eq!(
            published_ports(&services, &["nope".to_string()]),
            (vec![], vec![])
        );
    }
}
