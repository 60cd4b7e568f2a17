use super::*;

const ONE_NODE: &str = include_str!("../../tests/fixtures/network-ingress-1node.json");

#[test]
fn ingress_facts_from_a_real_swarm() {
    let nets: Vec<NetworkInspect> = serde_json::from_str(ONE_NODE).unwrap();
    let ing = ingress_from_network(&nets[0]).unwrap();
    assert_eq!(ing.subnet.to_string(), "10.0.0.0/24");
    assert_eq!(ing.node_ip, Ipv4Addr::new(10, 0, 0, 2));
}

#[test]
fn a_node_without_sbox_is_reported() {
    let mut nets: Vec<NetworkInspect> = serde_json::from_str(ONE_NODE).unwrap();
    nets[0].containers.as_mut().unwrap().remove(SBOX_KEY);
    assert_eq!(ingress_from_network(&nets[0]), Err(FactsError::NoSbox));
}

#[test]
fn an_address_is_held_by_a_container_or_a_named_endpoint_and_nothing_else() {
    let mut nets: Vec<NetworkInspect> = serde_json::from_str(ONE_NODE).unwrap();
    let net = &mut nets[0];
    let ip = |d| Ipv4Addr::new(10, 0, 0, d);
    assert_eq!(
        endpoint_holder(net, ip(4)),
        Some(Holder::Container(
            "8dbf715e75e510931133c535cf8e5d941ed926c30f44bf9f0e54623377a120c2".into()
        ))
    );
    // The sbox's address, and one nobody holds.
    assert_eq!(endpoint_holder(net, ip(2)), None);
    assert_eq!(endpoint_holder(net, ip(99)), None);
    // Docker 28: an endpoint made for a starting container is listed by endpoint.
    let containers = net.containers.as_mut().unwrap();
    let mut pending =
        containers["8f0c7f962a633ec0073ba4be331df7beb19e0ea776e1df21c27750b81c884337"].clone();
    pending.ipv4_address = Some("10.0.0.6/24".into());
    pending.name = Some("web.3.q98d99mm9r6g2l9v7nlpt962j".into());
    containers.insert("ep-27a102abb023".into(), pending.clone());
    assert_eq!(
        endpoint_holder(net, ip(6)),
        Some(Holder::Named("web.3.q98d99mm9r6g2l9v7nlpt962j".into()))
    );
    // Two endpoints claiming one address: nobody's.
    net.containers
        .as_mut()
        .unwrap()
        .insert("ep-ffffffffffff".into(), pending);
    assert_eq!(endpoint_holder(net, ip(6)), None);
}

#[test]
fn published_ports_of_named_services() {
    let json = r#"[
          {"Spec":{"Name":"web"},"Endpoint":{"Ports":[
            {"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"},
            {"Protocol":"udp","TargetPort":53,"PublishedPort":5353,"PublishMode":"ingress"},
            {"Protocol":"tcp","TargetPort":81,"PublishedPort":8181,"PublishMode":"host"}]}},
          {"Spec":{"Name":"api"},"Endpoint":{"Ports":[{"Protocol":"tcp","TargetPort":90,"PublishedPort":9090,"PublishMode":"ingress"}]}}
        ]"#;
    let services: Vec<Service> = serde_json::from_str(json).unwrap();
    let (tcp, udp) = published_ports(&services, &["web".to_string()]);
    assert_eq!(tcp, vec![PortSpec::Single(8080)]);
    assert_eq!(udp, vec![PortSpec::Single(5353)]);
    assert_eq!(
        published_ports(&services, &["nope".to_string()]),
        (vec![], vec![])
    );
}
