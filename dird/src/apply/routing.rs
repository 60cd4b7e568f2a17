//! Policy rules, routes and interface lookups through rtnetlink. Must be called from a thread
//! inside the target namespace (the netlink socket belongs to the namespace it was opened in).

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use ipnet::Ipv4Net;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage, RulePortRange};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::IpProtocol;
use nix::errno::Errno;
use rtnetlink::{Handle, IpVersion};

use crate::ids::{RULE_PRIORITY, TABLE_BASE};
use crate::plan::routing::{
    is_dird_table, LEGACY_TABLES, RT_TABLE_MAIN, UDP_MAIN_PRIORITY, UDP_SOURCE_PRIORITY,
};
use crate::plan::{
    IpCommand, PolicyRule, PortRange, Route, RoutingChanges, RoutingState, UdpSourceRule, Verb,
};

pub type NlError = rtnetlink::Error;

/// The most addresses, policy rules or routes read from one namespace's dump: a namespace
/// holding more is refused rather than read without end.
pub const MAX_DUMP: usize = 100_000;

/// Why a namespace's addresses, rules or routes could not be read (they are someone else's).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Netlink(#[from] NlError),
    #[error("more than {MAX_DUMP} {what} in the namespace: not read")]
    TooMany { what: &'static str },
    #[error(
        "its ingress interface is named {0:?}, which dird does not accept (1-15 of A-Za-z0-9_.-)"
    )]
    InterfaceName(String),
}

/// Counts one more message of a dump of `what`.
fn count(n: &mut usize, what: &'static str) -> Result<(), ReadError> {
    *n += 1;
    if *n > MAX_DUMP {
        return Err(ReadError::TooMany { what });
    }
    Ok(())
}

/// Name and address of the interface holding an IPv4 address inside `subnet` (the ingress
/// interface of a task, whatever it is called); its name must be one dird accepts
/// ([`crate::plan::own_rules::is_interface_name`]), as it goes into rules and sysctl paths.
pub async fn find_interface_in(
    handle: &Handle,
    subnet: Ipv4Net,
) -> Result<Option<(String, Ipv4Addr)>, ReadError> {
    let mut addrs = handle.address().get().execute();
    let mut found = None;
    let mut n = 0;
    while let Some(msg) = addrs.try_next().await? {
        count(&mut n, "addresses")?;
        let hit = msg.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(IpAddr::V4(ip)) if subnet.contains(ip) => Some(*ip),
            _ => None,
        });
        if let Some(ip) = hit {
            found = Some((msg.header.index, ip));
            break;
        }
    }
    let Some((index, ip)) = found else {
        return Ok(None);
    };
    match interface_name(handle, index).await? {
        Some(name) if crate::plan::own_rules::is_interface_name(&name) => Ok(Some((name, ip))),
        Some(name) => Err(ReadError::InterfaceName(name)),
        None => Ok(None),
    }
}

pub async fn interface_name(handle: &Handle, index: u32) -> Result<Option<String>, NlError> {
    let mut links = handle.link().get().match_index(index).execute();
    while let Some(msg) = links.try_next().await? {
        for a in msg.attributes {
            if let LinkAttribute::IfName(name) = a {
                return Ok(Some(name));
            }
        }
    }
    Ok(None)
}

