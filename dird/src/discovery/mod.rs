//! Load-balancer discovery: which nodes are load balancers and which ID each one gets, from one
//! [`LbSource`] parsed from `--ingress-gateway-ips` (the legacy `INGRESS_NODE_GATEWAY_IPS`
//! first) and `--load-balancer-hosts`.
//!
//! The daemon, `dird plan`, `dird lbs`, `dird doctor` and netsim all go through it: they parse
//! the flags with [`LbSource::parse`], read the swarm's view only when
//! [`LbSource::needs_view`] says so ([`LbSource::view`], [`swarm_view`]), and get the IDs from
//! [`LbSource::assign`]. Every source checks its addresses against the ingress subnet with the
//! one [`in_subnet`].
//!
//! | source | file | IDs |
//! |---|---|---|
//! | [`LbSource::Explicit`] | `list.rs` | last octet, or list position with `--indexed-ids` |
//! | [`LbSource::Default`] | `list.rs` | as `Explicit`, for the original's `.2`–`.9` of the node's /24 |
//! | [`LbSource::Auto`] | `auto.rs` | offset of the node's ingress IP in the ingress subnet |
//!
//! Adding a discovery source is one new variant and one file: the variant of [`LbSource`] here
//! (with its arm in each method of this file), and a file beside this one that parses its flags
//! and assigns its IDs. Code outside this module asks [`LbSource`]'s methods and never matches
//! on its variants.

mod auto;
mod fetch;
mod list;
mod subnet;

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::config::{ConfigError, IdEncoding};
use crate::ids::LbSet;
use crate::plan::Ingress;

pub use auto::SwarmNode;
pub use fetch::swarm_view;
pub use list::{parse_load_balancers, LbEntry};
pub use subnet::in_subnet;

/// Where the load balancers come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LbSource {
    /// `--ingress-gateway-ips` addresses, in order (`null` keeps a position).
    Explicit(Vec<LbEntry>),
    /// No `--ingress-gateway-ips` (nor `INGRESS_NODE_GATEWAY_IPS`): the original daemon's
    /// `.2` to `.9` of this node's /24.
    #[default]
    Default,
    /// `--ingress-gateway-ips auto`: every node of the swarm's view whose underlay address is
    /// in `hosts` (`--load-balancer-hosts`; empty: every node).
    Auto { hosts: Vec<Ipv4Net> },
}

/// The load balancers [`LbSource::assign`] gives for one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    /// The load balancers, with their IDs.
    pub lbs: LbSet,
    /// `--load-balancer-hosts` entries that match no node of the view (worth a warning).
    pub unmatched_hosts: Vec<Ipv4Net>,
    /// The nodes of the view that are not load balancers (sorted, one per ingress IP).
    pub not_lbs: Vec<SwarmNode>,
}

impl LbSource {
    /// Parses `--ingress-gateway-ips` (`legacy_env`, the value of `INGRESS_NODE_GATEWAY_IPS`,
    /// before `gateway_ips`) and `--load-balancer-hosts` (`hosts`): `auto` alone, a list of
    /// addresses and `null`s, or nothing (the default). `auto` mixed with addresses, hosts
    /// without `auto`, and malformed items are refused, naming the bad value.
    pub fn parse(
        legacy_env: Option<&str>,
        gateway_ips: &[String],
        hosts: &[String],
    ) -> Result<LbSource, ConfigError> {
        let mut values: Vec<String> = legacy_env.map(str::to_owned).into_iter().collect();
        values.extend(gateway_ips.iter().cloned());
        let is_auto = auto::is_auto(&values)?;
        let hosts = auto::parse_hosts(hosts)?;
        if is_auto {
            return Ok(LbSource::Auto { hosts });
        }
        if !hosts.is_empty() {
            return Err(ConfigError::HostsWithoutAuto);
        }
        let entries = list::parse_load_balancers("--ingress-gateway-ips", &values)?;
        Ok(if entries.is_empty() {
            LbSource::Default
        } else {
            LbSource::Explicit(entries)
        })
    }

    /// Whether this source assigns from the swarm's view (which must then be read from Docker,
    /// and re-read to follow joins and leaves).
    pub fn needs_view(&self) -> bool {
        match self {
            LbSource::Explicit(_) | LbSource::Default => false,
            LbSource::Auto { .. } => true,
        }
    }

    /// The load balancers and their IDs for the node at `ingress`: from the list (given or the
    /// default; `indexed`: `--indexed-ids`), or, for a source that
    /// [needs it](LbSource::needs_view), from `view` (the swarm's view, which a list source
    /// reads only for [`Assigned::not_lbs`]). `encoding` bounds the IDs.
    pub fn assign(
        &self,
        ingress: Ingress,
        view: &[SwarmNode],
        indexed: bool,
        encoding: IdEncoding,
    ) -> Result<Assigned, ConfigError> {
        match self {
            LbSource::Explicit(entries) => {
                list::assign_for(entries, ingress, view, indexed, encoding)
            }
            LbSource::Default => list::assign_for(
                &list::default_list(ingress.node_ip),
                ingress,
                view,
                indexed,
                encoding,
            ),
            LbSource::Auto { hosts } => auto::assign_auto(view, ingress.subnet, hosts, encoding),
        }
    }

    /// The list the IDs come from for a node whose ingress IP is `node_ip`: the addresses
    /// given, or the default; `None` for a source that assigns from the swarm's view.
    pub fn list(&self, node_ip: Ipv4Addr) -> Option<Vec<LbEntry>> {
        match self {
            LbSource::Explicit(entries) => Some(entries.clone()),
            LbSource::Default => Some(list::default_list(node_ip)),
            LbSource::Auto { .. } => None,
        }
    }

    /// The entries the operator gave (empty for the default and for `auto`).
    pub fn given(&self) -> &[LbEntry] {
        match self {
            LbSource::Explicit(entries) => entries,
            LbSource::Default | LbSource::Auto { .. } => &[],
        }
    }

    /// `--load-balancer-hosts` (empty unless given with `auto`).
    pub fn hosts(&self) -> &[Ipv4Net] {
        match self {
            LbSource::Auto { hosts } => hosts,
            LbSource::Explicit(_) | LbSource::Default => &[],
        }
    }

    /// Whether no load balancers were given, so that the default applies.
    pub fn is_default(&self) -> bool {
        match self {
            LbSource::Default => true,
            LbSource::Explicit(_) | LbSource::Auto { .. } => false,
        }
    }

    /// The warning the daemon logs when it builds a node from this source, if any (the
    /// default's: the operator should list the load balancers).
    pub fn warning(&self) -> Option<&'static str> {
        match self {
            LbSource::Default => Some(list::DEFAULT_WARNING),
            LbSource::Explicit(_) | LbSource::Auto { .. } => None,
        }
    }

    /// Where the load balancers come from, as `dird lbs` says it.
    pub fn describe(&self) -> &'static str {
        match self {
            LbSource::Explicit(_) | LbSource::Default => "--ingress-gateway-ips",
            LbSource::Auto { hosts } if hosts.is_empty() => "auto (every node)",
            LbSource::Auto { .. } => "auto (every node matching --load-balancer-hosts)",
        }
    }
}

#[cfg(test)]
mod tests;
