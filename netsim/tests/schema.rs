//! Scenario schema: unknown keys and impossible topologies are errors naming file, key, value.
//! No root needed.

use std::path::Path;

use netsim::scenario::{parse_str, Proto, Sees};

const BASE: &str = r#"
[[node]]
name = "lb1"
load_balancer = true

[[node]]
name = "w1"

[[service]]
name = "web"
publish = ["8080:80/tcp", "5353:53/udp"]
tasks = ["w1", "w1"]

[[client]]
name = "alice"
ip = "203.0.113.7"
"#;

fn err(text: &str) -> String {
    match parse_str(Path::new("t.toml"), text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn assert_err(text: &str, parts: &[&str]) {
    let e = err(text);
    assert!(e.starts_with("t.toml: "), "no file name in {e:?}");
    for p in parts {
        assert!(e.contains(p), "{e:?} does not mention {p:?}");
    }
}

#[test]
fn the_issue_example_parses() {
    let text = r#"
description = "two load balancers, task on a third node"
ingress_subnet = "10.0.0.0/24"

[[node]]
name = "lb1"
ingress_ip = "10.0.0.2"
load_balancer = true

[[node]]
name = "w1"

[[service]]
name = "web"
publish = ["8080:80/tcp", "5353:53/udp"]
tasks = ["w1", "w1"]

[[client]]
name = "alice"
ip = "203.0.113.7"
ecn = false
tos = 0

[dird]
args = ["--tcp-ports", "8080"]
nodes = ["lb1", "w1"]

[[expect]]
client = "alice"
node = "lb1"
port = 8080
proto = "tcp"
sees = "client"
reply_via = "lb1"

[[step]]
add_tasks = [{ service = "web", node = "lb1" }]
dird_args = ["--ingress-gateway-ips", "10.0.0.2"]

[[step.expect]]
client = "alice"
node = "w1"
port = 5353
proto = "udp"
sees = "masquerade"
"#;
    let sc = parse_str(Path::new("t.toml"), text).expect("valid");
    assert_eq!(sc.nodes[0].ingress_ip.to_string(), "10.0.0.2");
    assert_eq!(sc.nodes[1].ingress_ip.to_string(), "10.0.0.3");
    assert_eq!(sc.services[0].vip.to_string(), "10.0.0.4");
    assert_eq!(sc.services[0].fwmark, 0x100);
    let ips: Vec<String> = sc.tasks.iter().map(|t| t.ingress_ip.to_string()).collect();
    assert_eq!(ips, ["10.0.0.5", "10.0.0.6", "10.0.0.7"]);
    assert_eq!(sc.tasks[2].step, Some(0));
    assert_eq!(sc.task_name(2), "web.3");
    assert_eq!(sc.expect[0].sees, Sees::Client);
    assert_eq!(sc.steps[0].expect[0].proto, Proto::Udp);
    assert_eq!(sc.dird.as_ref().map(|d| d.nodes.clone()), Some(vec![0, 1]));
    assert_eq!(sc.load_balancer_ips().len(), 1);
}

#[test]
fn docker_allocation_order_matches_the_reference_capture() {
    let sc = parse_str(Path::new("r.toml"), netsim::reference::REFERENCE_SCENARIO).expect("valid");
    let got: Vec<String> = std::iter::once(sc.nodes[0].ingress_ip)
        .chain(sc.services.iter().map(|s| s.vip))
        .chain(sc.tasks.iter().map(|t| t.ingress_ip))
        .map(|ip| ip.to_string())
        .collect();
    // sbox, VIP web, VIP api, web.1, web.2, api.1 as Docker allocated them.
    assert_eq!(
        got,
        ["10.0.0.2", "10.0.0.3", "10.0.0.6", "10.0.0.4", "10.0.0.5", "10.0.0.7"]
    );
}

#[test]
fn unknown_keys_are_rejected_everywhere() {
    assert_err(&format!("colour = 1\n{BASE}"), &["colour"]);
    assert_err(
        &BASE.replace("load_balancer = true", "load_balancer = true\nlb = 1"),
        &["lb"],
    );
    assert_err(&format!("{BASE}\n[dird]\nflags = []\n"), &["flags"]);
    assert_err(
        &format!("{BASE}\n[[expect]]\nclient = \"alice\"\nnode = \"lb1\"\nport = 8080\nproto = \"tcp\"\nsees = \"client\"\nvia = \"lb1\"\n"),
        &["via"],
    );
    assert_err(
        &format!("{BASE}\n[[step]]\nadd_tasks = [{{ service = \"web\", host = \"w1\" }}]\n"),
        &["host"],
    );
}

#[test]
fn task_on_unknown_node() {
    assert_err(
        &BASE.replace("tasks = [\"w1\", \"w1\"]", "tasks = [\"w1\", \"w9\"]"),
        &["service[0].tasks[1]", "\"w9\"", "no [[node]]"],
    );
}

#[test]
fn ingress_ip_outside_subnet() {
    assert_err(
        &BASE.replace("name = \"w1\"", "name = \"w1\"\ningress_ip = \"10.0.1.5\""),
        &["node[1].ingress_ip", "\"10.0.1.5\"", "outside"],
    );
}

#[test]
fn two_nodes_with_one_ip() {
    let text = BASE
        .replace(
            "load_balancer = true",
            "load_balancer = true\ningress_ip = \"10.0.0.9\"",
        )
        .replace("name = \"w1\"", "name = \"w1\"\ningress_ip = \"10.0.0.9\"");
    assert_err(
        &text,
        &["node[1].ingress_ip", "\"10.0.0.9\"", "another node"],
    );
}

#[test]
fn gateway_and_subnet_errors() {
    assert_err(
        &BASE.replace("name = \"w1\"", "name = \"w1\"\ningress_ip = \"10.0.0.1\""),
        &["gateway"],
    );
    assert_err(
        &format!("ingress_subnet = \"10.0.0.1/24\"\n{BASE}"),
        &["ingress_subnet", "host bits"],
    );
    assert_err(
        &format!("ingress_subnet = \"banana\"\n{BASE}"),
        &["ingress_subnet", "banana"],
    );
    // /29: 5 usable after the gateway; 2 nodes + VIP + 2 tasks fit, a third task does not.
    assert!(parse_str(
        Path::new("t.toml"),
        &format!("ingress_subnet = \"10.9.0.0/29\"\n{BASE}")
    )
    .is_ok());
    assert_err(
        &format!(
            "ingress_subnet = \"10.9.0.0/29\"\n{}",
            BASE.replace("[\"w1\", \"w1\"]", "[\"w1\", \"w1\", \"w1\"]")
        ),
        &["no free address"],
    );
}

#[test]
fn duplicate_names_ports_and_clients() {
    assert_err(
        &BASE.replace("name = \"w1\"", "name = \"lb1\""),
        &["node[1].name", "already used"],
    );
    assert_err(
        &format!("{BASE}\n[[service]]\nname = \"api\"\npublish = [\"8080:90\"]\n"),
        &["service[1].publish[0]", "already published"],
    );
    assert_err(
        &format!("{BASE}\n[[client]]\nname = \"bob\"\nip = \"203.0.113.7\"\n"),
        &["client[1].ip", "another client"],
    );
}

#[test]
fn bad_values() {
    assert_err(
        &BASE.replace("\"8080:80/tcp\"", "\"8080:80/sctp\""),
        &["service[0].publish[0]", "8080:80/sctp"],
    );
    assert_err(
        &BASE.replace("\"8080:80/tcp\"", "\"0:80\""),
        &["service[0].publish[0]"],
    );
    assert_err(
        &BASE.replace("203.0.113.7", "10.1.2.3"),
        &["client[0].ip", "TEST-NET"],
    );
    assert_err(
        &BASE.replace("name = \"alice\"", "name = \"al ice\""),
        &["client[0].name"],
    );
    let e = |k: &str, v: &str| {
        let mut fields = vec![
            ("client", "\"alice\""),
            ("node", "\"lb1\""),
            ("port", "8080"),
            ("proto", "\"tcp\""),
            ("sees", "\"client\""),
        ];
        fields.retain(|(f, _)| *f != k);
        fields.push((k, v));
        let body: String = fields.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        format!("{BASE}\n[[expect]]\n{body}")
    };
    assert_err(
        &e("client", "\"mallory\""),
        &["expect[0].client", "mallory"],
    );
    assert_err(&e("node", "\"w9\""), &["expect[0].node", "w9"]);
    assert_err(&e("proto", "\"icmp\""), &["expect[0].proto", "icmp"]);
    assert_err(
        &e("sees", "\"everything\""),
        &["expect[0].sees", "everything"],
    );
    assert_err(&e("port", "9999"), &["expect[0].port", "9999"]);
    assert_err(&e("reply_via", "\"w9\""), &["expect[0].reply_via", "w9"]);
    assert_err(
        &format!(
            "{}ecn = true\n",
            e("proto", "\"udp\"").replace("port = 8080", "port = 5353")
        ),
        &["ecn"],
    );
    // An unpublished port may only be expected unreachable.
    assert!(parse_str(
        Path::new("t.toml"),
        &e("port", "9999").replace("sees = \"client\"", "sees = \"unreachable\"")
    )
    .is_ok());
}

#[test]
fn steps_and_dird() {
    assert_err(
        &format!("{BASE}\n[[step]]\nadd_tasks = [{{ service = \"nope\", node = \"w1\" }}]\n"),
        &["step[0].add_tasks[0].service", "nope"],
    );
    assert_err(
        &format!("{BASE}\n[[step]]\ndird_args = [\"--x\"]\n"),
        &["step[0].dird_args", "[dird]"],
    );
    assert_err(
        &format!("{BASE}\n[dird]\nnodes = [\"lb1\", \"zz\"]\n"),
        &["dird.nodes[1]", "zz"],
    );
    assert_err(
        &BASE
            .replace(
                "[[node]]\nname = \"lb1\"\nload_balancer = true\n\n[[node]]\nname = \"w1\"\n",
                "",
            )
            .replace("tasks = [\"w1\", \"w1\"]", "tasks = []"),
        &["node", "at least one"],
    );
}
