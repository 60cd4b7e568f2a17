use super::*;
use crate::ids::MARK_MASK;
use proptest::prelude::*;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// Entries as `--ingress-gateway-ips` parses them.
fn lb_list(items: &[&str]) -> Vec<LbEntry> {
    parse_load_balancers("--ingress-gateway-ips", &[items.join(",")]).unwrap()
}

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn load_balancer_lists_keep_null_positions() {
    let g =
        parse_load_balancers("--ingress-gateway-ips", &v(&["10.0.0.2,null", "10.0.0.4"])).unwrap();
    assert_eq!(
        g,
        vec![
            LbEntry::Ip("10.0.0.2".parse().unwrap()),
            LbEntry::Null,
            LbEntry::Ip("10.0.0.4".parse().unwrap())
        ]
    );
    let err = parse_load_balancers("--ingress-gateway-ips", &v(&["10.0.0.300"])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid IPv4 address \"10.0.0.300\" in --ingress-gateway-ips"
    );
}

#[test]
fn last_octet_by_default() {
    let set = assign(
        &lb_list(&["10.0.0.2", "null", "10.0.0.17"]),
        net("10.0.0.0/24"),
        false,
        IdEncoding::Tos,
    )
    .unwrap();
    let ids: Vec<u8> = set.members.iter().map(|m| m.id.get()).collect();
    assert_eq!(ids, vec![2, 17]);
    assert_eq!(set.members[1].position, 3);
    assert!(!set.indexed);
    assert_eq!(set.id_of(ip("10.0.0.17")).map(LbId::get), Some(17));
    assert_eq!(set.id_of(ip("10.0.0.3")), None);
}

#[test]
fn indexed_counts_null_positions() {
    let set = assign(
        &lb_list(&["10.0.0.9", "null", "10.0.0.4"]),
        net("10.0.0.0/24"),
        true,
        IdEncoding::Tos,
    )
    .unwrap();
    let ids: Vec<u8> = set.members.iter().map(|m| m.id.get()).collect();
    assert_eq!(ids, vec![1, 3]);
}

#[test]
fn larger_than_24_forces_indexed() {
    let set = assign(
        &lb_list(&["10.0.1.5", "10.0.2.5"]),
        net("10.0.0.0/16"),
        false,
        IdEncoding::Tos,
    )
    .unwrap();
    assert!(set.indexed && set.forced_indexed);
    let ids: Vec<u8> = set.members.iter().map(|m| m.id.get()).collect();
    assert_eq!(ids, vec![1, 2]);
}

#[test]
fn reserved_tables_are_never_used() {
    let set = assign(
        &lb_list(&["10.0.0.253", "10.0.0.254"]),
        net("10.0.0.0/24"),
        false,
        IdEncoding::Tos,
    )
    .unwrap();
    for m in &set.members {
        assert!(
            ![0, 253, 254, 255].contains(&m.id.table()),
            "{}",
            m.id.table()
        );
    }
    assert_eq!(set.members[1].id.table(), 7254);
}

#[test]
fn bad_sets_are_named() {
    let n = net("10.0.0.0/24");
    let e = assign(
        &lb_list(&["10.0.0.2", "10.0.0.2"]),
        n,
        false,
        IdEncoding::Tos,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "duplicate load-balancer IP 10.0.0.2 in --ingress-gateway-ips"
    );
    let e = assign(&lb_list(&["10.1.0.2"]), n, false, IdEncoding::Tos).unwrap_err();
    assert_eq!(
        e.to_string(),
        "load-balancer IP 10.1.0.2 is outside the ingress subnet 10.0.0.0/24"
    );
    let e = assign(
        &lb_list(&["10.0.0.5", "10.0.1.5"]),
        n,
        false,
        IdEncoding::Tos,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("10.0.0.5 and 10.0.1.5") && e.to_string().contains("--indexed-ids"),
        "{e}"
    );
    let e = assign(&lb_list(&["10.0.0.255"]), n, false, IdEncoding::Tos).unwrap_err();
    assert!(e.to_string().contains("10.0.0.255"), "{e}");
    let e = assign(&lb_list(&["10.0.0.100"]), n, false, IdEncoding::Dscp).unwrap_err();
    assert!(
        e.to_string().contains("10.0.0.100") && e.to_string().contains("1-63"),
        "{e}"
    );
    let many: Vec<LbEntry> = (0..64).map(|_| LbEntry::Null).collect();
    let e = assign(&many, n, true, IdEncoding::Dscp).unwrap_err();
    assert_eq!(e.to_string(), "64 load-balancer positions in --ingress-gateway-ips, but --id-encoding dscp holds at most 63");
    let many: Vec<LbEntry> = (0..256).map(|_| LbEntry::Null).collect();
    assert!(assign(&many, net("10.0.0.0/16"), false, IdEncoding::Tos).is_err());
}

proptest! {
    #[test]
    fn ids_unique_in_range_and_tables_never_reserved(
        hosts in proptest::collection::btree_set(0u32..65536, 1..80),
        nulls in proptest::collection::vec(any::<bool>(), 80),
        indexed in any::<bool>(),
        dscp in any::<bool>(),
        prefix in prop_oneof![Just(16u8), Just(20u8), Just(24u8)],
    ) {
        let subnet = Ipv4Net::new(Ipv4Addr::new(10, 0, 0, 0), prefix).unwrap();
        let enc = if dscp { IdEncoding::Dscp } else { IdEncoding::Tos };
        let entries: Vec<LbEntry> = hosts
            .iter()
            .zip(nulls.iter())
            .map(|(h, null)| {
                let ip = Ipv4Addr::from(u32::from(subnet.network()) | (h & !u32::from(subnet.netmask())));
                if *null { LbEntry::Null } else { LbEntry::Ip(ip) }
            })
            .collect();
        if let Ok(set) = assign(&entries, subnet, indexed, enc) {
            let mut seen = std::collections::BTreeSet::new();
            for m in &set.members {
                prop_assert!(seen.insert(m.id));
                prop_assert!(m.id.get() >= 1 && m.id.get() <= enc.max_id());
                prop_assert!(![0u32, 253, 254, 255].contains(&m.id.table()));
                prop_assert_eq!(m.id.mark() & !MARK_MASK, 0);
                prop_assert!(m.id.mark() != 0);
                prop_assert_eq!(m.id.tos_byte(enc) & !enc.tos_mask(), 0);
            }
            let named = entries.iter().filter(|g| matches!(g, LbEntry::Ip(_))).count();
            prop_assert_eq!(set.members.len(), named);
        }
    }
}
