//! The list sources: the addresses of `--ingress-gateway-ips` ([`super::LbSource::Explicit`])
//! and, when none are given, the original daemon's default ([`super::LbSource::Default`]).
//! IDs are assigned exactly as the original daemon: the last octet, or the 1-based list
//! position with `--indexed-ids` (forced when the ingress subnet is larger than /24).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::subnet::in_subnet;
use super::{Assigned, SwarmNode};
use crate::config::{parse_ipv4, split_items, ConfigError, IdEncoding};
use crate::ids::{LbId, LbSet, LoadBalancer};
use crate::plan::Ingress;

/// What the daemon logs when it assumes the default list ([`default_list`]).
pub const DEFAULT_WARNING: &str = "no --ingress-gateway-ips given: assuming .2 to .9 of this node's /24 (as the original daemon); list your load balancers' ingress IPs";

/// One position of `--ingress-gateway-ips`: an address, or `null` (keeps its index, skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LbEntry {
    Ip(Ipv4Addr),
    Null,
}

impl std::fmt::Display for LbEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LbEntry::Ip(ip) => write!(f, "{ip}"),
            LbEntry::Null => f.write_str("null"),
        }
    }
}

/// The items of `flag` as list entries: addresses and `null`s, in order.
pub fn parse_load_balancers(
    flag: &'static str,
    values: &[String],
) -> Result<Vec<LbEntry>, ConfigError> {
    split_items(values)
        .iter()
        .map(|item| {
            if item.eq_ignore_ascii_case("null") {
                Ok(LbEntry::Null)
            } else {
                parse_ipv4(flag, item).map(LbEntry::Ip)
            }
        })
        .collect()
}

/// The original daemon's default: `.2` to `.9` of the /24 of `node_ip`.
pub fn default_list(node_ip: Ipv4Addr) -> Vec<LbEntry> {
    let [a, b, c, _] = node_ip.octets();
    (2..=9)
        .map(|d| LbEntry::Ip(Ipv4Addr::new(a, b, c, d)))
        .collect()
}

/// [`assign`] for the node at `ingress`; the nodes of `view` that are not in the list are the
/// ones that are no load balancers.
pub fn assign_for(
    entries: &[LbEntry],
    ingress: Ingress,
    view: &[SwarmNode],
    indexed: bool,
    encoding: IdEncoding,
) -> Result<Assigned, ConfigError> {
    let lbs = assign(entries, ingress.subnet, indexed, encoding)?;
    let mut not_lbs: Vec<SwarmNode> = view
        .iter()
        .filter(|n| lbs.id_of(n.ingress_ip).is_none())
        .copied()
        .collect();
    not_lbs.sort();
    not_lbs.dedup_by_key(|n| n.ingress_ip);
    Ok(Assigned {
        lbs,
        unmatched_hosts: Vec::new(),
        not_lbs,
    })
}

/// Assigns IDs exactly as the original daemon: the last octet, or the 1-based list position
/// with `indexed` (forced when the subnet is larger than /24). `null` entries keep their
/// position and get no ID. Rejects anything that would make two LBs indistinguishable.
pub fn assign(
    entries: &[LbEntry],
    subnet: Ipv4Net,
    indexed: bool,
    encoding: IdEncoding,
) -> Result<LbSet, ConfigError> {
    let forced_indexed = !indexed && subnet.prefix_len() < 24;
    let indexed = indexed || forced_indexed;
    let max = encoding.max_id();
    if indexed && entries.len() > usize::from(max) {
        return Err(ConfigError::TooManyLoadBalancers {
            count: entries.len(),
            encoding: encoding.name(),
            max,
        });
    }
    let mut members: Vec<LoadBalancer> = Vec::new();
    for (i, gw) in entries.iter().enumerate() {
        let LbEntry::Ip(ip) = *gw else { continue };
        if members.iter().any(|m| m.ip == ip) {
            return Err(ConfigError::DuplicateLoadBalancer { ip });
        }
        let octet = ip.octets()[3];
        if !indexed {
            if let Some(first) = members.iter().find(|m| m.ip.octets()[3] == octet) {
                return Err(ConfigError::SameLastOctet {
                    first: first.ip,
                    second: ip,
                    octet,
                });
            }
        }
        in_subnet(ip, subnet)?;
        if subnet.prefix_len() <= 30 && (ip == subnet.network() || ip == subnet.broadcast()) {
            return Err(ConfigError::LoadBalancerNotHost {
                ip,
                subnet: subnet.to_string(),
            });
        }
        let raw = if indexed {
            (i + 1) as u32
        } else {
            u32::from(octet)
        };
        let id = LbId::new(raw, encoding).ok_or(ConfigError::IdOutOfRange {
            ip,
            id: raw,
            encoding: encoding.name(),
            max,
            hint: if indexed { "" } else { "; use --indexed-ids" },
        })?;
        members.push(LoadBalancer {
            ip,
            position: i + 1,
            id,
        });
    }
    Ok(LbSet {
        members,
        indexed,
        forced_indexed,
        encoding,
    })
}

#[cfg(test)]
#[path = "list_tests.rs"]
mod tests;
