//! The `auto` source ([`super::LbSource::Auto`], `--ingress-gateway-ips auto`): every node of
//! the swarm's view (optionally narrowed by `--load-balancer-hosts`) is a load balancer, and its
//! ID is the offset of its ingress IP in the ingress subnet (`10.0.0.5` in `10.0.0.0/24` → 5;
//! `10.0.1.2` in `10.0.0.0/16` → 258, too large for one byte, so refused). Every node computes
//! the same ID from the same address without coordination, and a node leaving never renumbers
//! the others: its ID simply goes.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::subnet::in_subnet;
use super::Assigned;
use crate::config::{parse_ipv4, split_items, ConfigError, IdEncoding};
use crate::ids::{LbId, LbSet, LoadBalancer};

/// One node as the swarm's verbose ingress view lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SwarmNode {
    /// Its `ingress_sbox` address (`EndpointIP`).
    pub ingress_ip: Ipv4Addr,
    /// Its underlay address (`Info["Host IP"]`).
    pub host_ip: Option<Ipv4Addr>,
}

/// `auto` as the whole list: discover the load balancers from the swarm.
pub fn is_auto(values: &[String]) -> Result<bool, ConfigError> {
    let items = split_items(values);
    let autos = items
        .iter()
        .filter(|i| i.eq_ignore_ascii_case("auto"))
        .count();
    match (autos, items.len()) {
        (0, _) => Ok(false),
        (1, 1) => Ok(true),
        _ => Err(ConfigError::AutoWithIps {
            value: items.join(","),
        }),
    }
}

/// IPs or CIDRs (`192.0.2.7`, `192.0.2.0/24`) of `--load-balancer-hosts`.
pub fn parse_hosts(values: &[String]) -> Result<Vec<Ipv4Net>, ConfigError> {
    const FLAG: &str = "--load-balancer-hosts";
    split_items(values)
        .iter()
        .map(|item| {
            if item.contains('/') {
                item.parse::<Ipv4Net>()
                    .map(|n| n.trunc())
                    .map_err(|_| ConfigError::BadCidr {
                        flag: FLAG,
                        value: item.clone(),
                    })
            } else {
                parse_ipv4(FLAG, item).map(Ipv4Net::from)
            }
        })
        .collect()
}

/// The ID of an ingress IP under `auto`: its offset in the subnet.
pub fn offset_id(ip: Ipv4Addr, subnet: Ipv4Net) -> u32 {
    u32::from(ip).wrapping_sub(u32::from(subnet.network()))
}

/// The load balancers of `view`: its nodes (one per ingress IP) whose underlay address is in
/// `hosts` (empty: every node), each with its [`offset_id`].
pub fn assign_auto(
    view: &[SwarmNode],
    subnet: Ipv4Net,
    hosts: &[Ipv4Net],
    encoding: IdEncoding,
) -> Result<Assigned, ConfigError> {
    let mut nodes: Vec<SwarmNode> = view.to_vec();
    nodes.sort();
    nodes.dedup_by_key(|n| n.ingress_ip);
    let is_lb = |n: &SwarmNode| {
        hosts.is_empty()
            || n.host_ip
                .is_some_and(|h| hosts.iter().any(|c| c.contains(&h)))
    };
    let (lb_nodes, not_lbs): (Vec<SwarmNode>, Vec<SwarmNode>) =
        nodes.iter().partition(|n| is_lb(n));
    let unmatched_hosts = hosts
        .iter()
        .filter(|c| {
            !nodes
                .iter()
                .any(|n| n.host_ip.is_some_and(|h| c.contains(&h)))
        })
        .copied()
        .collect();
    let mut members: Vec<LoadBalancer> = Vec::new();
    for (i, n) in lb_nodes.iter().enumerate() {
        in_subnet(n.ingress_ip, subnet)?;
        let raw = offset_id(n.ingress_ip, subnet);
        let id = LbId::new(raw, encoding).ok_or(ConfigError::IdOutOfRange {
            ip: n.ingress_ip,
            id: raw,
            encoding: encoding.name(),
            max: encoding.max_id(),
            hint: "; narrow the load balancers with --load-balancer-hosts or list them explicitly",
        })?;
        if let Some(first) = members.iter().find(|m| m.id == id) {
            return Err(ConfigError::SameId {
                first: first.ip,
                second: n.ingress_ip,
                id: raw,
            });
        }
        members.push(LoadBalancer {
            ip: n.ingress_ip,
            position: i + 1,
            id,
        });
    }
    Ok(Assigned {
        lbs: LbSet {
            members,
            indexed: false,
            forced_indexed: false,
            encoding,
        },
        not_lbs,
        unmatched_hosts,
    })
}

#[cfg(test)]
#[path = "auto_tests.rs"]
mod tests;