pub async fn interface_index(handle: &Handle, name: &str) -> Result<Option<u32>, NlError> {
    let mut links = handle.link().get().match_name(name.to_owned()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(Some(msg.header.index)),
        Ok(None) => Ok(None),
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -(Errno::ENODEV as i32) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Rules at dird's priority and default routes in `LEGACY_TABLES` and dird's tables.
pub async fn read_state(handle: &Handle) -> Result<RoutingState, ReadError> {
    let mut state = RoutingState::default();
    let mut rules = handle.rule().get(IpVersion::V4).execute();
    let mut n = 0;
    while let Some(msg) = rules.try_next().await? {
        count(&mut n, "policy rules")?;
        if let Some(r) = rule_from_message(&msg) {
            state.rules.push(r);
        } else if let Some(r) = udp_rule_from_message(&msg) {
            state.udp_rules.push(r);
        }
    }
    let mut routes = handle.route().get(route_dump_message()).execute();
    let mut names: Vec<(u32, String)> = Vec::new();
    let mut n = 0;
    while let Some(msg) = routes.try_next().await? {
        count(&mut n, "routes")?;
        let table = route_table(&msg);
        if msg.header.destination_prefix_length != 0
            || !(is_dird_table(table) || LEGACY_TABLES.contains(&table))
        {
            continue;
        }
        let mut gateway = None;
        let mut oif = None;
        let mut src = None;
        for a in &msg.attributes {
            match a {
                RouteAttribute::Gateway(RouteAddress::Inet(ip)) => gateway = Some(*ip),
                RouteAttribute::Oif(i) => oif = Some(*i),
                RouteAttribute::PrefSource(RouteAddress::Inet(ip)) => src = Some(*ip),
                _ => {}
            }
        }
        let (Some(gateway), Some(oif)) = (gateway, oif) else {
            continue;
        };
        let dev = match names.iter().find(|(i, _)| *i == oif) {
            Some((_, n)) => n.clone(),
            None => {
                let n = interface_name(handle, oif)
                    .await?
                    .unwrap_or_else(|| format!("if{oif}"));
                names.push((oif, n.clone()));
                n
            }
        };
        state.routes.push(Route {
            table,
            gateway,
            dev,
            src,
        });
    }
    state.rules.sort();
    state.routes.sort();
    state.udp_rules.sort();
    Ok(state)
}

/// A dump of every IPv4 route of every table (rtnetlink(7): zero prefix lengths, and the
/// wildcard table, protocol and type).
fn route_dump_message() -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Inet;
    msg.header.scope = RouteScope::Universe;
    msg.header.kind = RouteType::Unspec;
    msg.header.table = RouteHeader::RT_TABLE_UNSPEC;
    msg.header.protocol = RouteProtocol::Unspec;
    msg
}

fn route_table(msg: &RouteMessage) -> u32 {
    msg.attributes
        .iter()
        .find_map(|a| {
            if let RouteAttribute::Table(t) = a {
                Some(*t)
            } else {
                None
            }
        })
        .unwrap_or(u32::from(msg.header.table))
}

fn rule_from_message(msg: &RuleMessage) -> Option<PolicyRule> {
    let mut priority = None;
    let mut src = None;
    let mut fwmark = None;
    let mut mask = None;
    let mut table = u32::from(msg.header.table);
    for a in &msg.attributes {
        match a {
            RuleAttribute::Priority(p) => priority = Some(*p),
            RuleAttribute::Source(IpAddr::V4(ip)) => src = Some(*ip),
            RuleAttribute::FwMark(m) => fwmark = Some(*m),
            RuleAttribute::FwMask(m) => mask = Some(*m),
            RuleAttribute::Table(t) => table = *t,
            _ => {}
        }
    }
    if priority != Some(RULE_PRIORITY) {
        return None;
    }
    let from = Ipv4Net::new(src.unwrap_or(Ipv4Addr::UNSPECIFIED), msg.header.src_len).ok()?;
    Some(PolicyRule {
        priority: RULE_PRIORITY,
        from,
        fwmark: fwmark?,
        mask: mask.unwrap_or(u32::MAX),
        table,
    })
}

/// A UDP source rule as dird writes them: at its priorities, `iif lo`, udp, a source port
/// range, and `main` or dird's UDP table. Anything else at those priorities is not dird's.
fn udp_rule_from_message(msg: &RuleMessage) -> Option<UdpSourceRule> {
    let mut priority = None;
    let mut udp = false;
    let mut from_lo = false;
    let mut sport = None;
    let mut suppress = None;
    let mut table = u32::from(msg.header.table);
    for a in &msg.attributes {
        match a {
            RuleAttribute::Priority(p) => priority = Some(*p),
            RuleAttribute::IpProtocol(p) => udp = *p == IpProtocol::Udp,
            RuleAttribute::SourcePortRange(r) => {
                sport = Some(PortRange {
                    start: r.start,
                    end: r.end,
                })
            }
            RuleAttribute::SuppressPrefixLen(n) if *n != u32::MAX => suppress = Some(*n),
            RuleAttribute::Table(t) => table = *t,
            RuleAttribute::Iifname(name) => from_lo = name == "lo",
            _ => {}
        }
    }
    let priority = priority.filter(|p| matches!(*p, UDP_MAIN_PRIORITY | UDP_SOURCE_PRIORITY))?;
    let dirds_table = table == RT_TABLE_MAIN || table == TABLE_BASE;
    (udp && from_lo && dirds_table).then_some(UdpSourceRule {
        priority,
        sport: sport?,
        table,
        suppress_prefixlength: suppress,
    })
}

fn udp_rule_message(r: &UdpSourceRule) -> RuleMessage {
    let mut msg = RuleMessage::default();
    msg.header.family = AddressFamily::Inet;
    msg.header.action = RuleAction::ToTable;
    msg.header.table = if r.table <= 255 {
        r.table as u8
    } else {
        RouteHeader::RT_TABLE_UNSPEC
    };
    msg.attributes.push(RuleAttribute::Table(r.table));
    msg.attributes.push(RuleAttribute::Priority(r.priority));
    msg.attributes.push(RuleAttribute::Iifname("lo".into()));
    msg.attributes
        .push(RuleAttribute::IpProtocol(IpProtocol::Udp));
    msg.attributes
        .push(RuleAttribute::SourcePortRange(RulePortRange {
            start: r.sport.start,
            end: r.sport.end,
        }));
    if let Some(n) = r.suppress_prefixlength {
        msg.attributes.push(RuleAttribute::SuppressPrefixLen(n));
    }
    msg
}

fn rule_message(r: &PolicyRule) -> RuleMessage {
    let mut msg = RuleMessage::default();
    msg.header.family = AddressFamily::Inet;
    msg.header.src_len = r.from.prefix_len();
    msg.header.action = RuleAction::ToTable;
    if r.table <= 255 {
        msg.header.table = r.table as u8;
    } else {
        msg.header.table = RouteHeader::RT_TABLE_UNSPEC;
    }
    msg.attributes.push(RuleAttribute::Table(r.table));
    msg.attributes.push(RuleAttribute::Priority(r.priority));
    msg.attributes
        .push(RuleAttribute::Source(IpAddr::V4(r.from.network())));
    msg.attributes.push(RuleAttribute::FwMark(r.fwmark));
    msg.attributes.push(RuleAttribute::FwMask(r.mask));
    msg
}

/// `for_delete`: leave the protocol unset so that routes added by other tools (`proto boot`)
/// match too.
fn route_message(r: &Route, oif: u32, for_delete: bool) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Inet;
    msg.header.destination_prefix_length = 0;
    msg.header.protocol = if for_delete {
        RouteProtocol::Unspec
    } else {
        RouteProtocol::Static
    };
    msg.header.scope = RouteScope::Universe;
    msg.header.kind = RouteType::Unicast;
    msg.header.table = if r.table <= 255 {
        r.table as u8
    } else {
        RouteHeader::RT_TABLE_UNSPEC
    };
    msg.attributes.push(RouteAttribute::Table(r.table));
    msg.attributes
        .push(RouteAttribute::Gateway(RouteAddress::Inet(r.gateway)));
    msg.attributes.push(RouteAttribute::Oif(oif));
    if let Some(src) = r.src {
        msg.attributes
            .push(RouteAttribute::PrefSource(RouteAddress::Inet(src)));
    }
    msg
}

