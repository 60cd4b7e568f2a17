//! The validated scenario: every name resolved to an index, every address allocated.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;

/// Underlay network joining the nodes (RFC 2544 benchmarking range, never TEST-NET, so it
/// cannot collide with client addresses). Its router lives in the underlay namespace.
pub const UNDERLAY_ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const UNDERLAY_PREFIX: u8 = 24;
/// docker_gwbridge, the same on every node (Docker's default).
pub const GWBRIDGE_IP: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 1);
pub const GWBRIDGE_PREFIX: u8 = 16;
pub const SBOX_GW_IP: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 2);
/// Docker's first ingress fwmark.
pub const FIRST_FWMARK: u32 = 0x100;
pub const VXLAN_ID: u32 = 4096;
pub const VXLAN_PORT: u16 = 4789;
pub const INGRESS_MTU: u32 = 1450;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `published:target/proto`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish {
    pub published: u16,
    pub target: u16,
    pub proto: Proto,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub ingress_ip: Ipv4Addr,
    pub load_balancer: bool,
    /// The node's public (underlay) address; clients use it.
    pub public_ip: Ipv4Addr,
    /// Listed in the swarm's view from the start.
    pub in_swarm: bool,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub fwmark: u32,
    pub vip: Ipv4Addr,
    pub publish: Vec<Publish>,
}

impl Service {
    /// The (protocol, target port) pairs its tasks listen on, each once, in `publish` order.
    /// Two published ports may share a target (`8080:80` and `8081:80`): one server serves both.
    pub fn listen_ports(&self) -> Vec<(Proto, u16)> {
        let mut ports: Vec<(Proto, u16)> = Vec::new();
        for p in &self.publish {
            if !ports.contains(&(p.proto, p.target)) {
                ports.push((p.proto, p.target));
            }
        }
        ports
    }
}

#[derive(Debug, Clone)]
pub struct Task {
    pub service: usize,
    pub node: usize,
    /// 1-based slot within its service (`web.1`, `web.2`, ...).
    pub slot: usize,
    pub ingress_ip: Ipv4Addr,
    pub gw_ip: Ipv4Addr,
    /// `None`: started with the topology; `Some(i)`: started by step `i` (0-based).
    pub step: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Client {
    pub name: String,
    pub ip: Ipv4Addr,
    pub ecn: bool,
    pub tos: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sees {
    Client,
    Masquerade,
    Unreachable,
}

impl Sees {
    pub fn as_str(self) -> &'static str {
        match self {
            Sees::Client => "client",
            Sees::Masquerade => "masquerade",
            Sees::Unreachable => "unreachable",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Expect {
    /// The client (index into `clients`); unused when `from_task` is set.
    pub client: usize,
    /// A task that sends the request instead of a client (index into `tasks`); "client" then
    /// means that task's own (gwbridge) address.
    pub from_task: Option<usize>,
    pub node: usize,
    pub port: u16,
    pub proto: Proto,
    pub sees: Sees,
    pub reply_via: Option<usize>,
    pub ecn: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Dird {
    pub args: Vec<String>,
    /// Node indices dird runs on.
    pub nodes: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub description: Option<String>,
    /// Indices into `Scenario::tasks`.
    pub add_tasks: Vec<usize>,
    pub dird_args: Option<Vec<String>>,
    /// Nodes joining / leaving the swarm's view at this step.
    pub join: Vec<usize>,
    pub leave: Vec<usize>,
    pub expect: Vec<Expect>,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub file: PathBuf,
    pub description: Option<String>,
    pub subnet: Ipv4Net,
    /// The ingress network's gateway (br0 in every overlay namespace).
    pub gateway: Ipv4Addr,
    pub nodes: Vec<Node>,
    pub services: Vec<Service>,
    /// All tasks, including those a step starts later.
    pub tasks: Vec<Task>,
    pub clients: Vec<Client>,
    pub dird: Option<Dird>,
    pub expect: Vec<Expect>,
    pub steps: Vec<Step>,
}

impl Scenario {
    pub fn task_name(&self, task: usize) -> String {
        let t = &self.tasks[task];
        format!("{}.{}", self.services[t.service].name, t.slot)
    }

    /// The service publishing `port/proto`, if any.
    pub fn service_for_port(&self, port: u16, proto: Proto) -> Option<usize> {
        self.services.iter().position(|s| {
            s.publish
                .iter()
                .any(|p| p.published == port && p.proto == proto)
        })
    }

    /// Ingress IPs of the load-balancer nodes, in node order.
    pub fn load_balancer_ips(&self) -> Vec<Ipv4Addr> {
        self.nodes
            .iter()
            .filter(|n| n.load_balancer)
            .map(|n| n.ingress_ip)
            .collect()
    }

    /// Docker-style MAC for an ingress endpoint: 02:42 followed by the IPv4 address.
    pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
        let o = ip.octets();
        [0x02, 0x42, o[0], o[1], o[2], o[3]]
    }
}
