use super::*;

fn node(ingress: &str, host: &str) -> SwarmNode {
    SwarmNode {
        ingress_ip: ingress.parse().unwrap(),
        host_ip: Some(host.parse().unwrap()),
    }
}

#[test]
fn every_node_is_a_load_balancer_with_its_offset_as_id() {
    let view = [node("10.0.0.3", "192.0.2.2"), node("10.0.0.2", "192.0.2.1")];
    let set = assign_auto(&view, "10.0.0.0/24".parse().unwrap(), &[], IdEncoding::Tos).unwrap();
    let ids: Vec<(String, u8)> = set
        .lbs
        .members
        .iter()
        .map(|m| (m.ip.to_string(), m.id.get()))
        .collect();
    assert_eq!(ids, vec![("10.0.0.2".into(), 2), ("10.0.0.3".into(), 3)]);
}

#[test]
fn a_leaving_node_never_renumbers_the_others() {
    let subnet = "10.0.0.0/16".parse().unwrap();
    let all = [
        node("10.0.0.2", "192.0.2.1"),
        node("10.0.0.3", "192.0.2.2"),
        node("10.0.0.4", "192.0.2.3"),
    ];
    let before = assign_auto(&all, subnet, &[], IdEncoding::Tos).unwrap();
    let after = assign_auto(&[all[0], all[2]], subnet, &[], IdEncoding::Tos).unwrap();
    for m in &after.lbs.members {
        assert_eq!(before.lbs.id_of(m.ip), Some(m.id));
    }
}

#[test]
fn hosts_narrow_the_set_and_unmatched_filters_are_reported() {
    let view = [node("10.0.0.2", "192.0.2.1"), node("10.0.0.3", "192.0.2.2")];
    let hosts = [
        "192.0.2.1/32".parse().unwrap(),
        "198.51.100.0/24".parse().unwrap(),
    ];
    let set = assign_auto(
        &view,
        "10.0.0.0/24".parse().unwrap(),
        &hosts,
        IdEncoding::Tos,
    )
    .unwrap();
    assert_eq!(set.lbs.members.len(), 1);
    assert_eq!(set.not_lbs, vec![view[1]]);
    assert_eq!(set.unmatched_hosts, vec![hosts[1]]);
}

#[test]
fn offsets_beyond_the_encoding_are_refused_naming_the_node() {
    let view = [node("10.0.1.2", "192.0.2.1")];
    let e = assign_auto(&view, "10.0.0.0/16".parse().unwrap(), &[], IdEncoding::Tos).unwrap_err();
    assert!(
        e.to_string().contains("10.0.1.2") && e.to_string().contains("258"),
        "{e}"
    );
    let view = [node("10.0.0.70", "192.0.2.1")];
    assert!(assign_auto(&view, "10.0.0.0/24".parse().unwrap(), &[], IdEncoding::Dscp).is_err());
}
