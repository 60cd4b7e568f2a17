//! Policy routing inside a task container: one rule and one table per load balancer.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::ids::{MARK_MASK, RULE_PRIORITY, TABLE_BASE};

/// `ip rule add from <from> fwmark <fwmark>/<mask> lookup <table> priority <priority>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyRule {
    pub priority: u32,
    pub from: Ipv4Net,
    pub fwmark: u32,
    pub mask: u32,
    pub table: u32,
}

/// `ip route add default via <gateway> dev <dev> [src <src>] table <table>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    pub table: u32,
    pub gateway: Ipv4Addr,
    pub dev: String,
    /// Preferred source (the UDP source table's route: the task's ingress address).
    pub src: Option<Ipv4Addr>,
}

/// `ip rule add iif lo ipproto udp sport <sport> lookup <table> [suppress_prefixlength 0]
/// priority <priority>`: replies of a UDP server bound to 0.0.0.0 get the task's ingress
/// address as source, so that conntrack recognises them and they follow the load balancer
/// that brought the request (upstream issue #11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UdpSourceRule {
    pub priority: u32,
    pub sport: u16,
    pub table: u32,
    /// `Some(0)`: consult `main` but ignore its default route (on-link peers keep their path).
    pub suppress_prefixlength: Option<u32>,
}

/// Desired rules and routes (sorted, so plans compare and render deterministically).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoutingPlan {
    pub rules: Vec<PolicyRule>,
    pub routes: Vec<Route>,
    pub udp_rules: Vec<UdpSourceRule>,
}

/// What is installed, as read back from the namespace (all rules at dird's priority and every
/// default route in tables that dird or the original daemon could own).
pub type RoutingState = RoutingPlan;

/// The difference to apply: deletions first, then additions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoutingChanges {
    pub del_rules: Vec<PolicyRule>,
    pub del_udp_rules: Vec<UdpSourceRule>,
    pub del_routes: Vec<Route>,
    pub add_routes: Vec<Route>,
    pub add_rules: Vec<PolicyRule>,
    pub add_udp_rules: Vec<UdpSourceRule>,
}

impl RoutingChanges {
    pub fn is_empty(&self) -> bool {
        *self == RoutingChanges::default()
    }
}

/// Tables dird uses: `TABLE_BASE` (UDP source selection) and `TABLE_BASE + ID`.
pub fn is_dird_table(table: u32) -> bool {
    (TABLE_BASE..=TABLE_BASE + 255).contains(&table)
}

/// Priorities of the UDP source rules (just before the per-LB rules).
pub const UDP_MAIN_PRIORITY: u32 = RULE_PRIORITY - 2;
pub const UDP_SOURCE_PRIORITY: u32 = RULE_PRIORITY - 1;

fn is_dird_udp_rule(r: &UdpSourceRule) -> bool {
    matches!(r.priority, UDP_MAIN_PRIORITY | UDP_SOURCE_PRIORITY)
}

/// A rule the original daemon added: `from <subnet> fwmark N lookup N prio 32700`, N in 1..=252
/// (it also used 253-255, the kernel's own tables; those rules are removed, their tables kept).
pub fn is_legacy_rule(r: &PolicyRule) -> bool {
    r.priority == RULE_PRIORITY
        && r.mask == u32::MAX
        && r.fwmark == r.table
        && (1..=255).contains(&r.table)
}

fn is_dird_rule(r: &PolicyRule) -> bool {
    r.priority == RULE_PRIORITY && r.mask == MARK_MASK && is_dird_table(r.table)
}

/// Changes that take `installed` to `desired`, touching only dird's tables and rules and the
/// original daemon's (whose routes are removed only from tables 1..=252).
pub fn diff(desired: &RoutingPlan, installed: &RoutingState) -> RoutingChanges {
    let ours_or_legacy = |r: &PolicyRule| is_dird_rule(r) || is_legacy_rule(r);
    let route_ours = |r: &Route| is_dird_table(r.table) || (1..=252).contains(&r.table);
    let legacy_tables: Vec<u32> = installed
        .rules
        .iter()
        .filter(|r| is_legacy_rule(r))
        .map(|r| r.table)
        .collect();
    RoutingChanges {
        del_rules: installed
            .rules
            .iter()
            .filter(|r| ours_or_legacy(r) && !desired.rules.contains(r))
            .copied()
            .collect(),
        del_routes: installed
            .routes
            .iter()
            .filter(|r| {
                route_ours(r)
                    && (is_dird_table(r.table) || legacy_tables.contains(&r.table))
                    && !desired.routes.contains(r)
            })
            .cloned()
            .collect(),
        add_routes: desired
            .routes
            .iter()
            .filter(|r| !installed.routes.contains(r))
            .cloned()
            .collect(),
        add_rules: desired
            .rules
            .iter()
            .filter(|r| !installed.rules.contains(r))
            .copied()
            .collect(),
        del_udp_rules: installed
            .udp_rules
            .iter()
            .filter(|r| is_dird_udp_rule(r) && !desired.udp_rules.contains(r))
            .copied()
            .collect(),
        add_udp_rules: desired
            .udp_rules
            .iter()
            .filter(|r| !installed.udp_rules.contains(r))
            .copied()
            .collect(),
    }
}

impl std::fmt::Display for PolicyRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ip rule add from {} fwmark {:#x}/{:#x} lookup {} priority {}",
            self.from, self.fwmark, self.mask, self.table, self.priority
        )
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ip route add default via {} dev {}",
            self.gateway, self.dev
        )?;
        if let Some(src) = self.src {
            write!(f, " src {src}")?;
        }
        write!(f, " table {}", self.table)
    }
}

impl std::fmt::Display for UdpSourceRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ip rule add iif lo ipproto udp sport {} lookup {}",
            self.sport, self.table
        )?;
        if let Some(n) = self.suppress_prefixlength {
            write!(f, " suppress_prefixlength {n}")?;
        }
        write!(f, " priority {}", self.priority)
    }
}