/// One routing change, for error messages and rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    DelRule(PolicyRule),
    DelUdpRule(UdpSourceRule),
    DelRoute(Route),
    AddRoute(Route),
    AddRule(PolicyRule),
    AddUdpRule(UdpSourceRule),
}

impl Change {
    fn verb(&self) -> Verb {
        match self {
            Change::DelRule(_) | Change::DelUdpRule(_) | Change::DelRoute(_) => Verb::Del,
            Change::AddRoute(_) | Change::AddRule(_) | Change::AddUdpRule(_) => Verb::Add,
        }
    }

    /// The order of application, the only place it is written down: rule deletions, UDP
    /// source rule deletions, route deletions, route additions, rule additions, UDP source rule
    /// additions (a rule never points at a table while its route is missing).
    fn phase(&self) -> u8 {
        match self {
            Change::DelRule(_) => 0,
            Change::DelUdpRule(_) => 1,
            Change::DelRoute(_) => 2,
            Change::AddRoute(_) => 3,
            Change::AddRule(_) => 4,
            Change::AddUdpRule(_) => 5,
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = self.verb();
        match self {
            Change::DelRule(r) | Change::AddRule(r) => r.write_command(f, verb),
            Change::DelRoute(r) | Change::AddRoute(r) => r.write_command(f, verb),
            Change::DelUdpRule(r) | Change::AddUdpRule(r) => r.write_command(f, verb),
        }
    }
}

/// All of `c` as single changes, sorted by phase (within one phase in `c`'s order).
pub fn changes_in_order(c: &RoutingChanges) -> Vec<Change> {
    let mut out: Vec<Change> = c.del_rules.iter().copied().map(Change::DelRule).collect();
    out.extend(c.add_rules.iter().copied().map(Change::AddRule));
    out.extend(c.del_udp_rules.iter().copied().map(Change::DelUdpRule));
    out.extend(c.add_udp_rules.iter().copied().map(Change::AddUdpRule));
    out.extend(c.del_routes.iter().cloned().map(Change::DelRoute));
    out.extend(c.add_routes.iter().cloned().map(Change::AddRoute));
    out.sort_by_key(Change::phase);
    out
}

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("{change}: {source}")]
    Netlink { change: String, source: NlError },
    #[error("{change}: no interface named {dev}")]
    NoDevice { change: String, dev: String },
}

