//! The swarm's own list of every node's ingress endpoint, from the verbose ingress network
//! view (`GET /networks/ingress?verbose=true`, what `docker network inspect --verbose ingress`
//! prints) — available on any node, workers included.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use serde_json::Value;

use ipnet::Ipv4Net;

use crate::ids::auto::SwarmNode;
use crate::ids::LbSet;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    #[error("verbose ingress view: not JSON: {0}")]
    Json(String),
    #[error("verbose ingress view lists no Services (is this node in a swarm?)")]
    NoEndpoints,
}

/// Every `ingress-endpoint` task: one per node, looked for among every service's tasks (Docker
/// 20.10 lists them under the service named `""`). Docker 26.1 lists none: an empty list.
pub fn parse(json: &str) -> Result<Vec<SwarmNode>, ViewError> {
    let v: Value = serde_json::from_str(json).map_err(|e| ViewError::Json(e.to_string()))?;
    let net = match &v {
        Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    let services = net
        .get("Services")
        .and_then(Value::as_object)
        .ok_or(ViewError::NoEndpoints)?;
    let mut out: Vec<SwarmNode> = services
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
mod tests {
    use super::*;
    use crate::config::IdEncoding;
    use crate::ids::auto::assign_auto;

    const A: &str = include_str!("../../tests/fixtures/ingress-verbose-a.json");
    const B: &str = include_str!("../../tests/fixtures/ingress-verbose-b.json");

    #[test]
    fn both_nodes_see_the_same_list() {
        let a = parse(A).unwrap();
        assert_eq!(a, parse(B).unwrap(), "manager and worker agree");
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].ingress_ip, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(a[0].host_ip, Some(Ipv4Addr::new(192, 0, 2, 1)));
    }

    /// Docker 26.1's view (one-node swarm, services web and api): its Services list the
    /// services' tasks only, no `ingress-endpoint`, so `auto` finds no load balancer there.
    #[test]
    fn docker_26_1_lists_no_ingress_endpoint() {
        let v = include_str!("../../tests/fixtures/ingress-verbose-26.1.json");
        assert_eq!(parse(v), Ok(Vec::new()));
    }

    #[test]
    fn table_from_the_captured_view() {
        let view = parse(B).unwrap();
        let set = assign_auto(
            &view,
            "10.0.0.0/24".parse().unwrap(),
            &["192.0.2.1/32".parse().unwrap()],
            IdEncoding::Tos,
        )
        .unwrap();
        insta::assert_snapshot!(render_table(
            &view,
            &set.lbs,
            &set.unmatched_hosts,
            Some(Ipv4Addr::new(10, 0, 0, 3))
        ));
    }

    #[test]
    fn joins_and_leaves() {
        let view = parse(A).unwrap();
        let (joined, left) = diff(&view[..1], &view);
        assert_eq!((joined, left), (vec![view[1]], vec![]));
        let (joined, left) = diff(&view, &view[1..]);
        assert_eq!((joined, left), (vec![], vec![view[0]]));
    }

    #[test]
    fn a_non_swarm_view_is_an_error() {
        assert_eq!(
            parse("[{\"Name\":\"ingress\"}]"),
            Err(ViewError::NoEndpoints)
        );
        assert!(matches!(parse("nope"), Err(ViewError::Json(_))));
    }
}
