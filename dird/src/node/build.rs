//! The one constructor of a [`Node`] from a configuration and what was discovered about the
//! node: used by the daemon (facts from Docker), by netsim (facts from its scenario), by
//! `dird plan` (facts from the command line) and by `dird doctor`, so that all of them
//! configure a node the same way.

use ipnet::Ipv4Net;

use super::{effective_rules, Effective, Node};
use crate::apply::{IptablesTools, SysctlRoot};
use crate::config::{ConfigError, PortSpec, RuleConfig};
use crate::discovery::{Assigned, SwarmNode};
use crate::plan::{Ingress, Sysctl};

/// What the caller found out about this node (through Docker, a scenario or flags), and how
/// its applies reach the kernel.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    /// With `--services` and no port flags: those services' published ports (tcp, udp).
    /// `None` when they were not read; then such a node enables no load-balancer rules.
    pub published: Option<(Vec<PortSpec>, Vec<PortSpec>)>,
    /// `published` was read from the sbox's MARK rules and the ingress view's load-balancer
    /// indexes (a worker, which the Swarm API does not answer and which gets no service
    /// events): the daemon re-reads them to follow changes ([`Node::ports_from_sbox`]).
    pub ports_from_sbox: bool,
    /// Every swarm node (the swarm's verbose ingress view): what a load-balancer source that
    /// [needs it](crate::discovery::LbSource::needs_view) assigns from; the others ignore it.
    pub swarm: Vec<SwarmNode>,
    /// The sysctl.d files applied in the sbox.
    pub sysctl_files: Vec<Sysctl>,
    /// The iptables programs of the backend in use.
    pub tools: IptablesTools,
    /// Where the sysctl tree is written (`--sysctl-root`; by default `/proc/sys`).
    pub sysctl_root: SysctlRoot,
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
            sysctl_root: discovered.sysctl_root.clone(),
            lb_enabled,
            ports_from_sbox: discovered.ports_from_sbox,
        };
        Ok(Built {
            node,
            unmatched_hosts,
        })
    }
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
