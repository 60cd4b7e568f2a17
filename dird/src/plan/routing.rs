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

/// `ip route add default via <gateway> dev <dev> table <table>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    pub table: u32,
    pub gateway: Ipv4Addr,
    pub dev: String,
}

/// Desired rules and routes (sorted, so plans compare and render deterministically).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoutingPlan {
    pub rules: Vec<PolicyRule>,
    pub routes: Vec<Route>,
}

/// What is installed, as read back from the namespace (all rules at dird's priority and every
/// default route in tables that dird or the original daemon could own).
pub type RoutingState = RoutingPlan;

/// The difference to apply: deletions first, then additions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoutingChanges {
    pub del_rules: Vec<PolicyRule>,
    pub del_routes: Vec<Route>,
    pub add_routes: Vec<Route>,
    pub add_rules: Vec<PolicyRule>,
}

impl RoutingChanges {
    pub fn is_empty(&self) -> bool {
        self.del_rules.is_empty() && self.del_routes.is_empty() && self.add_routes.is_empty() && self.add_rules.is_empty()
    }

    /// The changes that undo these (for rollback).
    pub fn inverse(&self) -> RoutingChanges {
        RoutingChanges {
            del_rules: self.add_rules.clone(),
            del_routes: self.add_routes.clone(),
            add_routes: self.del_routes.clone(),
            add_rules: self.del_rules.clone(),
        }
    }
}

/// Tables dird uses: `TABLE_BASE + 1 ..= TABLE_BASE + 255`.
pub fn is_dird_table(table: u32) -> bool {
    (TABLE_BASE + 1..=TABLE_BASE + 255).contains(&table)
}

/// A rule the original daemon added: `from <subnet> fwmark N lookup N prio 32700`, N in 1..=252
/// (it also used 253-255, the kernel's own tables; those rules are removed, their tables kept).
pub fn is_legacy_rule(r: &PolicyRule) -> bool {
    r.priority == RULE_PRIORITY && r.mask == u32::MAX && r.fwmark == r.table && (1..=255).contains(&r.table)
}

fn is_dird_rule(r: &PolicyRule) -> bool {
    r.priority == RULE_PRIORITY && r.mask == MARK_MASK && is_dird_table(r.table)
}

/// Changes that take `installed` to `desired`, touching only dird's tables and rules and the
/// original daemon's (whose routes are removed only from tables 1..=252).
pub fn diff(desired: &RoutingPlan, installed: &RoutingState) -> RoutingChanges {
    let ours_or_legacy = |r: &PolicyRule| is_dird_rule(r) || is_legacy_rule(r);
    let route_ours = |r: &Route| is_dird_table(r.table) || (1..=252).contains(&r.table);
    let legacy_tables: Vec<u32> = installed.rules.iter().filter(|r| is_legacy_rule(r)).map(|r| r.table).collect();
    RoutingChanges {
        del_rules: installed.rules.iter().filter(|r| ours_or_legacy(r) && !desired.rules.contains(r)).copied().collect(),
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
        add_routes: desired.routes.iter().filter(|r| !installed.routes.contains(r)).cloned().collect(),
        add_rules: desired.rules.iter().filter(|r| !installed.rules.contains(r)).copied().collect(),
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
        write!(f, "ip route add default via {} dev {} table {}", self.gateway, self.dev, self.table)
    }
}
