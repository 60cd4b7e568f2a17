use super::*;
use crate::docker::swarm_view::lb_indexes;

const SBOX_26_1: &str = include_str!("../../tests/fixtures/sbox-docker-26.1.iptables");
const VIEW_26_1: &str = include_str!("../../tests/fixtures/ingress-verbose-26.1.json");
const SBOX_20_10: &str = include_str!("../../tests/fixtures/sbox-docker-20.10.iptables");

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

fn single(ports: &[u16]) -> Vec<PortSpec> {
    ports.iter().map(|p| PortSpec::Single(*p)).collect()
}

/// Docker 26.1's one-node swarm: `web` publishes 8080/tcp and 5353/udp, `api` 9090/tcp;
/// the view gives their indexes, the sbox their MARK rules (and its INPUT chain marks the
/// virtual IPs, which are no published port).
#[test]
fn the_captured_swarm_gives_each_service_its_published_ports() {
    let state = IptablesState::parse(SBOX_26_1).unwrap();
    let indexes = lb_indexes(VIEW_26_1).unwrap();
    assert_eq!(
        indexes,
        BTreeMap::from([("api".to_string(), 257), ("web".to_string(), 256)])
    );
    assert_eq!(
        published_ports(&state, &indexes, &names(&["web"])),
        (single(&[8080]), single(&[5353]))
    );
    assert_eq!(
        published_ports(&state, &indexes, &names(&["api"])),
        (single(&[9090]), vec![])
    );
    assert_eq!(
        published_ports(&state, &indexes, &names(&["web", "api", "gone"])),
        (single(&[8080, 9090]), single(&[5353]))
    );
    assert_eq!(
        published_ports(&state, &indexes, &names(&["gone"])),
        (vec![], vec![]),
        "a service the view does not list has no ports"
    );
}

/// Docker 20.10 hands the marks out in another order (`api` 0x100, `web` 0x101): the
/// marks decide, never the order of the rules.
#[test]
fn the_marks_decide_not_the_order() {
    let state = IptablesState::parse(SBOX_20_10).unwrap();
    let marks = ingress_marks(&state);
    let mark = |protocol, port, mark| IngressMark {
        protocol,
        port,
        mark,
    };
    assert_eq!(
        marks,
        [
            mark(Protocol::Tcp, 9090, 0x100),
            mark(Protocol::Tcp, 8080, 0x101),
            mark(Protocol::Udp, 5353, 0x101)
        ]
    );
    let indexes = BTreeMap::from([("api".to_string(), 256), ("web".to_string(), 257)]);
    assert_eq!(
        published_ports(&state, &indexes, &names(&["web"])),
        (single(&[8080]), single(&[5353]))
    );
}

#[test]
fn only_dockers_exact_form_is_a_mark_rule() {
    let good = "-p tcp -m tcp --dport 8080 -j MARK --set-xmark 0x100/0xffffffff";
    assert_eq!(
        IngressMark::parse(good),
        Some(IngressMark {
            protocol: Protocol::Tcp,
            port: 8080,
            mark: 256
        })
    );
    let udp = "-p udp -m udp --dport 65535 -j MARK --set-xmark 0xffffffff/0xffffffff";
    assert_eq!(
        IngressMark::parse(udp).map(|m| m.spec()).as_deref(),
        Some(udp)
    );
    for bad in [
        "-p tcp -m udp --dport 8080 -j MARK --set-xmark 0x100/0xffffffff",
        "-p sctp -m sctp --dport 8080 -j MARK --set-xmark 0x100/0xffffffff",
        "-p tcp -m tcp --dport 0 -j MARK --set-xmark 0x100/0xffffffff",
        "-p tcp -m tcp --dport 65536 -j MARK --set-xmark 0x100/0xffffffff",
        "-p tcp -m tcp --dport 08080 -j MARK --set-xmark 0x100/0xffffffff",
        "-p tcp -m tcp --dport +8080 -j MARK --set-xmark 0x100/0xffffffff",
        "-p tcp -m tcp --dport 8080:8081 -j MARK --set-xmark 0x100/0xffffffff",
        "-p tcp -m tcp --dport 8080 -j MARK --set-xmark 0x0100/0xffffffff",
        "-p tcp -m tcp --dport 8080 -j MARK --set-xmark 0X100/0xffffffff",
        "-p tcp -m tcp --dport 8080 -j MARK --set-xmark 0x1A0/0xffffffff",
        "-p tcp -m tcp --dport 8080 -j MARK --set-xmark 0x0/0xffffffff",
        "-p tcp -m tcp --dport 8080 -j MARK --set-xmark 0x100000000/0xffffffff",
        "-p tcp -m tcp --dport 8080 -j MARK --set-xmark 0x100/0xff",
        "-p tcp -m tcp --dport 8080 -j MARK --set-xmark 0x100",
        "-p tcp -m tcp --dport 8080 -j MARK --set-mark 0x100",
        "-p tcp -m tcp --dport 8080 -m comment --comment x -j MARK --set-xmark 0x100/0xffffffff",
        "-p tcp -m tcp --dport 8080 -j MARK --set-xmark 0x100/0xffffffff -m comment --comment x",
        "! -p tcp -m tcp --dport 8080 -j MARK --set-xmark 0x100/0xffffffff",
        "-p tcp -m tcp ! --dport 8080 -j MARK --set-xmark 0x100/0xffffffff",
        "-d 10.0.0.3/32 -j MARK --set-xmark 0x100/0xffffffff",
        "-p tcp -m tcp --dport 8080 -j ACCEPT",
        "-p tcp -m tcp --dport 8080  -j MARK --set-xmark 0x100/0xffffffff",
        "",
    ] {
        assert_eq!(IngressMark::parse(bad), None, "{bad:?}");
    }
}

