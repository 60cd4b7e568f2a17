//! The first address a new network namespace gets in a subnet, decided from the netlink
//! messages read in that namespace (pure: no I/O, so that the order of events is tested on its
//! own).
//!
//! The reader subscribes to address and link notifications, then dumps the addresses and the
//! links. An address in the subnet that the namespace holds before both dumps are done was
//! not seen arriving: the namespace is [`Verdict::HadOne`], and its first address is not
//! vouched for. Otherwise the first address in the subnet that arrives afterwards is
//! [`Verdict::Arrived`] once its interface is up (Docker adds the address, then brings the
//! interface up; a route through that interface needs it up).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkFlags, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;

/// The sequence numbers of the two dumps (notifications carry 0).
pub const ADDRESS_DUMP: u32 = 1;
pub const LINK_DUMP: u32 = 2;

/// What a namespace's messages decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The first address in the subnet arrived, on interface `index`, which is up.
    Arrived { ip: Ipv4Addr, index: u32 },
    /// An address in the subnet was there before the watch could see it arrive.
    HadOne,
    /// The first address went away before its interface came up.
    Gone,
}

/// What the reader has to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Keep reading.
    Read,
    /// Send the link dump (the address dump is done).
    DumpLinks,
    Decided(Verdict),
}

/// The state of one namespace's watch.
#[derive(Debug)]
pub struct FirstAddress {
    subnet: Ipv4Net,
    addresses_dumped: bool,
    links_dumped: bool,
    up: HashSet<u32>,
    /// The first address in the subnet, waiting for its interface to come up.
    pending: Option<(Ipv4Addr, u32)>,
}

impl FirstAddress {
    pub fn new(subnet: Ipv4Net) -> FirstAddress {
        FirstAddress {
            subnet,
            addresses_dumped: false,
            links_dumped: false,
            up: HashSet::new(),
            pending: None,
        }
    }

    /// One message read from the namespace's socket.
    pub fn feed(&mut self, msg: &NetlinkMessage<RouteNetlinkMessage>) -> Next {
        let seq = msg.header.sequence_number;
        match &msg.payload {
            NetlinkPayload::Done(_) if seq == ADDRESS_DUMP => {
                self.addresses_dumped = true;
                Next::DumpLinks
            }
            NetlinkPayload::Done(_) if seq == LINK_DUMP => {
                self.links_dumped = true;
                self.decide()
            }
            // A failed dump, or the socket overran: what arrived when is not known.
            NetlinkPayload::Error(e) if e.code.is_some() => Next::Decided(Verdict::HadOne),
            NetlinkPayload::Overrun(_) => Next::Decided(Verdict::HadOne),
            NetlinkPayload::InnerMessage(inner) => self.inner(inner),
            _ => Next::Read,
        }
    }

    fn inner(&mut self, m: &RouteNetlinkMessage) -> Next {
        match m {
            RouteNetlinkMessage::NewLink(l) => {
                if is_up(l) {
                    self.up.insert(l.header.index);
                } else {
                    self.up.remove(&l.header.index);
                }
                self.decide()
            }
            RouteNetlinkMessage::DelLink(l) => {
                self.up.remove(&l.header.index);
                if self.pending.is_some_and(|(_, i)| i == l.header.index) {
                    return Next::Decided(Verdict::Gone);
                }
                Next::Read
            }
            RouteNetlinkMessage::NewAddress(a) => match self.in_subnet(a) {
                None => Next::Read,
                Some(_) if !(self.addresses_dumped && self.links_dumped) => {
                    Next::Decided(Verdict::HadOne)
                }
                Some(ip) => {
                    if self.pending.is_none() {
                        self.pending = Some((ip, a.header.index));
                    }
                    self.decide()
                }
            },
            RouteNetlinkMessage::DelAddress(a) => match (self.in_subnet(a), self.pending) {
                (Some(ip), Some((first, _))) if ip == first => Next::Decided(Verdict::Gone),
                _ => Next::Read,
            },
            _ => Next::Read,
        }
    }

    fn decide(&self) -> Next {
        match self.pending {
            Some((ip, index)) if self.links_dumped && self.up.contains(&index) => {
                Next::Decided(Verdict::Arrived { ip, index })
            }
            _ => Next::Read,
        }
    }

    /// The message's IPv4 address, when it lies in the subnet.
    fn in_subnet(&self, a: &AddressMessage) -> Option<Ipv4Addr> {
        a.attributes.iter().find_map(|attr| match attr {
            AddressAttribute::Local(IpAddr::V4(ip)) | AddressAttribute::Address(IpAddr::V4(ip))
                if self.subnet.contains(ip) =>
            {
                Some(*ip)
            }
            _ => None,
        })
    }
}

/// The netlink messages of one datagram read from the socket; `Err` when one does not parse
/// (the datagram is then not trusted at all).
pub fn messages(
    mut buf: &[u8],
) -> Result<Vec<NetlinkMessage<RouteNetlinkMessage>>, netlink_packet_core::DecodeError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let len = netlink_packet_core::NetlinkBuffer::new_checked(buf)?.length() as usize;
        let (one, rest) = buf.split_at(len.min(buf.len()));
        out.push(NetlinkMessage::deserialize(one)?);
        // Messages are padded to 4 bytes.
        buf = rest
            .get(rest.len().min((4 - len % 4) % 4)..)
            .unwrap_or_default();
    }
    Ok(out)
}

fn is_up(l: &LinkMessage) -> bool {
    l.header.flags.contains(LinkFlags::Up)
}

#[cfg(test)]
#[path = "first_address_tests.rs"]
mod tests;
