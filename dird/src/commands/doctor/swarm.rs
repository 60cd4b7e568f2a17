//! The checks that need Docker's view of the swarm: this node's membership, its ingress
//! sandbox, the load-balancer list (each address against the ingress network's gateway,
//! docker_gwbridge's subnet and every node's sbox address) and this node's place in it.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;

use super::tasks::Planned;
use super::{ask, Line, Report};
use crate::apply::IptablesTools;
use crate::config::{ConfigError, RuleConfig};
use crate::discovery::{in_subnet, LbEntry, LbSource, SwarmNode};
use crate::docker::{DockerClient, IngressState};
use crate::node::{Discovered, Node, TaskRef};
use crate::plan::Ingress;

/// What Docker says about this node and its swarm; each part, or why it could not be read.
#[derive(Debug, Clone)]
pub struct SwarmFacts {
    /// `/info` `Swarm.LocalNodeState`.
    pub state: Result<String, String>,
    pub ingress: Result<Ingress, String>,
    /// The ingress network's IPAM gateway.
    pub ingress_gateway: Option<Ipv4Addr>,
    /// docker_gwbridge's subnets.
    pub gwbridge: Vec<Ipv4Net>,
    pub view: Result<Vec<SwarmNode>, String>,
    pub tasks: Result<Vec<TaskRef>, String>,
    /// `/info` `FirewallBackend.Driver` (`None`: the Engine does not say).
    pub firewall: Result<Option<String>, String>,
}

impl SwarmFacts {
    /// Nothing known: the Engine cannot be reached (`why`).
    pub fn unreachable(why: &str) -> SwarmFacts {
        let no = format!("no Docker Engine: {why}");
        SwarmFacts {
            state: Err(no.clone()),
            ingress: Err(no.clone()),
            ingress_gateway: None,
            gwbridge: Vec::new(),
            view: Err(no.clone()),
            tasks: Err(no.clone()),
            firewall: Err(no),
        }
    }
}

/// Asks the Engine everything the checks need.
pub async fn gather(c: &DockerClient) -> SwarmFacts {
    let ingress = match ask(c.ingress()).await {
        Ok(IngressState::Ready(i)) => Ok(i),
        Ok(IngressState::NotReady(why)) | Err(why) => Err(why),
    };
    let ipam = |name: &'static str| async move {
        ask(c.network_ipam(name))
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
    };
    SwarmFacts {
        state: ask(c.local_node_state()).await,
        ingress,
        ingress_gateway: ipam("ingress").await.into_iter().find_map(|(_, g)| g),
        gwbridge: ipam("docker_gwbridge")
            .await
            .into_iter()
            .map(|(n, _)| n)
            .collect(),
        view: ask(c.swarm_view()).await,
        tasks: ask(c.service_tasks()).await,
        firewall: ask(c.firewall_driver()).await,
    }
}

/// Check 1: the node is an active swarm member and the ingress network is there.
pub fn check_membership(report: &mut Report, facts: &SwarmFacts) {
    match &facts.state {
        Ok(s) if s == "active" => {}
        Ok(s) => {
            report.finding(
                format!("this node is not in a swarm (Docker reports Swarm.LocalNodeState {s:?}): there is no routing mesh for dird to work on"),
                "join the swarm (`docker swarm join` with a token from a manager) or create one (`docker swarm init`)",
            );
            return;
        }
        Err(why) => report.skipped(format!("swarm membership: {why}")),
    }
    match &facts.ingress {
        Ok(i) => report.ok(format!(
            "this node is in a swarm: ingress network {}, this node's ingress_sbox address {}",
            i.subnet, i.node_ip
        )),
        Err(why) => report.finding(
            format!("the swarm's ingress network is not usable on this node: {why}"),
            "see `docker network inspect ingress`; a removed ingress network is re-created with `docker network create --driver overlay --ingress --subnet CIDR ingress`, and restarting dockerd re-creates this node's ingress-sbox",
        ),
    }
}

