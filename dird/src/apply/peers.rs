//! The remote endpoints Docker's overlay driver programmed into an overlay network's
//! namespace (`/var/run/docker/netns/1-<network id>`): a static neighbour entry (endpoint IP →
//! MAC) and a bridge FDB entry (MAC → the remote node's underlay IP, its VXLAN tunnel end) for
//! every endpoint on another node. Read-only. Only permanent entries count: Docker programs
//! its entries permanent, while the kernel learns others from traffic any container on the
//! overlay can send. At most [`super::routing::MAX_DUMP`] entries are read.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;

use futures::TryStreamExt;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::Handle;

use super::{fail, with_netlink, ApplyError, Step};
use crate::netns;

/// A remote endpoint of the overlay: its address and its node's underlay address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Peer {
    pub ip: Ipv4Addr,
    pub vtep: Ipv4Addr,
}

/// Every remote endpoint of the overlay network whose namespace is at `ns`.
pub fn overlay_peers(ns: &Path) -> Result<Vec<Peer>, ApplyError> {
    let name = format!("overlay namespace {}", ns.display());
    let target = name.as_str();
    netns::run_in(ns, || {
        with_netlink(target, |handle| async move {
            let inet = dump(&handle, AddressFamily::Inet)
                .await
                .map_err(|e| fail(target, Step::ReadRouting, e))?;
            let fdb = dump(&handle, AddressFamily::Bridge)
                .await
                .map_err(|e| fail(target, Step::ReadRouting, e))?;
            Ok(join(&inet, &fdb))
        })
    })
    .map_err(|e| fail(target, Step::EnterNamespace, e))?
}

async fn dump(
    handle: &Handle,
    family: AddressFamily,
) -> Result<Vec<NeighbourMessage>, super::routing::ReadError> {
    let mut stream = handle
        .neighbours()
        .get()
        .set_address_family(family)
        .execute();
    let mut out = Vec::new();
    while let Some(m) = stream.try_next().await? {
        if out.len() >= super::routing::MAX_DUMP {
            return Err(super::routing::ReadError::TooMany {
                what: "neighbour entries",
            });
        }
        out.push(m);
    }
    Ok(out)
}

/// Whether an entry is permanent (`NUD_PERMANENT`, as Docker programs its own).
fn permanent(m: &NeighbourMessage) -> bool {
    match m.header.state {
        NeighbourState::Permanent => true,
        NeighbourState::Other(bits) => bits & 0x80 != 0,
        _ => false,
    }
}

/// (IPv4 destination, link-layer address) of a permanent neighbour or FDB entry.
fn entry(m: &NeighbourMessage) -> Option<(Ipv4Addr, Vec<u8>)> {
    if !permanent(m) {
        return None;
    }
    // An FDB entry's family is AF_BRIDGE, so its IPv4 tunnel end is parsed as raw bytes.
    let ip = m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(*ip),
        NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => {
            <[u8; 4]>::try_from(b.as_slice()).ok().map(Ipv4Addr::from)
        }
        _ => None,
    })?;
    let mac = m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(mac) => Some(mac.clone()),
        _ => None,
    })?;
    Some((ip, mac))
}

/// Endpoints (neighbour: IP → MAC) joined with tunnel ends (FDB: MAC → VTEP).
fn join(inet: &[NeighbourMessage], fdb: &[NeighbourMessage]) -> Vec<Peer> {
    let vtep_of: HashMap<Vec<u8>, Ipv4Addr> = fdb
        .iter()
        .filter_map(entry)
        .map(|(vtep, mac)| (mac, vtep))
        .collect();
    let mut peers: Vec<Peer> = inet
        .iter()
        .filter_map(entry)
        .filter_map(|(ip, mac)| {
            Some(Peer {
                ip,
                vtep: *vtep_of.get(&mac)?,
            })
        })
        .collect();
    peers.sort();
    peers.dedup();
    peers
}

#[cfg(test)]
#[path = "peers_tests.rs"]
mod tests;
