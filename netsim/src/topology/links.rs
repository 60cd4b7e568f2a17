//! rtnetlink helpers: links, addresses, routes, neighbours and FDB entries. Each works on the
//! namespace whose rtnetlink handle it is given (see `netns::rtnl`).

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use futures::TryStreamExt;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, InfoVxlan, LinkAttribute, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{NeighbourFlags, NeighbourState};
use netlink_packet_route::route::RouteScope;
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};

use crate::Error;

fn nl(step: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
    let step = step.into();
    move |e| Error::Netlink {
        step,
        source: e.into(),
    }
}

pub async fn index(h: &Handle, name: &str) -> Result<u32, Error> {
    let mut links = h.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(msg.header.index),
        Ok(None) => Err(Error::Netlink {
            step: format!("find link {name}"),
            source: "not found".into(),
        }),
        Err(e) => Err(nl(format!("find link {name}"))(e)),
    }
}

/// `ip link add` with the link described by `msg`.
async fn add_link(h: &Handle, msg: LinkMessage, step: String) -> Result<(), Error> {
    h.link().add(msg).execute().await.map_err(nl(step))
}

/// `ip link set` with what `msg` sets.
async fn change_link(h: &Handle, msg: LinkMessage, step: String) -> Result<(), Error> {
    h.link().change(msg).execute().await.map_err(nl(step))
}

/// One end of a veth pair: its name, the namespace it lives in, MAC and MTU.
pub struct VethEnd<'a> {
    pub name: &'a str,
    pub netns: &'a File,
    pub mac: Option<[u8; 6]>,
    pub mtu: Option<u32>,
}

fn end_attrs(end: &VethEnd) -> Vec<LinkAttribute> {
    let mut v = vec![
        LinkAttribute::IfName(end.name.to_string()),
        LinkAttribute::NetNsFd(end.netns.as_raw_fd()),
    ];
    if let Some(mac) = end.mac {
        v.push(LinkAttribute::Address(mac.to_vec()));
    }
    if let Some(mtu) = end.mtu {
        v.push(LinkAttribute::Mtu(mtu));
    }
    v
}

/// Create a veth pair whose two ends are born directly in their target namespaces.
pub async fn add_veth(h: &Handle, a: VethEnd<'_>, b: VethEnd<'_>) -> Result<(), Error> {
    let mut peer = LinkMessage::default();
    peer.attributes = end_attrs(&b);
    let mut msg = LinkMessage::default();
    msg.attributes = end_attrs(&a);
    msg.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
    ]));
    add_link(h, msg, format!("add veth {} <-> {}", a.name, b.name)).await
}

pub async fn add_bridge(
    h: &Handle,
    name: &str,
    mac: Option<[u8; 6]>,
    mtu: Option<u32>,
) -> Result<(), Error> {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    if let Some(mac) = mac {
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
    }
    if let Some(mtu) = mtu {
        msg.attributes.push(LinkAttribute::Mtu(mtu));
    }
    msg.attributes
        .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
            InfoKind::Bridge,
        )]));
    add_link(h, msg, format!("add bridge {name}")).await
}

/// Docker's overlay VXLAN: created from the node host namespace (its UDP socket stays there)
/// directly into the overlay namespace `target`.
pub async fn add_vxlan(
    h: &Handle,
    name: &str,
    target: &File,
    vni: u32,
    port: u16,
    mtu: u32,
) -> Result<(), Error> {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    msg.attributes
        .push(LinkAttribute::NetNsFd(target.as_raw_fd()));
    msg.attributes.push(LinkAttribute::Mtu(mtu));
    msg.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Vxlan),
        LinkInfo::Data(InfoData::Vxlan(vec![
            InfoVxlan::Id(vni),
            InfoVxlan::Port(port),
            InfoVxlan::Learning(true),
            InfoVxlan::Proxy(true),
            InfoVxlan::L2Miss(true),
            InfoVxlan::L3Miss(true),
        ])),
    ]));
    add_link(h, msg, format!("add vxlan {name}")).await
}

pub async fn up(h: &Handle, name: &str) -> Result<(), Error> {
    let idx = index(h, name).await?;
    let msg = LinkUnspec::new_with_index(idx).up().build();
    change_link(h, msg, format!("set {name} up")).await
}

pub async fn set_master(h: &Handle, name: &str, master: &str) -> Result<(), Error> {
    let idx = index(h, name).await?;
    let m = index(h, master).await?;
    let msg = LinkUnspec::new_with_index(idx).controller(m).build();
    change_link(h, msg, format!("set {name} master {master}")).await
}

pub async fn add_addr(h: &Handle, name: &str, ip: Ipv4Addr, prefix: u8) -> Result<(), Error> {
    let idx = index(h, name).await?;
    h.address()
        .add(idx, IpAddr::V4(ip), prefix)
        .execute()
        .await
        .map_err(nl(format!("add {ip}/{prefix} to {name}")))
}

/// `ip route add DST/PREFIX [via GW] [dev DEV]`, scope link when there is no gateway.
pub async fn add_route(
    h: &Handle,
    dst: Ipv4Addr,
    prefix: u8,
    gw: Option<Ipv4Addr>,
    dev: Option<&str>,
) -> Result<(), Error> {
    let mut route = RouteMessageBuilder::<Ipv4Addr>::new().destination_prefix(dst, prefix);
    if let Some(dev) = dev {
        route = route.output_interface(index(h, dev).await?);
    }
    route = match gw {
        Some(gw) => route.gateway(gw),
        None => route.scope(RouteScope::Link),
    };
    h.route()
        .add(route.build())
        .execute()
        .await
        .map_err(nl(format!(
            "add route {dst}/{prefix} via {gw:?} dev {dev:?}"
        )))
}

/// `ip neigh add IP lladdr MAC dev DEV nud permanent`
pub async fn add_neigh(h: &Handle, dev: &str, ip: Ipv4Addr, mac: [u8; 6]) -> Result<(), Error> {
    let idx = index(h, dev).await?;
    h.neighbours()
        .add(idx, IpAddr::V4(ip))
        .link_layer_address(&mac)
        .state(NeighbourState::Permanent)
        .execute()
        .await
        .map_err(nl(format!("add neighbour {ip} on {dev}")))
}

/// `bridge fdb add MAC dev DEV dst IP self permanent`
pub async fn add_fdb(h: &Handle, dev: &str, mac: [u8; 6], dst: Ipv4Addr) -> Result<(), Error> {
    let idx = index(h, dev).await?;
    h.neighbours()
        .add_bridge(idx, &mac)
        .destination(IpAddr::V4(dst))
        .flags(NeighbourFlags::Own)
        .state(NeighbourState::Permanent)
        .execute()
        .await
        .map_err(nl(format!("add fdb {mac:02x?} dst {dst} on {dev}")))
}

/// Bring up `lo`.
pub async fn lo_up(h: &Handle) -> Result<(), Error> {
    up(h, "lo").await
}
