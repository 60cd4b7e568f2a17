use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_core::{DoneMessage, NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkFlags, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::*;

fn subnet() -> Ipv4Net {
    "10.0.0.0/24".parse().expect("subnet")
}

fn msg(
    seq: u32,
    payload: NetlinkPayload<RouteNetlinkMessage>,
) -> NetlinkMessage<RouteNetlinkMessage> {
    let mut header = NetlinkHeader::default();
    header.sequence_number = seq;
    let mut m = NetlinkMessage::new(header, payload);
    m.finalize();
    m
}

fn done(seq: u32) -> NetlinkMessage<RouteNetlinkMessage> {
    msg(seq, NetlinkPayload::Done(DoneMessage::default()))
}

fn addr(seq: u32, index: u32, ip: [u8; 4], new: bool) -> NetlinkMessage<RouteNetlinkMessage> {
    let mut a = AddressMessage::default();
    a.header.family = AddressFamily::Inet;
    a.header.prefix_len = 24;
    a.header.index = index;
    let ip = IpAddr::V4(Ipv4Addr::from(ip));
    a.attributes = vec![AddressAttribute::Address(ip), AddressAttribute::Local(ip)];
    let inner = if new {
        RouteNetlinkMessage::NewAddress(a)
    } else {
        RouteNetlinkMessage::DelAddress(a)
    };
    msg(seq, NetlinkPayload::InnerMessage(inner))
}

fn link(seq: u32, index: u32, up: bool) -> NetlinkMessage<RouteNetlinkMessage> {
    let mut l = LinkMessage::default();
    l.header.index = index;
    l.header.flags = if up {
        LinkFlags::LowerUp | LinkFlags::Up
    } else {
        LinkFlags::empty()
    };
    msg(
        seq,
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)),
    )
}

/// Feeds `msgs` in order and returns every answer.
fn run(msgs: &[NetlinkMessage<RouteNetlinkMessage>]) -> Vec<Next> {
    let mut w = FirstAddress::new(subnet());
    msgs.iter().map(|m| w.feed(m)).collect()
}

/// What Docker 28.5 does in a task's new namespace after the watch began: an empty namespace
/// (lo up), then the ingress veth renamed, addressed and brought up, then the gwbridge's.
#[test]
fn the_first_ingress_address_arrives_once_its_interface_is_up() {
    let got = run(&[
        addr(ADDRESS_DUMP, 1, [127, 0, 0, 1], true),
        done(ADDRESS_DUMP),
        link(LINK_DUMP, 1, true),
        done(LINK_DUMP),
        link(0, 14, false),
        addr(0, 14, [10, 0, 0, 6], true),
        link(0, 14, true),
        addr(0, 20, [172, 18, 0, 4], true),
    ]);
    assert_eq!(
        got,
        [
            Next::Read,
            Next::DumpLinks,
            Next::Read,
            Next::Read,
            Next::Read,
            Next::Read,
            Next::Decided(Verdict::Arrived {
                ip: Ipv4Addr::new(10, 0, 0, 6),
                index: 14
            }),
            Next::Read,
        ]
    );
}

#[test]
fn an_address_on_an_interface_already_up_arrives_at_once() {
    let got = run(&[
        done(ADDRESS_DUMP),
        link(LINK_DUMP, 3, true),
        done(LINK_DUMP),
        addr(0, 3, [10, 0, 0, 9], true),
    ]);
    assert_eq!(
        got.last(),
        Some(&Next::Decided(Verdict::Arrived {
            ip: Ipv4Addr::new(10, 0, 0, 9),
            index: 3
        }))
    );
}

#[test]
fn an_address_held_before_the_dumps_end_is_not_vouched_for() {
    // In the dump: it was there before the watch.
    let got = run(&[addr(ADDRESS_DUMP, 3, [10, 0, 0, 9], true)]);
    assert_eq!(got, [Next::Decided(Verdict::HadOne)]);
    // Notified while the dumps run: it may have been there before the subscription.
    let got = run(&[done(ADDRESS_DUMP), addr(0, 3, [10, 0, 0, 9], true)]);
    assert_eq!(got, [Next::DumpLinks, Next::Decided(Verdict::HadOne)]);
}

#[test]
fn only_the_first_address_counts_and_other_subnets_are_ignored() {
    let got = run(&[
        done(ADDRESS_DUMP),
        done(LINK_DUMP),
        addr(0, 20, [172, 18, 0, 4], true),
        addr(0, 14, [10, 0, 0, 6], true),
        addr(0, 15, [10, 0, 0, 7], true),
        link(0, 15, true),
        link(0, 14, true),
    ]);
    assert_eq!(
        got.last(),
        Some(&Next::Decided(Verdict::Arrived {
            ip: Ipv4Addr::new(10, 0, 0, 6),
            index: 14
        }))
    );
    assert!(!got[..got.len() - 1]
        .iter()
        .any(|n| matches!(n, Next::Decided(_))));
}

#[test]
fn a_first_address_removed_before_its_interface_is_up_is_gone() {
    let got = run(&[
        done(ADDRESS_DUMP),
        done(LINK_DUMP),
        addr(0, 14, [10, 0, 0, 6], true),
        addr(0, 14, [10, 0, 0, 6], false),
    ]);
    assert_eq!(got.last(), Some(&Next::Decided(Verdict::Gone)));
}

#[test]
fn a_failed_dump_or_an_overrun_decides_nothing_was_seen() {
    let mut err = netlink_packet_core::ErrorMessage::default();
    err.code = std::num::NonZeroI32::new(-16);
    assert_eq!(
        run(&[msg(ADDRESS_DUMP, NetlinkPayload::Error(err))]),
        [Next::Decided(Verdict::HadOne)]
    );
    assert_eq!(
        run(&[msg(0, NetlinkPayload::Overrun(vec![0; 4]))]),
        [Next::Decided(Verdict::HadOne)]
    );
}

#[test]
fn a_datagram_of_several_messages_splits_and_a_truncated_one_is_refused() {
    let all = [
        addr(ADDRESS_DUMP, 1, [127, 0, 0, 1], true),
        link(LINK_DUMP, 1, true),
        done(LINK_DUMP),
    ];
    let mut buf = Vec::new();
    for m in &all {
        let mut one = vec![0u8; m.buffer_len()];
        m.serialize(&mut one);
        // Each message starts 4-byte aligned.
        one.resize(one.len().div_ceil(4) * 4, 0);
        buf.extend_from_slice(&one);
    }
    let parsed = messages(&buf).expect("parses");
    assert_eq!(parsed, all);
    assert!(messages(&buf[..buf.len() - 3]).is_err());
}

proptest::proptest! {
    /// Any datagram: no panic; a watch fed whatever parses never panics either.
    #[test]
    fn any_datagram_is_read_without_panic(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024)) {
        if let Ok(msgs) = messages(&raw) {
            let mut w = FirstAddress::new(subnet());
            for m in &msgs {
                let _ = w.feed(m);
            }
        }
    }
}
