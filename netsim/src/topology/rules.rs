//! Docker 20.10's iptables rule sets for the node host, the ingress sandbox and a task,
//! rendered as `iptables-restore` input. Pure functions: tested against the reference
//! capture without root (see `reference.rs`).

use std::fmt::Write;
use std::net::Ipv4Addr;

use crate::scenario::{Proto, Scenario, GWBRIDGE_IP, GWBRIDGE_PREFIX, SBOX_GW_IP};

/// Ports of the (absent) embedded DNS resolver; Docker picks random ones.
const DNS_TCP_PORT: u16 = 37553;
const DNS_UDP_PORT: u16 = 45554;

fn gw_subnet() -> String {
    let mask = u32::MAX << (32 - GWBRIDGE_PREFIX);
    format!(
        "{}/{}",
        Ipv4Addr::from(u32::from(GWBRIDGE_IP) & mask),
        GWBRIDGE_PREFIX
    )
}

/// All published ports of the scenario, sorted like Docker lists them.
fn published(sc: &Scenario) -> Vec<(Proto, u16)> {
    let mut v: Vec<(Proto, u16)> = sc
        .services
        .iter()
        .flat_map(|s| s.publish.iter().map(|p| (p.proto, p.published)))
        .collect();
    v.sort_by_key(|&(proto, port)| (port, proto));
    v
}

/// Node host namespace: filter (FORWARD + DOCKER-INGRESS ACCEPTs) and nat (DOCKER-INGRESS DNAT).
pub fn host_rules(sc: &Scenario) -> String {
    let mut s = String::new();
    let ports = published(sc);
    s.push_str(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:DOCKER - [0:0]\n\
         :DOCKER-INGRESS - [0:0]\n:DOCKER-ISOLATION-STAGE-1 - [0:0]\n:DOCKER-ISOLATION-STAGE-2 - [0:0]\n\
         :DOCKER-USER - [0:0]\n\
         -A FORWARD -j DOCKER-USER\n-A FORWARD -j DOCKER-INGRESS\n-A FORWARD -j DOCKER-ISOLATION-STAGE-1\n\
         -A FORWARD -o docker_gwbridge -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
         -A FORWARD -o docker_gwbridge -j DOCKER\n\
         -A FORWARD -i docker_gwbridge ! -o docker_gwbridge -j ACCEPT\n\
         -A FORWARD -i docker_gwbridge -o docker_gwbridge -j DROP\n",
    );
    for &(proto, port) in &ports {
        let p = proto.as_str();
        let _ = writeln!(
            s,
            "-A DOCKER-INGRESS -p {p} -m {p} --dport {port} -j ACCEPT"
        );
        let _ = writeln!(s, "-A DOCKER-INGRESS -p {p} -m state --state RELATED,ESTABLISHED -m {p} --sport {port} -j ACCEPT");
    }
    s.push_str(
        "-A DOCKER-INGRESS -j RETURN\n\
         -A DOCKER-ISOLATION-STAGE-1 -i docker_gwbridge ! -o docker_gwbridge -j DOCKER-ISOLATION-STAGE-2\n\
         -A DOCKER-ISOLATION-STAGE-1 -j RETURN\n\
         -A DOCKER-ISOLATION-STAGE-2 -o docker_gwbridge -j DROP\n\
         -A DOCKER-ISOLATION-STAGE-2 -j RETURN\n\
         -A DOCKER-USER -j RETURN\nCOMMIT\n",
    );
    s.push_str(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
         :DOCKER - [0:0]\n:DOCKER-INGRESS - [0:0]\n\
         -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER-INGRESS\n\
         -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n\
         -A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER-INGRESS\n\
         -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER\n\
         -A POSTROUTING -o docker_gwbridge -m addrtype --src-type LOCAL -j MASQUERADE\n",
    );
    let _ = writeln!(
        s,
        "-A POSTROUTING -s {} ! -o docker_gwbridge -j MASQUERADE",
        gw_subnet()
    );
    s.push_str("-A DOCKER -i docker_gwbridge -j RETURN\n");
    for &(proto, port) in &ports {
        let p = proto.as_str();
        let _ = writeln!(s, "-A DOCKER-INGRESS -p {p} -m {p} --dport {port} -j DNAT --to-destination {SBOX_GW_IP}:{port}");
    }
    s.push_str("-A DOCKER-INGRESS -j RETURN\nCOMMIT\n");
    s
}

