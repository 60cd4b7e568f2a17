//! Policy routing inside a task container: one rule and one table per load balancer, and a
//! pair of UDP source rules per range of served UDP ports.

use std::collections::HashSet;
use std::hash::Hash;
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

/// An inclusive range of ports; `start == end` is one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

impl PortRange {
    pub fn single(port: u16) -> PortRange {
        PortRange {
            start: port,
            end: port,
        }
    }
}

/// `ports` (any order, repeats allowed) as the fewest ranges: sorted, each range a run of
/// consecutive ports, neighbouring ranges separated by at least one port not in `ports`.
pub fn port_ranges(ports: &[u16]) -> Vec<PortRange> {
    let mut sorted = ports.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<PortRange> = Vec::new();
    for p in sorted {
        match out.last_mut() {
            Some(r) if r.end.checked_add(1) == Some(p) => r.end = p,
            _ => out.push(PortRange::single(p)),
        }
    }
    out
}

/// `ip rule add iif lo ipproto udp sport <first>[-<last>] lookup <table>
/// [suppress_prefixlength 0] priority <priority>`: replies of a UDP server bound to 0.0.0.0
/// get the task's ingress address as source, so that conntrack recognises them and they
/// follow the load balancer that brought the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UdpSourceRule {
    pub priority: u32,
    pub sport: PortRange,
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

/// The kernel's `main` routing table.
pub const RT_TABLE_MAIN: u32 = 254;

/// Tables whose default routes belong to the original daemon when one of its rules points
/// there (253-255 are the kernel's `default`, `main` and `local`: never touched).
pub const LEGACY_TABLES: std::ops::RangeInclusive<u32> = 1..=252;

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

/// The items of `from` that `keep` accepts and `other` lacks, in `from`'s order (linear:
/// `other` is looked up through a hash set).
fn missing<T: Clone + Eq + Hash>(from: &[T], other: &[T], keep: impl Fn(&T) -> bool) -> Vec<T> {
    let other: HashSet<&T> = other.iter().collect();
    from.iter()
        .filter(|x| keep(x) && !other.contains(x))
        .cloned()
        .collect()
}

/// Changes that take `installed` to `desired`, touching only dird's tables and rules and the
/// original daemon's (whose routes are removed only from `LEGACY_TABLES`). Linear in the
/// number of rules and routes.
pub fn diff(desired: &RoutingPlan, installed: &RoutingState) -> RoutingChanges {
    let legacy_tables: HashSet<u32> = installed
        .rules
        .iter()
        .filter(|r| is_legacy_rule(r))
        .map(|r| r.table)
        .collect();
    let route_ours = |r: &Route| {
        is_dird_table(r.table)
            || (LEGACY_TABLES.contains(&r.table) && legacy_tables.contains(&r.table))
    };
    RoutingChanges {
        del_rules: missing(&installed.rules, &desired.rules, |r| {
            is_dird_rule(r) || is_legacy_rule(r)
        }),
        del_routes: missing(&installed.routes, &desired.routes, route_ours),
        add_routes: missing(&desired.routes, &installed.routes, |_| true),
        add_rules: missing(&desired.rules, &installed.rules, |_| true),
        del_udp_rules: missing(&installed.udp_rules, &desired.udp_rules, is_dird_udp_rule),
        add_udp_rules: missing(&desired.udp_rules, &installed.udp_rules, |_| true),
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// What an `ip rule` / `ip route` command does with its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Add,
    Del,
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verb::Add => "add",
            Verb::Del => "del",
        })
    }
}

/// A rule or route that renders as the `ip` command adding or deleting it.
pub trait IpCommand {
    fn write_command(&self, f: &mut std::fmt::Formatter<'_>, verb: Verb) -> std::fmt::Result;

    /// The `ip` command applying `verb` to `self`, as a `Display` value.
    fn command(&self, verb: Verb) -> Command<'_, Self> {
        Command { item: self, verb }
    }
}

/// `item` rendered as the `ip` command for `verb`.
pub struct Command<'a, T: ?Sized> {
    item: &'a T,
    verb: Verb,
}

impl<T: IpCommand + ?Sized> std::fmt::Display for Command<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.item.write_command(f, self.verb)
    }
}

impl IpCommand for PolicyRule {
    fn write_command(&self, f: &mut std::fmt::Formatter<'_>, verb: Verb) -> std::fmt::Result {
        write!(
            f,
            "ip rule {verb} from {} fwmark {:#x}/{:#x} lookup {} priority {}",
            self.from, self.fwmark, self.mask, self.table, self.priority
        )
    }
}

impl IpCommand for Route {
    fn write_command(&self, f: &mut std::fmt::Formatter<'_>, verb: Verb) -> std::fmt::Result {
        write!(
            f,
            "ip route {verb} default via {} dev {}",
            self.gateway, self.dev
        )?;
        if let Some(src) = self.src {
            write!(f, " src {src}")?;
        }
        write!(f, " table {}", self.table)
    }
}

impl IpCommand for UdpSourceRule {
    fn write_command(&self, f: &mut std::fmt::Formatter<'_>, verb: Verb) -> std::fmt::Result {
        write!(
            f,
            "ip rule {verb} iif lo ipproto udp sport {} lookup {}",
            self.sport, self.table
        )?;
        if let Some(n) = self.suppress_prefixlength {
            write!(f, " suppress_prefixlength {n}")?;
        }
        write!(f, " priority {}", self.priority)
    }
}

/// The command adding the rule or route.
macro_rules! display_as_add {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.write_command(f, Verb::Add)
            }
        }
    )*};
}

display_as_add!(PolicyRule, Route, UdpSourceRule);
