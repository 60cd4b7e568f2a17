//! Reading an overlay network's remote endpoints (root): a throwaway namespace with a VXLAN
//! device holding what Docker's overlay driver programs for each remote endpoint — a permanent
//! neighbour entry (IP → MAC) and an FDB entry (MAC → the remote node's underlay IP).

mod common;

use std::net::Ipv4Addr;

use common::Netns;
use dird::apply::peers::{overlay_peers, Peer};

#[test]
fn remote_endpoints_are_read_with_their_nodes_underlay_address() {
    let ns = Netns::new("peers");
    ns.ip(&[
        "link", "add", "vxlan0", "type", "vxlan", "id", "4096", "dstport", "4789",
    ]);
    ns.ip(&["link", "set", "vxlan0", "up"]);
    for (ip, mac, vtep) in [
        ("10.0.0.3", "02:42:0a:00:00:03", "192.0.2.2"),
        ("10.0.0.9", "02:42:0a:00:00:09", "192.0.2.3"),
    ] {
        ns.ip(&[
            "neigh",
            "add",
            ip,
            "lladdr",
            mac,
            "dev",
            "vxlan0",
            "nud",
            "permanent",
        ]);
        ns.exec(&[
            "bridge",
            "fdb",
            "add",
            mac,
            "dev",
            "vxlan0",
            "dst",
            vtep,
            "self",
            "permanent",
        ]);
    }
    // A neighbour with no tunnel end is not a remote endpoint.
    ns.ip(&[
        "neigh",
        "add",
        "10.0.0.20",
        "lladdr",
        "02:42:0a:00:00:14",
        "dev",
        "vxlan0",
        "nud",
        "permanent",
    ]);

    let peers = overlay_peers(&ns.path()).expect("read");
    let peer = |ip: [u8; 4], vtep: [u8; 4]| Peer {
        ip: Ipv4Addr::from(ip),
        vtep: Ipv4Addr::from(vtep),
    };
    assert_eq!(
        peers,
        vec![
            peer([10, 0, 0, 3], [192, 0, 2, 2]),
            peer([10, 0, 0, 9], [192, 0, 2, 3])
        ]
    );
}
