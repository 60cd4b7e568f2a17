use super::*;

fn neighbour(ip: [u8; 4], mac: u8, state: NeighbourState, bridge: bool) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.state = state;
    let dst = if bridge {
        NeighbourAddress::Other(ip.to_vec())
    } else {
        NeighbourAddress::Inet(Ipv4Addr::from(ip))
    };
    m.attributes = vec![
        NeighbourAttribute::Destination(dst),
        NeighbourAttribute::LinkLayerAddress(vec![2, 0x42, 10, 0, 0, mac]),
    ];
    m
}

#[test]
fn only_permanent_entries_make_peers() {
    let inet = [
        neighbour([10, 0, 0, 3], 3, NeighbourState::Permanent, false),
        // Learned from traffic: a container can make the kernel learn anything.
        neighbour([10, 0, 0, 9], 9, NeighbourState::Reachable, false),
    ];
    let fdb = [
        neighbour([192, 0, 2, 2], 3, NeighbourState::Permanent, true),
        neighbour([192, 0, 2, 9], 9, NeighbourState::Permanent, true),
    ];
    assert_eq!(
        join(&inet, &fdb),
        [Peer {
            ip: Ipv4Addr::new(10, 0, 0, 3),
            vtep: Ipv4Addr::new(192, 0, 2, 2)
        }]
    );
    let learned_fdb = [neighbour([192, 0, 2, 2], 3, NeighbourState::Stale, true)];
    assert!(join(&inet, &learned_fdb).is_empty());
}