/// Check 2: the ingress sandbox exists; its path when it does.
pub fn check_sbox(report: &mut Report, sbox: &Path) -> Option<PathBuf> {
    if sbox.exists() {
        report.ok(format!("the ingress sandbox exists ({})", sbox.display()));
        return Some(sbox.to_path_buf());
    }
    report.finding(
        format!("the ingress sandbox {} is missing: the routing mesh does not run here and dird has no namespace to install the load-balancer rules in", sbox.display()),
        "restart dockerd once the node is in the swarm (it creates ingress_sbox when it joins the ingress network); dird expects dockerd's default --exec-root (/var/run/docker)",
    );
    None
}

/// What a load-balancer address is judged against.
#[derive(Debug, Clone, Copy)]
pub struct Addresses<'a> {
    pub subnet: Ipv4Net,
    /// The ingress network's IPAM gateway.
    pub gateway: Option<Ipv4Addr>,
    /// docker_gwbridge's subnets.
    pub gwbridge: &'a [Ipv4Net],
    /// Every node's sbox address, as the swarm lists them (empty: unknown).
    pub view: &'a [SwarmNode],
}

/// What to give instead of a wrong load-balancer address.
const GIVE_SBOX_ADDRESSES: &str = "give the sbox addresses `dird lbs` lists";

/// Check 5 for one `--ingress-gateway-ips` address.
pub fn judge_load_balancer(ip: Ipv4Addr, a: &Addresses<'_>) -> Line {
    let flag = format!("--ingress-gateway-ips {ip}");
    if a.gateway == Some(ip) {
        return Line::finding(
            format!("{flag} is the ingress network's gateway, not a node's ingress_sbox address"),
            GIVE_SBOX_ADDRESSES,
        );
    }
    if let Some(net) = a.gwbridge.iter().find(|n| n.contains(&ip)) {
        return Line::finding(
            format!("{flag} is inside docker_gwbridge's subnet {net}, not on the ingress network {}: a node's gwbridge address is not its ingress_sbox address", a.subnet),
            GIVE_SBOX_ADDRESSES,
        );
    }
    if in_subnet(ip, a.subnet).is_err() {
        return Line::finding(
            format!(
                "{flag} is outside the ingress subnet {} (the daemon refuses it)",
                a.subnet
            ),
            GIVE_SBOX_ADDRESSES,
        );
    }
    if a.view.is_empty() {
        return Line::Skipped(format!("{flag}: the swarm's view lists no node, so whether it is a node's ingress_sbox address cannot be checked"));
    }
    if !a.view.iter().any(|n| n.ingress_ip == ip) {
        return Line::finding(
            format!("{flag} is not any node's ingress_sbox address in the swarm's view ({})", ips(a.view.iter().map(|n| n.ingress_ip))),
            format!("{GIVE_SBOX_ADDRESSES} (a node that left can be replaced by null, which keeps the others' positions)"),
        );
    }
    Line::Ok(format!("{flag} is a node's ingress_sbox address"))
}

fn ips(list: impl Iterator<Item = Ipv4Addr>) -> String {
    let v: Vec<String> = list.map(|ip| ip.to_string()).collect();
    if v.is_empty() {
        return "none".into();
    }
    v.join(", ")
}

