//! The one constructor of a [`Node`] from a configuration and what was discovered about the
//! node: used by the daemon (facts from Docker), by netsim (facts from its scenario), by
//! `dird plan` (facts from the command line) and by `dird doctor`, so that all of them
//! configure a node the same way.

use ipnet::Ipv4Net;

use super::{effective_rules, Effective, Node};
use crate::apply::IptablesTools;
use crate::config::{ConfigError, PortSpec, RuleConfig};
use crate::discovery::{Assigned, SwarmNode};
use crate::plan::{Ingress, Sysctl};

/// What the caller found out about this node (through Docker, a scenario or flags).
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    /// With `--services` and no port flags: those services' published ports (tcp, udp).
    /// `None` when they were not read; then such a node enables no load-balancer rules.
    pub published: Option<(Vec<PortSpec>, Vec<PortSpec>)>,
    /// Every swarm node (the swarm's verbose ingress view): what a load-balancer source that
    /// [needs it](crate::discovery::LbSource::needs_view) assigns from; the others ignore it.
    pub swarm: Vec<SwarmNode>,
    /// The sysctl.d files applied in the sbox.
    pub sysctl_files: Vec<Sysctl>,
    /// The iptables programs of the backend in use.
    pub tools: IptablesTools,
}

/// A built node and the `--load-balancer-hosts` filters that matched no node (with `auto`).
#[derive(Debug, Clone)]
pub struct Built {
    pub node: Node,
    pub unmatched_hosts: Vec<Ipv4Net>,
}

impl Node {
    /// The node with its effective rules (see [`effective_rules`]) and its load balancers, as
    /// their source assigns them ([`crate::discovery::LbSource::assign`]: from the list given,
    /// the default, or `discovered.swarm`).
    pub fn build(
        rules: &RuleConfig,
        ingress: Ingress,
        discovered: &Discovered,
    ) -> Result<Built, ConfigError> {
        let Effective { rules, lb_enabled } = effective_rules(rules, discovered.published.clone());
        let Assigned {
            lbs,
            unmatched_hosts,
            ..
        } = rules.lbs.assign(
            ingress,
            &discovered.swarm,
            rules.indexed_ids,
            rules.id_encoding,
        )?;
        let node = Node {
            rules,
            ingress,
            lbs,
            sysctl_files: discovered.sysctl_files.clone(),
            tools: discovered.tools.clone(),
            lb_enabled,
        };
        Ok(Built {
            node,
            unmatched_hosts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::LbSource;

    fn ingress() -> Ingress {
        Ingress {
            subnet: "10.0.0.0/24".parse().unwrap(),
            node_ip: "10.0.0.3".parse().unwrap(),
        }
    }

    fn ips(node: &Node) -> Vec<String> {
        node.lbs.members.iter().map(|m| m.ip.to_string()).collect()
    }

    #[test]
    fn without_a_list_the_load_balancers_are_the_originals_default() {
        let built = Node::build(&RuleConfig::default(), ingress(), &Discovered::default()).unwrap();
        assert_eq!(ips(&built.node).len(), 8);
        assert!(built.node.lb_id().is_some());
    }

    #[test]
    fn auto_takes_the_load_balancers_from_the_swarm_view() {
        let rules = RuleConfig {
            lbs: LbSource::Auto {
                hosts: vec![
                    "192.168.1.0/24".parse().unwrap(),
                    "172.16.0.0/16".parse().unwrap(),
                ],
            },
            ..Default::default()
        };
        let node = |ingress: &str, host: &str| SwarmNode {
            ingress_ip: ingress.parse().unwrap(),
            host_ip: Some(host.parse().unwrap()),
        };
        let discovered = Discovered {
            swarm: vec![
                node("10.0.0.3", "192.168.1.10"),
                node("10.0.0.4", "192.168.2.10"),
            ],
            ..Discovered::default()
        };
        let built = Node::build(&rules, ingress(), &discovered).unwrap();
        assert_eq!(ips(&built.node), ["10.0.0.3"]);
        assert_eq!(built.unmatched_hosts, ["172.16.0.0/16".parse().unwrap()]);
    }

    #[test]
    fn services_without_published_ports_enable_no_load_balancer_rules() {
        let rules = RuleConfig {
            services: vec!["web".into()],
            ..Default::default()
        };
        let built = Node::build(&rules, ingress(), &Discovered::default()).unwrap();
        assert!(!built.node.lb_enabled);
        assert_eq!(built.node.lb_id(), None);
        let discovered = Discovered {
            published: Some((vec![PortSpec::Single(80)], Vec::new())),
            ..Discovered::default()
        };
        let built = Node::build(&rules, ingress(), &discovered).unwrap();
        assert!(built.node.lb_enabled);
        assert_eq!(built.node.rules.tcp_ports, [PortSpec::Single(80)]);
    }
}
