//! Published-port shapes Docker accepts are accepted (and served by one whoami per target port
//! and protocol); shapes Docker refuses stay refused. No root needed.

use std::path::Path;

use netsim::scenario::{load, parse_str, Proto, Publish, Scenario, Sees};
use netsim::topology::rules;

const NODES: &str = r#"
[[node]]
name = "lb1"
load_balancer = true

[[node]]
name = "w1"

[[client]]
name = "alice"
ip = "203.0.113.7"
"#;

/// A scenario with the nodes above and one `[[service]]` per `publish` list (`s0`, `s1`, …).
fn with_services(publish: &[&str]) -> String {
    let mut text = NODES.to_string();
    for (i, p) in publish.iter().enumerate() {
        text.push_str(&format!(
            "\n[[service]]\nname = \"s{i}\"\npublish = {p}\ntasks = [\"w1\"]\n"
        ));
    }
    text
}

fn parse(text: &str) -> Scenario {
    match parse_str(Path::new("t.toml"), text) {
        Ok(sc) => sc,
        Err(e) => panic!("refused: {e}\n{text}"),
    }
}

fn refusal(text: &str) -> String {
    match parse_str(Path::new("t.toml"), text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn dird14() -> Scenario {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/dird-14-two-ports-one-target.toml");
    match load(&file) {
        Ok(sc) => sc,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn dird14_runs_one_server_per_target_port_and_protocol() {
    let sc = dird14();
    let ports: Vec<(&str, Vec<(Proto, u16)>)> = sc
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.listen_ports()))
        .collect();
    assert_eq!(
        ports,
        [
            ("web", vec![(Proto::Tcp, 80)]),
            ("dns", vec![(Proto::Tcp, 53), (Proto::Udp, 53)]),
        ]
    );
}

#[test]
fn dird14_expects_the_client_on_every_published_port_and_has_a_twin() {
    let sc = dird14();
    assert!(sc.dird.is_some(), "[dird] makes the twin without dird run");
    let mut probed: Vec<(u16, Proto)> = sc.expect.iter().map(|e| (e.port, e.proto)).collect();
    probed.sort();
    let mut published: Vec<(u16, Proto)> = sc
        .services
        .iter()
        .flat_map(|s| s.publish.iter().map(|p| (p.published, p.proto)))
        .collect();
    published.sort();
    assert_eq!(probed, published, "one expectation per published port");
    assert!(sc.expect.iter().all(|e| e.sees == Sees::Client));
    let twin = netsim::runner::twin(&sc).expect("a twin");
    assert!(twin.expect.iter().all(|e| e.sees == Sees::Masquerade));
}

#[test]
fn two_published_ports_may_share_a_target() {
    let sc = parse(&with_services(&[r#"["8080:80/tcp", "8081:80/tcp"]"#]));
    let svc = &sc.services[0];
    assert_eq!(
        svc.publish,
        [
            Publish {
                published: 8080,
                target: 80,
                proto: Proto::Tcp
            },
            Publish {
                published: 8081,
                target: 80,
                proto: Proto::Tcp
            },
        ]
    );
    assert_eq!(svc.listen_ports(), [(Proto::Tcp, 80)]);
    // Both published ports are redirected to the one target, as Docker's task rules do.
    let task = rules::task_rules(&sc, 0);
    for published in [8080, 8081] {
        let redirect = format!("--dport {published} -j REDIRECT --to-ports 80\n");
        assert!(task.contains(&redirect), "no {redirect:?} in\n{task}");
    }
}

#[test]
fn one_port_number_may_be_published_for_tcp_and_udp() {
    // In one service, and across two services.
    for services in [
        vec![r#"["53:53/tcp", "53:53/udp"]"#],
        vec![r#"["53:53/tcp"]"#, r#"["53:53/udp"]"#],
    ] {
        let sc = parse(&with_services(&services));
        let listen: Vec<(Proto, u16)> = sc.services.iter().flat_map(|s| s.listen_ports()).collect();
        assert_eq!(listen, [(Proto::Tcp, 53), (Proto::Udp, 53)]);
        assert_eq!(sc.service_for_port(53, Proto::Tcp), Some(0));
        let udp_owner = services.len() - 1;
        assert_eq!(sc.service_for_port(53, Proto::Udp), Some(udp_owner));
        let sbox = rules::sbox_rules(&sc, sc.nodes[0].ingress_ip);
        for pr in ["tcp", "udp"] {
            let mark = format!("-p {pr} -m {pr} --dport 53 -j MARK");
            assert!(sbox.contains(&mark), "no {mark:?} in\n{sbox}");
        }
        let host = rules::host_rules(&sc);
        for pr in ["tcp", "udp"] {
            let dnat = format!("-p {pr} -m {pr} --dport 53 -j DNAT --to-destination 172.18.0.2:53");
            assert!(host.contains(&dnat), "no {dnat:?} in\n{host}");
        }
    }
}

#[test]
fn a_target_may_differ_from_its_published_port() {
    let sc = parse(&with_services(&[r#"["8080:80"]"#, r#"["80:8080/udp"]"#]));
    assert_eq!(sc.services[0].listen_ports(), [(Proto::Tcp, 80)]);
    assert_eq!(sc.services[1].listen_ports(), [(Proto::Udp, 8080)]);
}

#[test]
fn the_same_published_port_twice_for_one_protocol_is_refused() {
    // In one service: Docker says "duplicate published ports provided".
    for publish in [
        r#"["8080:80/tcp", "8080:81/tcp"]"#,
        r#"["8080:80/tcp", "8080:80/tcp"]"#,
        r#"["5353:53/udp", "5353:54/udp"]"#,
    ] {
        let e = refusal(&with_services(&[publish]));
        for part in [
            "t.toml: service[0].publish[1]",
            "already published by service[0].publish[0]",
            "duplicate published ports",
        ] {
            assert!(e.contains(part), "{e:?} does not mention {part:?}");
        }
    }
    // Across services: Docker says the port is already in use as an ingress port.
    let e = refusal(&with_services(&[r#"["8080:80"]"#, r#"["8080:90/tcp"]"#]));
    for part in [
        "t.toml: service[1].publish[0] = \"8080:90/tcp\"",
        "port 8080/tcp is already published by service[0].publish[0] (service \"s0\")",
        "already in use by another service",
    ] {
        assert!(e.contains(part), "{e:?} does not mention {part:?}");
    }
}