/// Checks 5 and 6, then the node the daemon would build from these flags on this swarm (for
/// the task checks): when it refuses them, the same flags with no load balancers, whose task
/// plans are not compared (nor are they with `auto` and an empty view). An error only when
/// not even that node can be built.
pub fn check_load_balancers(
    report: &mut Report,
    rules: &RuleConfig,
    ingress: Ingress,
    facts: &SwarmFacts,
    tools: IptablesTools,
) -> Result<Planned, ConfigError> {
    let view = facts.view.as_deref().unwrap_or(&[]);
    if let Err(why) = &facts.view {
        report.skipped(format!("the swarm's view of every node: {why}"));
    }
    let a = Addresses {
        subnet: ingress.subnet,
        gateway: facts.ingress_gateway,
        gwbridge: &facts.gwbridge,
        view,
    };
    if rules.lbs.needs_view() {
        report.ok("--ingress-gateway-ips auto: the load balancers come from the swarm's view");
    } else if rules.lbs.is_default() {
        report.finding(
            "no --ingress-gateway-ips (nor INGRESS_NODE_GATEWAY_IPS) given: the daemon assumes .2 to .9 of this node's /24, as the original did",
            "list the load balancers' ingress IPs (`dird lbs` prints every node's), or give --ingress-gateway-ips auto",
        );
    }
    for entry in rules.lbs.given() {
        if let LbEntry::Ip(ip) = entry {
            report.push(judge_load_balancer(*ip, &a));
        }
    }
    let discovered = Discovered {
        swarm: view.to_vec(),
        tools,
        ..Discovered::default()
    };
    let built = Node::build(rules, ingress, &discovered);
    if let Err(e) = &built {
        let reported =
            !rules.lbs.needs_view() && matches!(e, ConfigError::LoadBalancerOutsideSubnet { .. });
        if !reported {
            report.finding(
                format!("the daemon refuses this configuration on this swarm: {e}"),
                "correct the flags (`dird lbs` prints every node's ingress IP and ID)",
            );
        }
    }
    check_this_node(report, rules, ingress, view);
    match built {
        // With auto and no node in the view the daemon waits and installs nothing.
        Ok(b) => Ok(Planned {
            node: b.node,
            comparable: !(rules.lbs.needs_view() && view.is_empty()),
        }),
        Err(_) => {
            let none = RuleConfig {
                lbs: LbSource::Explicit(Vec::new()),
                ..rules.clone()
            };
            let built = Node::build(&none, ingress, &discovered)?;
            Ok(Planned {
                node: built.node,
                comparable: false,
            })
        }
    }
}

/// Check 6: this node's sbox address is among the load balancers.
fn check_this_node(report: &mut Report, rules: &RuleConfig, ingress: Ingress, view: &[SwarmNode]) {
    let ip = ingress.node_ip;
    let Some(list) = rules.lbs.list(ip) else {
        report.push(judge_auto_node(rules, ingress, view));
        return;
    };
    let listed = list.contains(&LbEntry::Ip(ip));
    if listed {
        report.ok(format!(
            "this node's ingress_sbox address {ip} is one of the load balancers"
        ));
    } else {
        report.finding(
            format!("this node's ingress_sbox address {ip} is not in --ingress-gateway-ips: dird installs no load-balancer rules here, so requests this node balances reach tasks masqueraded"),
            format!("if this node receives public traffic, add {ip} to --ingress-gateway-ips on every node"),
        );
    }
}

/// Check 6 under `auto`: which nodes `auto` gives, and whether this node is one.
pub fn judge_auto_node(rules: &RuleConfig, ingress: Ingress, view: &[SwarmNode]) -> Line {
    if view.is_empty() {
        return Line::Skipped(
            "with auto, this node's place cannot be checked: the swarm's view lists no node".into(),
        );
    }
    let set = match rules
        .lbs
        .assign(ingress, view, rules.indexed_ids, rules.id_encoding)
    {
        Ok(set) => set,
        Err(e) => {
            return Line::Skipped(format!(
                "with auto, this node's place cannot be checked: {e}"
            ))
        }
    };
    let which = if rules.lbs.hosts().is_empty() {
        "every node of the swarm's view"
    } else {
        "the nodes whose underlay address matches --load-balancer-hosts"
    };
    let members = ips(set.lbs.members.iter().map(|m| m.ip));
    let ip = ingress.node_ip;
    if let Some(id) = set.lbs.id_of(ip) {
        return Line::Ok(format!(
            "with auto, the load balancers are {which}: {members}; this node ({ip}) is ID {id}"
        ));
    }
    let underlay = view.iter().find(|n| n.ingress_ip == ip).map(|n| n.host_ip);
    let fix = match underlay {
        None => "this node is not in the swarm's view yet: check `dird lbs` again once it is".to_string(),
        Some(Some(h)) => format!("if this node receives public traffic, add its underlay address {h} to --load-balancer-hosts"),
        Some(None) => "the swarm's view gives no underlay address for this node: list the load balancers explicitly".to_string(),
    };
    Line::finding(
        format!("with auto, the load balancers are {which}: {members}; this node ({ip}) is not one of them"),
        fix,
    )
}

#[cfg(test)]
#[path = "swarm_tests.rs"]
mod tests;