/// Only `mangle PREROUTING` holds Docker's ingress MARK rules: the same rule elsewhere
/// (another chain, another table) names no published port.
#[test]
fn rules_outside_mangle_prerouting_are_ignored() {
    let text = "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:X - [0:0]\n\
            -A INPUT -p tcp -m tcp --dport 1 -j MARK --set-xmark 0x100/0xffffffff\n\
            -A X -p tcp -m tcp --dport 2 -j MARK --set-xmark 0x100/0xffffffff\n\
            -A PREROUTING -p tcp -m tcp --dport 3 -j MARK --set-xmark 0x100/0xffffffff\nCOMMIT\n\
            *nat\n:PREROUTING ACCEPT [0:0]\n\
            -A PREROUTING -p tcp -m tcp --dport 4 -j MARK --set-xmark 0x100/0xffffffff\nCOMMIT\n";
    let state = IptablesState::parse(text).unwrap();
    let indexes = BTreeMap::from([("web".to_string(), 256)]);
    assert_eq!(
        published_ports(&state, &indexes, &names(&["web"])),
        (single(&[3]), vec![])
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Words a MARK rule is made of, near misses, and anything.
    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("-p".to_string()),
            Just("-m".to_string()),
            Just("--dport".to_string()),
            Just("-j".to_string()),
            Just("MARK".to_string()),
            Just("--set-xmark".to_string()),
            prop_oneof![Just("tcp"), Just("udp"), Just("sctp"), Just("TCP")].prop_map(String::from),
            "[+0-9]{1,6}",
            "0[xX][0-9a-fA-F]{0,9}/0x[fF]{6,9}",
            Just("0x100/0xffffffff".to_string()),
            "\\PC{0,8}",
        ]
    }

    /// A rule: Docker's form with random values, or random words.
    fn spec() -> impl Strategy<Value = String> {
        let docker = (
            prop_oneof![Just("tcp"), Just("udp")],
            any::<u16>(),
            prop_oneof![Just(0x100u32), Just(0x101), any::<u32>()],
        )
            .prop_map(|(p, port, mark)| {
                format!("-p {p} -m {p} --dport {port} -j MARK --set-xmark {mark:#x}/0xffffffff")
            });
        prop_oneof![
            docker,
            proptest::collection::vec(word(), 0..12).prop_map(|w| w.join(" ")),
        ]
    }

    /// A line of `iptables-save` text.
    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => spec().prop_map(|s| format!("-A PREROUTING {s}")),
            2 => spec().prop_map(|s| format!("-A INPUT {s}")),
            1 => prop_oneof![
                Just("*mangle"), Just("*nat"), Just("COMMIT"),
                Just(":PREROUTING ACCEPT [0:0]"), Just(":INPUT ACCEPT [0:0]"),
            ].prop_map(String::from),
            1 => "\\PC{0,40}",
        ]
    }

    /// What the text holds in its `mangle` table's PREROUTING, read independently of the
    /// parsers: each line that is exactly `-A PREROUTING ` and Docker's rule for its port
    /// and protocol and a mark in `marks`.
    fn written(text: &str, marks: &[u32]) -> Vec<(Protocol, u16)> {
        let mut mangle = false;
        let mut out = Vec::new();
        for raw in text.lines() {
            if let Some(t) = raw.strip_prefix('*') {
                mangle = t == "mangle";
            }
            // (white space collapsed, as the parsed state keeps rules)
            let words: Vec<&str> = raw.split_whitespace().collect();
            let l = words.join(" ");
            if !mangle || words.len() != 12 {
                continue;
            }
            let Ok(port) = words[7].parse::<u16>() else {
                continue;
            };
            for protocol in [Protocol::Tcp, Protocol::Udp] {
                for &mark in marks {
                    let m = IngressMark {
                        protocol,
                        port,
                        mark,
                    };
                    if l == format!("-A PREROUTING {}", m.spec()) {
                        out.push((protocol, port));
                    }
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A rule is taken only when it is, character for character, what Docker writes.
        #[test]
        fn a_rule_parses_only_to_itself(s in spec()) {
            if let Some(m) = IngressMark::parse(&s) {
                prop_assert_eq!(m.spec(), s);
                prop_assert!(m.port > 0 && m.mark > 0);
            }
        }

        /// Random text never yields a port outside what it holds as Docker's rule for a
        /// selected service's mark in `mangle PREROUTING`, and yields every such port.
        #[test]
        fn random_text_yields_only_the_ports_written(lines in proptest::collection::vec(line(), 0..24)) {
            let text = format!(
                "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n{}\nCOMMIT\n",
                lines.join("\n")
            );
            let Ok(state) = IptablesState::parse(&text) else {
                return Ok(());
            };
            let indexes = BTreeMap::from([
                ("web".to_string(), 0x100),
                ("api".to_string(), 0x101),
            ]);
            let (tcp, udp) = published_ports(&state, &indexes, &names(&["web"]));
            let mut found: Vec<(Protocol, u16)> = tcp
                .iter()
                .map(|p| (Protocol::Tcp, *p))
                .chain(udp.iter().map(|p| (Protocol::Udp, *p)))
                .map(|(proto, p)| match p {
                    PortSpec::Single(port) => (proto, port),
                    PortSpec::Range(..) => panic!("a range from MARK rules: {p:?}"),
                })
                .collect();
            let mut want = written(&text, &[0x100]);
            found.sort();
            want.sort();
            want.dedup();
            prop_assert_eq!(found, want);
        }
    }
}