fn dns_nat_chains(s: &mut String) {
    let _ = write!(
        s,
        "-A OUTPUT -d 127.0.0.11/32 -j DOCKER_OUTPUT\n\
         -A POSTROUTING -d 127.0.0.11/32 -j DOCKER_POSTROUTING\n"
    );
}

fn dns_nat_rules(s: &mut String) {
    let _ = write!(
        s,
        "-A DOCKER_OUTPUT -d 127.0.0.11/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination 127.0.0.11:{DNS_TCP_PORT}\n\
         -A DOCKER_OUTPUT -d 127.0.0.11/32 -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.11:{DNS_UDP_PORT}\n\
         -A DOCKER_POSTROUTING -s 127.0.0.11/32 -p tcp -m tcp --sport {DNS_TCP_PORT} -j SNAT --to-source :53\n\
         -A DOCKER_POSTROUTING -s 127.0.0.11/32 -p udp -m udp --sport {DNS_UDP_PORT} -j SNAT --to-source :53\n"
    );
}

const NAT_HEAD: &str = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                        :POSTROUTING ACCEPT [0:0]\n:DOCKER_OUTPUT - [0:0]\n:DOCKER_POSTROUTING - [0:0]\n";

/// The ingress sandbox of a node whose ingress IP is `sbox_ip`: MARK per service, VIP marks,
/// and the SNAT that loses the client address.
pub fn sbox_rules(sc: &Scenario, sbox_ip: Ipv4Addr) -> String {
    let mut s = String::from(
        "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         :POSTROUTING ACCEPT [0:0]\n",
    );
    for svc in &sc.services {
        for p in &svc.publish {
            let pr = p.proto.as_str();
            let _ = writeln!(
                s,
                "-A PREROUTING -p {pr} -m {pr} --dport {} -j MARK --set-xmark {:#x}/0xffffffff",
                p.published, svc.fwmark
            );
        }
    }
    for svc in &sc.services {
        let _ = writeln!(
            s,
            "-A INPUT -d {}/32 -j MARK --set-xmark {:#x}/0xffffffff",
            svc.vip, svc.fwmark
        );
    }
    s.push_str("COMMIT\n");
    s.push_str(NAT_HEAD);
    dns_nat_chains(&mut s);
    let _ = writeln!(
        s,
        "-A POSTROUTING -d {} -m ipvs --ipvs -j SNAT --to-source {sbox_ip}",
        sc.subnet
    );
    dns_nat_rules(&mut s);
    s.push_str("COMMIT\n");
    s
}

/// A task's namespace: accept only its target ports on its ingress IP, REDIRECT
/// published → target.
pub fn task_rules(sc: &Scenario, task: usize) -> String {
    let t = &sc.tasks[task];
    let svc = &sc.services[t.service];
    let ip = t.ingress_ip;
    let mut s =
        String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    // Docker inserts these one by one at the top: the last published port comes first.
    for p in svc.publish.iter().rev() {
        let pr = p.proto.as_str();
        let _ = writeln!(s, "-A INPUT -d {ip}/32 -p {pr} -m {pr} --dport {} -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT", p.target);
    }
    for pr in ["sctp", "udp", "tcp"] {
        let _ = writeln!(s, "-A INPUT -d {ip}/32 -p {pr} -j DROP");
    }
    for p in svc.publish.iter().rev() {
        let pr = p.proto.as_str();
        let _ = writeln!(s, "-A OUTPUT -s {ip}/32 -p {pr} -m {pr} --sport {} -m conntrack --ctstate ESTABLISHED -j ACCEPT", p.target);
    }
    for pr in ["sctp", "udp", "tcp"] {
        let _ = writeln!(s, "-A OUTPUT -s {ip}/32 -p {pr} -j DROP");
    }
    s.push_str("COMMIT\n");
    s.push_str(NAT_HEAD);
    for p in &svc.publish {
        let pr = p.proto.as_str();
        let _ = writeln!(
            s,
            "-A PREROUTING -d {ip}/32 -p {pr} -m {pr} --dport {} -j REDIRECT --to-ports {}",
            p.published, p.target
        );
    }
    dns_nat_chains(&mut s);
    dns_nat_rules(&mut s);
    s.push_str("COMMIT\n");
    s
}
