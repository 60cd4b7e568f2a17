use std::cell::Cell;

use super::*;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("ip")
}

fn ingress(subnet: &str, node_ip: &str) -> Ingress {
    Ingress {
        subnet: subnet.parse().expect("subnet"),
        node_ip: ip(node_ip),
    }
}

fn node(ingress_ip: &str, host_ip: &str) -> SwarmNode {
    SwarmNode {
        ingress_ip: ip(ingress_ip),
        host_ip: Some(ip(host_ip)),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn ids(a: &Assigned) -> Vec<(String, u8)> {
    a.lbs
        .members
        .iter()
        .map(|m| (m.ip.to_string(), m.id.get()))
        .collect()
}

#[test]
fn no_list_is_the_originals_default_of_the_nodes_slash_24() {
    let source = LbSource::parse(None, &[], &[]).expect("parsed");
    assert_eq!(source, LbSource::Default);
    assert!(source.is_default() && !source.needs_view());
    assert_eq!(source.warning(), Some("no --ingress-gateway-ips given: assuming .2 to .9 of this node's /24 (as the original daemon); list your load balancers' ingress IPs"));
    let a = source
        .assign(
            ingress("10.0.0.0/16", "10.0.3.7"),
            &[],
            false,
            IdEncoding::Tos,
        )
        .expect("assigned");
    let want: Vec<(String, u8)> = (2..=9).map(|d| (format!("10.0.3.{d}"), d - 1)).collect();
    assert_eq!(ids(&a), want, "a /16 forces indexed IDs");
    let a = source
        .assign(
            ingress("10.0.0.0/24", "10.0.0.7"),
            &[],
            false,
            IdEncoding::Tos,
        )
        .expect("assigned");
    let want: Vec<(String, u8)> = (2..=9).map(|d| (format!("10.0.0.{d}"), d)).collect();
    assert_eq!(ids(&a), want);
    assert_eq!(
        source.list(ip("10.0.0.7")),
        Some(
            (2..=9)
                .map(|d| LbEntry::Ip(Ipv4Addr::new(10, 0, 0, d)))
                .collect()
        )
    );
    assert!(source.given().is_empty());
}

#[test]
fn an_address_outside_the_subnet_is_refused_alike_by_every_source() {
    let subnet: Ipv4Net = "10.0.0.8/29".parse().expect("subnet");
    let outside = ip("10.0.0.2");
    let want = in_subnet(outside, subnet).expect_err("outside");
    assert_eq!(
        want.to_string(),
        "load-balancer IP 10.0.0.2 is outside the ingress subnet 10.0.0.8/29"
    );
    let at = Ingress {
        subnet,
        node_ip: ip("10.0.0.10"),
    };
    let explicit = LbSource::Explicit(vec![LbEntry::Ip(outside)]);
    let auto = LbSource::Auto { hosts: Vec::new() };
    let view = [node("10.0.0.2", "192.0.2.1")];
    for source in [explicit, LbSource::Default, auto] {
        let e = source
            .assign(at, &view, false, IdEncoding::Tos)
            .expect_err("refused");
        assert_eq!(e, want, "{source:?}");
    }
    assert_eq!(in_subnet(ip("10.0.0.10"), subnet), Ok(()));
}

#[test]
fn auto_assigns_every_node_of_the_view_its_offset() {
    let source = LbSource::parse(None, &strings(&["auto"]), &[]).expect("parsed");
    assert!(source.needs_view() && !source.is_default());
    let view = [
        node("10.0.0.4", "192.0.2.3"),
        node("10.0.0.2", "192.0.2.1"),
        node("10.0.0.2", "192.0.2.1"),
    ];
    let at = ingress("10.0.0.0/24", "10.0.0.2");
    let a = source
        .assign(at, &view, true, IdEncoding::Tos)
        .expect("assigned");
    assert_eq!(
        ids(&a),
        [("10.0.0.2".to_string(), 2), ("10.0.0.4".to_string(), 4)],
        "offsets, whatever --indexed-ids says"
    );
    assert!(a.not_lbs.is_empty() && a.unmatched_hosts.is_empty());
    let narrowed = LbSource::parse(
        None,
        &strings(&["auto"]),
        &strings(&["192.0.2.3", "198.51.100.0/24"]),
    )
    .expect("parsed");
    let a = narrowed
        .assign(at, &view, false, IdEncoding::Tos)
        .expect("assigned");
    assert_eq!(ids(&a), [("10.0.0.4".to_string(), 4)]);
    assert_eq!(a.not_lbs, [view[1]]);
    assert_eq!(a.unmatched_hosts, ["198.51.100.0/24".parse().expect("net")]);
    assert_eq!(
        narrowed.describe(),
        "auto (every node matching --load-balancer-hosts)"
    );
}

#[test]
fn a_source_that_needs_no_view_never_asks_for_one() {
    let asked = Cell::new(0);
    let ask = || {
        asked.set(asked.get() + 1);
        std::future::ready(Ok::<_, ()>(vec![node("10.0.0.2", "192.0.2.1")]))
    };
    let explicit = LbSource::Explicit(vec![LbEntry::Ip(ip("10.0.0.2"))]);
    for source in [explicit, LbSource::Default] {
        assert_eq!(
            futures::executor::block_on(source.view(None, ask)),
            Ok(None)
        );
        let known = Some(Vec::new());
        assert_eq!(
            futures::executor::block_on(source.view(known, ask)),
            Ok(None)
        );
    }
    assert_eq!(asked.get(), 0);
    let auto = LbSource::Auto { hosts: Vec::new() };
    let known = vec![node("10.0.0.3", "192.0.2.2")];
    assert_eq!(
        futures::executor::block_on(auto.view(Some(known.clone()), ask)),
        Ok(Some(known)),
        "a view read already is used as it is"
    );
    assert_eq!(asked.get(), 0);
    assert_eq!(
        futures::executor::block_on(auto.view(None, ask)),
        Ok(Some(vec![node("10.0.0.2", "192.0.2.1")]))
    );
    assert_eq!(asked.get(), 1);
}

#[test]
fn the_flags_are_parsed_as_before() {
    let legacy_first =
        LbSource::parse(Some("10.0.0.2"), &strings(&["null,10.0.0.4"]), &[]).expect("parsed");
    assert_eq!(
        legacy_first.given(),
        [
            LbEntry::Ip(ip("10.0.0.2")),
            LbEntry::Null,
            LbEntry::Ip(ip("10.0.0.4"))
        ]
    );
    assert_eq!(legacy_first.describe(), "--ingress-gateway-ips");
    assert_eq!(
        LbSource::parse(None, &strings(&["auto,10.0.0.2"]), &[]),
        Err(ConfigError::AutoWithIps {
            value: "auto,10.0.0.2".into()
        })
    );
    assert_eq!(
        LbSource::parse(Some("10.0.0.2"), &strings(&["auto"]), &[]),
        Err(ConfigError::AutoWithIps {
            value: "10.0.0.2,auto".into()
        })
    );
    assert_eq!(
        LbSource::parse(None, &[], &strings(&["192.0.2.0/24"])),
        Err(ConfigError::HostsWithoutAuto)
    );
    assert_eq!(
        LbSource::parse(None, &strings(&["auto"]), &strings(&["192.0.2.0/33"])),
        Err(ConfigError::BadCidr {
            flag: "--load-balancer-hosts",
            value: "192.0.2.0/33".into()
        })
    );
    assert_eq!(
        LbSource::parse(None, &strings(&["AUTO"]), &strings(&["192.0.2.9/24"])),
        Ok(LbSource::Auto {
            hosts: vec!["192.0.2.0/24".parse().expect("net")]
        })
    );
}
