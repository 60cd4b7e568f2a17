//! The swarm's own list of every node's ingress endpoint, from the verbose ingress network
//! view (`GET /networks/ingress?verbose=true`, what `docker network inspect --verbose ingress`
//! prints) — available on any node, workers included.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use serde_json::Value;

use ipnet::Ipv4Net;

use crate::discovery::SwarmNode;
use crate::ids::LbSet;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    #[error("verbose ingress view: not JSON: {0}")]
    Json(String),
    #[error("verbose ingress view lists no Services (is this node in a swarm?)")]
    NoEndpoints,
}

/// Every `ingress-endpoint` task: one per node, looked for among every service's tasks (Docker
/// 20.10 lists them under the service named `""`). Docker 26.1 lists none: an empty list
/// (see [`from_overlay`]).
pub fn parse(json: &str) -> Result<Vec<SwarmNode>, ViewError> {
    let net = network(json)?;
    let mut out: Vec<SwarmNode> = services(&net)?
        .values()
        .filter_map(|s| s.get("Tasks").and_then(Value::as_array))
        .flatten()
        .filter(|t| t.get("Name").and_then(Value::as_str) == Some("ingress-endpoint"))
        .filter_map(|t| {
            let ingress_ip = t.get("EndpointIP")?.as_str()?.parse::<Ipv4Addr>().ok()?;
            let host_ip = t
                .pointer("/Info/Host IP")
                .and_then(Value::as_str)
                .and_then(|h| h.parse().ok());
            Some(SwarmNode {
                ingress_ip,
                host_ip,
            })
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Each service's load-balancer index on this node (`LocalLBIndex`: the fwmark Docker's
/// ingress MARK rules in the sbox give its published ports), by service name, as the view
/// lists them on any node; services without a name or an index (the `""` entry of the
/// `ingress-endpoint` tasks, index 0) are left out. Raw facts: [`crate::plan::lb_ports`] maps
/// them to ports.
pub fn lb_indexes(json: &str) -> Result<BTreeMap<String, u32>, ViewError> {
    let net = network(json)?;
    Ok(services(&net)?
        .iter()
        .filter(|(name, _)| !name.is_empty())
        .filter_map(|(name, s)| {
            let index = s.get("LocalLBIndex")?.as_u64()?;
            let index = u32::try_from(index).ok().filter(|i| *i > 0)?;
            Some((name.clone(), index))
        })
        .collect())
}

/// The network object of a verbose view (an array of one, or the object itself).
fn network(json: &str) -> Result<Value, ViewError> {
    let v: Value = serde_json::from_str(json).map_err(|e| ViewError::Json(e.to_string()))?;
    Ok(match v {
        Value::Array(mut a) if !a.is_empty() => a.swap_remove(0),
        other => other,
    })
}

/// The network's `Services` (by name), which only a swarm's verbose view has.
fn services(net: &Value) -> Result<&serde_json::Map<String, Value>, ViewError> {
    net.get("Services")
        .and_then(Value::as_object)
        .ok_or(ViewError::NoEndpoints)
}

/// The ingress network's id, which names its overlay namespace (`1-<first 10 characters>`).
pub fn network_id(json: &str) -> Option<String> {
    network(json).ok()?.get("Id")?.as_str().map(str::to_owned)
}

/// Every node's ingress endpoint for an engine whose view lists none (Docker 26.1): this
/// node's from `Containers["ingress-sbox"]` (its underlay address `local_host`), and every
/// other node's from the overlay's remote endpoints (`peers`, see
/// [`crate::apply::peers`]): per tunnel end (node), the one endpoint that is not a task or a
/// virtual IP of the view's services. A node with more than one such endpoint (a task that
/// has just started there, which the view does not list yet) keeps its endpoint from
/// `previous` when that is among them, and is left out otherwise until it has one.
pub fn from_overlay(
    json: &str,
    local_host: Option<Ipv4Addr>,
    peers: &[crate::apply::peers::Peer],
    previous: &[SwarmNode],
) -> Result<Vec<SwarmNode>, ViewError> {
    let net = network(json)?;
    let services = services(&net)?;
    let ip_of = |v: Option<&Value>| v?.as_str()?.split('/').next()?.parse::<Ipv4Addr>().ok();
    let known: std::collections::BTreeSet<Ipv4Addr> = services
        .values()
        .flat_map(|s| {
            let tasks = s
                .get("Tasks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten();
            tasks
                .map(|t| ip_of(t.get("EndpointIP")))
                .chain(std::iter::once(ip_of(s.get("VIP"))))
        })
        .flatten()
        .collect();
    let mut out = Vec::new();
    if let Some(ip) = ip_of(net.pointer("/Containers/ingress-sbox/IPv4Address")) {
        out.push(SwarmNode {
            ingress_ip: ip,
            host_ip: local_host,
        });
    }
    let mut by_node: std::collections::BTreeMap<Ipv4Addr, Vec<Ipv4Addr>> = Default::default();
    for p in peers.iter().filter(|p| !known.contains(&p.ip)) {
        by_node.entry(p.vtep).or_default().push(p.ip);
    }
    for (vtep, ips) in by_node {
        let kept = previous
            .iter()
            .find(|n| n.host_ip == Some(vtep) && ips.contains(&n.ingress_ip))
            .map(|n| n.ingress_ip);
        let ip = match ips[..] {
            [ip] => Some(ip),
            _ => kept,
        };
        if let Some(ip) = ip {
            out.push(SwarmNode {
                ingress_ip: ip,
                host_ip: Some(vtep),
            });
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Nodes that joined and nodes that left between two views.
pub fn diff(old: &[SwarmNode], new: &[SwarmNode]) -> (Vec<SwarmNode>, Vec<SwarmNode>) {
    let joined = new.iter().filter(|n| !old.contains(n)).copied().collect();
    let left = old.iter().filter(|n| !new.contains(n)).copied().collect();
    (joined, left)
}

/// The table `dird lbs` and the usage screen print: every node of the view (and any
/// configured load balancer the view lacks), its ID and whether it is a load balancer.
pub fn render_table(
    nodes: &[SwarmNode],
    lbs: &LbSet,
    unmatched_hosts: &[Ipv4Net],
    this_node: Option<Ipv4Addr>,
) -> String {
    let mut ips: Vec<Ipv4Addr> = nodes
        .iter()
        .map(|n| n.ingress_ip)
        .chain(lbs.members.iter().map(|m| m.ip))
        .collect();
    ips.sort();
    ips.dedup();
    let mut out = String::from("UNDERLAY IP       INGRESS IP        ID    LOAD BALANCER\n");
    for ip in ips {
        let host = nodes
            .iter()
            .find(|n| n.ingress_ip == ip)
            .and_then(|n| n.host_ip)
            .map(|h| h.to_string())
            .unwrap_or_else(|| "-".into());
        let id = lbs.id_of(ip);
        let id_text = id.map(|i| i.to_string()).unwrap_or_else(|| "-".into());
        let lb = match (id, nodes.iter().any(|n| n.ingress_ip == ip)) {
            (Some(_), true) => "yes",
            (Some(_), false) => "yes (not in the swarm's view)",
            (None, _) => "no",
        };
        let this = if Some(ip) == this_node {
            "  <== this node"
        } else {
            ""
        };
        let _ = writeln!(out, "{host:<17} {ip:<17} {id_text:<5} {lb}{this}");
    }
    for c in unmatched_hosts {
        let _ = writeln!(out, "warning: --load-balancer-hosts {c} matches no node");
    }
    out
}

#[cfg(test)]
#[path = "swarm_view_tests.rs"]
mod tests;
