//! Desired state as pure data: what dird installs in a load balancer's `ingress_sbox`
//! ([`lb::LbPlan`]) and in one task container ([`task::TaskPlan`]). No I/O here: plans are
//! computed from the configuration and the ingress facts, rendered as `iptables-restore` input
//! and `ip` commands, and parsed back from `iptables-save`, all without root.

pub mod counters;
pub mod iptables;
pub mod lb;
pub mod lb_ports;
pub mod legacy;
pub mod own_rules;
mod ports;
pub mod render;
pub mod restore;
pub mod routing;
pub mod state;
pub mod sysctl;
pub mod table;
pub mod task;
pub mod text;

pub use iptables::{IptablesPlan, OwnChain, CHAIN_PREFIX, JUMP_COMMENT};
pub use lb::{lb_plan, lb_uninstall_plan, LbPlan};
pub use ports::{chunks, port_filters, MULTIPORT_MAX_SLOTS};
pub use render::{render_sync, render_text, TableBatch};
pub use restore::render_restore;
pub use routing::{
    port_ranges, IpCommand, PolicyRule, PortRange, Route, RoutingChanges, RoutingPlan,
    RoutingState, UdpSourceRule, Verb,
};
pub use state::{IptablesState, ParseError};
pub use sysctl::{OnError, Sysctl};
pub use table::Table;
pub use task::{task_plan, task_uninstall_plan, udp_redirect_ports, TaskIngress, TaskPlan};
pub use text::{install_text, removal_text, routing_text};

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// The ingress facts a plan depends on (from Docker, from netsim, or from the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingress {
    pub subnet: Ipv4Net,
    /// This node's `ingress_sbox` address on the ingress network.
    pub node_ip: Ipv4Addr,
}

#[cfg(test)]
mod tests;