/// Interface indexes of the devices these changes use, looked up once.
pub async fn interface_indexes(
    handle: &Handle,
    changes: &[Change],
) -> Result<std::collections::HashMap<String, u32>, NlError> {
    let mut out = std::collections::HashMap::new();
    for c in changes {
        if let Change::AddRoute(r) | Change::DelRoute(r) = c {
            if !out.contains_key(&r.dev) {
                if let Some(i) = interface_index(handle, &r.dev).await? {
                    out.insert(r.dev.clone(), i);
                }
            }
        }
    }
    Ok(out)
}

/// Applies changes phase by phase (see `Change::phase`; `changes` come in that order), the
/// changes of one phase concurrently (many requests in flight on one netlink socket instead of
/// one round trip each). Returns what was done and the first error.
pub async fn apply_changes(
    handle: &Handle,
    changes: &[Change],
) -> (Vec<Change>, Option<RoutingError>) {
    let ifindex = match interface_indexes(handle, changes).await {
        Ok(m) => m,
        Err(source) => {
            let change = changes.first().map(ToString::to_string).unwrap_or_default();
            return (Vec::new(), Some(RoutingError::Netlink { change, source }));
        }
    };
    let mut done = Vec::new();
    let mut first_error = None;
    let mut rest = changes;
    while let Some(first) = rest.first() {
        let n = rest
            .iter()
            .take_while(|c| c.phase() == first.phase())
            .count();
        let (group, tail) = rest.split_at(n);
        rest = tail;
        for chunk in group.chunks(64) {
            let results =
                futures::future::join_all(chunk.iter().map(|c| apply_one(handle, c, &ifindex)))
                    .await;
            for (c, r) in chunk.iter().zip(results) {
                match r {
                    Ok(()) => done.push(c.clone()),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        if first_error.is_some() {
            break;
        }
    }
    (done, first_error)
}

/// Applies one change (looking up its device when needed).
pub async fn apply_change(handle: &Handle, change: &Change) -> Result<(), RoutingError> {
    let ifindex = interface_indexes(handle, std::slice::from_ref(change))
        .await
        .map_err(|source| RoutingError::Netlink {
            change: change.to_string(),
            source,
        })?;
    apply_one(handle, change, &ifindex).await
}

async fn apply_one(
    handle: &Handle,
    change: &Change,
    ifindex: &std::collections::HashMap<String, u32>,
) -> Result<(), RoutingError> {
    let nl = |source| RoutingError::Netlink {
        change: change.to_string(),
        source,
    };
    match change {
        Change::AddRule(r) => {
            let mut req = handle.rule().add().v4();
            *req.message_mut() = rule_message(r);
            req.execute().await.map_err(nl)
        }
        Change::DelRule(r) => handle
            .rule()
            .del(rule_message(r))
            .execute()
            .await
            .map_err(nl),
        Change::AddUdpRule(r) => {
            let mut req = handle.rule().add().v4();
            *req.message_mut() = udp_rule_message(r);
            req.execute().await.map_err(nl)
        }
        Change::DelUdpRule(r) => handle
            .rule()
            .del(udp_rule_message(r))
            .execute()
            .await
            .map_err(nl),
        Change::AddRoute(r) | Change::DelRoute(r) => {
            let oif = *ifindex.get(&r.dev).ok_or_else(|| RoutingError::NoDevice {
                change: change.to_string(),
                dev: r.dev.clone(),
            })?;
            let adding = matches!(change, Change::AddRoute(_));
            let msg = route_message(r, oif, !adding);
            if adding {
                handle.route().add(msg).execute().await.map_err(nl)
            } else {
                handle.route().del(msg).execute().await.map_err(nl)
            }
        }
    }
}

/// The change that undoes `c`.
pub fn inverse(c: &Change) -> Change {
    match c {
        Change::DelRule(r) => Change::AddRule(*r),
        Change::AddRule(r) => Change::DelRule(*r),
        Change::DelRoute(r) => Change::AddRoute(r.clone()),
        Change::AddRoute(r) => Change::DelRoute(r.clone()),
        Change::DelUdpRule(r) => Change::AddUdpRule(*r),
        Change::AddUdpRule(r) => Change::DelUdpRule(*r),
    }
}

#[cfg(test)]
#[path = "routing_tests.rs"]
mod tests;
