use super::*;
use crate::config::IdEncoding;
use crate::discovery::LbSource;
use crate::plan::Ingress;

const A: &str = include_str!("../../tests/fixtures/ingress-verbose-a.json");
const B: &str = include_str!("../../tests/fixtures/ingress-verbose-b.json");

#[test]
fn both_nodes_see_the_same_list() {
    let a = parse(A).unwrap();
    assert_eq!(a, parse(B).unwrap(), "manager and worker agree");
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].ingress_ip, Ipv4Addr::new(10, 0, 0, 2));
    assert_eq!(a[0].host_ip, Some(Ipv4Addr::new(192, 0, 2, 1)));
}

/// Docker 26.1's view (one-node swarm, services web and api): its Services list the
/// services' tasks only, no `ingress-endpoint`, so the endpoints come from the overlay.
#[test]
fn docker_26_1_lists_no_ingress_endpoint() {
    let v = include_str!("../../tests/fixtures/ingress-verbose-26.1.json");
    assert_eq!(parse(v), Ok(Vec::new()));
    assert_eq!(network_id(v).as_deref(), Some("wqpvpihvg0dg6styn93jlm0zb"));
}

#[test]
fn on_docker_26_1_the_other_nodes_come_from_the_overlays_remote_endpoints() {
    use crate::apply::peers::Peer;
    let v = include_str!("../../tests/fixtures/ingress-verbose-26.1.json");
    let ip = |d| Ipv4Addr::new(10, 0, 0, d);
    let host = |d| Ipv4Addr::new(192, 0, 2, d);
    let peer = |d, h| Peer {
        ip: ip(d),
        vtep: host(h),
    };
    let peers = [
        // Node 192.0.2.2: its sbox (10.0.0.8) and a task the view lists (10.0.0.5).
        peer(8, 2),
        peer(5, 2),
        // Node 192.0.2.3: its sbox only.
        peer(9, 3),
        // Node 192.0.2.4: its sbox and a task the view does not list yet: left out.
        peer(10, 4),
        peer(11, 4),
        // A service's virtual IP is never an endpoint of a node.
        peer(3, 2),
    ];
    let node = |d, h| SwarmNode {
        ingress_ip: ip(d),
        host_ip: Some(host(h)),
    };
    assert_eq!(
        from_overlay(v, Some(host(1)), &peers, &[]),
        Ok(vec![node(2, 1), node(8, 2), node(9, 3)])
    );
    // Known before the task started there: node 192.0.2.4 keeps its endpoint.
    assert_eq!(
        from_overlay(v, Some(host(1)), &peers, &[node(10, 4)]),
        Ok(vec![node(2, 1), node(8, 2), node(9, 3), node(10, 4)])
    );
}

#[test]
fn table_from_the_captured_view() {
    let view = parse(B).unwrap();
    let auto = LbSource::Auto {
        hosts: vec!["192.0.2.1/32".parse().unwrap()],
    };
    let ingress = Ingress {
        subnet: "10.0.0.0/24".parse().unwrap(),
        node_ip: Ipv4Addr::new(10, 0, 0, 3),
    };
    let set = auto.assign(ingress, &view, false, IdEncoding::Tos).unwrap();
    insta::assert_snapshot!(render_table(
        &view,
        &set.lbs,
        &set.unmatched_hosts,
        Some(Ipv4Addr::new(10, 0, 0, 3))
    ));
}

#[test]
fn joins_and_leaves() {
    let view = parse(A).unwrap();
    let (joined, left) = diff(&view[..1], &view);
    assert_eq!((joined, left), (vec![view[1]], vec![]));
    let (joined, left) = diff(&view, &view[1..]);
    assert_eq!((joined, left), (vec![], vec![view[0]]));
}

/// Manager and worker list the same indexes (`web`: 256); the `""` entry that holds the
/// `ingress-endpoint` tasks has none.
#[test]
fn both_nodes_list_each_services_load_balancer_index() {
    let web = BTreeMap::from([("web".to_string(), 256)]);
    assert_eq!(lb_indexes(A), Ok(web.clone()));
    assert_eq!(lb_indexes(B), Ok(web));
    assert_eq!(
        lb_indexes(
            r#"{"Services":{"x":{"LocalLBIndex":-1},"y":{"LocalLBIndex":4294967296},"z":{}}}"#
        ),
        Ok(BTreeMap::new())
    );
    assert_eq!(lb_indexes("[{}]"), Err(ViewError::NoEndpoints));
}

#[test]
fn a_non_swarm_view_is_an_error() {
    assert_eq!(
        parse("[{\"Name\":\"ingress\"}]"),
        Err(ViewError::NoEndpoints)
    );
    assert!(matches!(parse("nope"), Err(ViewError::Json(_))));
}
