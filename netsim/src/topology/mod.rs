//! The fake swarm: namespaces, links, rules and IPVS for one scenario, removed on drop.
//!
//! Layout (every name starts with the run prefix `nsim-<pid>-<run>`):
//! - `<run>-ul`: the underlay: bridge `ul0` (198.18.0.1/24, also the clients' router).
//! - per node `<run>-<node>-host` (eth0 on the underlay, `docker_gwbridge`, Docker's host
//!   rules), `<run>-<node>-sbox` (ingress_sbox) and `<run>-<node>-ovl` (the ingress overlay:
//!   `br0` + `vxlan0`).
//! - per task `<run>-<node>-<service>.<slot>`, per client `<run>-c-<client>`.

pub mod links;
pub mod rules;

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use links::VethEnd;

use crate::ipvs::Ipvs;
use crate::netns;
use crate::scenario::*;
use crate::Error;

/// The namespaces of one node.
#[derive(Debug, Clone)]
pub struct NodeNs {
    pub host: PathBuf,
    pub sbox: PathBuf,
    pub ovl: PathBuf,
}

pub struct Topology {
    pub sc: Scenario,
    pub prefix: String,
    pub underlay: PathBuf,
    pub nodes: Vec<NodeNs>,
    /// By scenario task index; `None` until the task is started.
    pub tasks: Vec<Option<PathBuf>>,
    pub clients: Vec<PathBuf>,
    ipvs: Vec<Ipvs>,
    /// Next veth number per node (0 is the sandbox).
    next_port: Vec<usize>,
    stop: Arc<AtomicBool>,
    servers: Vec<crate::whoami::Server>,
    namespaces: Vec<PathBuf>,
}

fn open(p: &Path) -> Result<File, Error> {
    File::open(p).map_err(|e| Error::Netns {
        ns: p.display().to_string(),
        step: "open".into(),
        source: e.into(),
    })
}

pub fn iptables_restore(ns: &Path, rules: &str) -> Result<(), Error> {
    netns::command(ns, "iptables-restore", &[], Some(rules)).map(|_| ())
}

impl Topology {
    /// Build everything the scenario starts with (tasks of steps come later).
    pub fn build(sc: &Scenario, run: usize) -> Result<Topology, Error> {
        let prefix = format!("{}{}-{}", netns::PREFIX, std::process::id(), run);
        let mut t = Topology {
            sc: sc.clone(),
            prefix: prefix.clone(),
            underlay: PathBuf::new(),
            nodes: Vec::new(),
            tasks: vec![None; sc.tasks.len()],
            clients: Vec::new(),
            ipvs: Vec::new(),
            next_port: vec![1; sc.nodes.len()],
            stop: Arc::new(AtomicBool::new(false)),
            servers: Vec::new(),
            namespaces: Vec::new(),
        };
        t.underlay = t.create("ul")?;
        t.build_underlay()?;
        for i in 0..sc.nodes.len() {
            t.build_node(i)?;
        }
        t.mesh_sandboxes()?;
        for i in 0..sc.tasks.len() {
            if sc.tasks[i].step.is_none() {
                t.start_task(i)?;
            }
        }
        for i in 0..sc.clients.len() {
            t.build_client(i)?;
        }
        Ok(t)
    }

    fn create(&mut self, role: &str) -> Result<PathBuf, Error> {
        let p = netns::create(&format!("{}-{role}", self.prefix))?;
        self.namespaces.push(p.clone());
        Ok(p)
    }

    fn build_underlay(&mut self) -> Result<(), Error> {
        netns::rtnl(&self.underlay, |h| async move {
            links::lo_up(&h).await?;
            links::add_bridge(&h, "ul0", None, None).await?;
            links::add_addr(&h, "ul0", UNDERLAY_ROUTER, UNDERLAY_PREFIX).await?;
            links::up(&h, "ul0").await
        })?;
        netns::sysctls(&self.underlay, &[("net/ipv4/ip_forward", "1")])
    }

    /// Node `i`: its host, sbox and overlay namespaces, wired to the underlay and each other.
    fn build_node(&mut self, i: usize) -> Result<(), Error> {
        let node = self.sc.nodes[i].clone();
        let host = self.create(&format!("{}-host", node.name))?;
        let sbox = self.create(&format!("{}-sbox", node.name))?;
        let ovl = self.create(&format!("{}-ovl", node.name))?;
        self.link_host_to_underlay(i, &host)?;
        self.build_host(&node, &host, &sbox, &ovl)?;
        self.build_overlay(&node, &ovl, &sbox)?;
        let ipvs = self.build_sbox(&node, &sbox)?;
        self.ipvs.push(ipvs);
        self.nodes.push(NodeNs { host, sbox, ovl });
        Ok(())
    }

    /// The veth `n<i>` on the underlay's bridge `ul0`, `eth0` in node `i`'s host.
    fn link_host_to_underlay(&self, i: usize, host: &Path) -> Result<(), Error> {
        let (ulf, hostf) = (open(&self.underlay)?, open(host)?);
        let port = format!("n{i}");
        netns::rtnl(&self.underlay, move |h| async move {
            links::add_veth(
                &h,
                VethEnd {
                    name: &port,
                    netns: &ulf,
                    mac: None,
                    mtu: None,
                },
                VethEnd {
                    name: "eth0",
                    netns: &hostf,
                    mac: None,
                    mtu: None,
                },
            )
            .await?;
            links::set_master(&h, &port, "ul0").await?;
            links::up(&h, &port).await
        })
    }

    /// The host: its underlay address and route, `docker_gwbridge` linked to the sbox's
    /// `eth1`, `vxlan0` moved into the overlay, forwarding and Docker's host rules.
    fn build_host(&self, node: &Node, host: &Path, sbox: &Path, ovl: &Path) -> Result<(), Error> {
        let (hostf, sboxf, ovlf) = (open(host)?, open(sbox)?, open(ovl)?);
        let public = node.public_ip;
        netns::rtnl(host, move |h| async move {
            links::lo_up(&h).await?;
            links::add_addr(&h, "eth0", public, UNDERLAY_PREFIX).await?;
            links::up(&h, "eth0").await?;
            links::add_route(&h, Ipv4Addr::UNSPECIFIED, 0, Some(UNDERLAY_ROUTER), None).await?;
            links::add_bridge(&h, "docker_gwbridge", None, None).await?;
            links::add_addr(&h, "docker_gwbridge", GWBRIDGE_IP, GWBRIDGE_PREFIX).await?;
            links::up(&h, "docker_gwbridge").await?;
            let gw_mac = Scenario::mac_for(SBOX_GW_IP);
            links::add_veth(
                &h,
                VethEnd {
                    name: "gw0",
                    netns: &hostf,
                    mac: None,
                    mtu: None,
                },
                VethEnd {
                    name: "eth1",
                    netns: &sboxf,
                    mac: Some(gw_mac),
                    mtu: None,
                },
            )
            .await?;
            links::set_master(&h, "gw0", "docker_gwbridge").await?;
            links::up(&h, "gw0").await?;
            links::add_vxlan(&h, "vxlan0", &ovlf, VXLAN_ID, VXLAN_PORT, INGRESS_MTU).await
        })?;
        netns::sysctls(host, &[("net/ipv4/ip_forward", "1")])?;
        // dockerd loads br_netfilter and turns this on: bridged traffic on docker_gwbridge goes
        // through the host's conntrack, which un-DNATs the sandbox's replies to a task that
        // asked its own node's published port (a proxy inside the swarm).
        if let Err(e) = netns::sysctls(host, &[("net/bridge/bridge-nf-call-iptables", "1")]) {
            tracing::warn!(
                "br_netfilter unavailable ({e}); hairpin through the ingress will not work"
            );
        }
        iptables_restore(host, &rules::host_rules(&self.sc))
    }

    /// The overlay: bridge `br0` (the ingress gateway) over `vxlan0`, and the veth whose
    /// other end is the sbox's `eth0`.
    fn build_overlay(&self, node: &Node, ovl: &Path, sbox: &Path) -> Result<(), Error> {
        let (ovlf, sboxf) = (open(ovl)?, open(sbox)?);
        let (gw, prefix, ingress) = (
            self.sc.gateway,
            self.sc.subnet.prefix_len(),
            node.ingress_ip,
        );
        netns::rtnl(ovl, move |h| async move {
            links::lo_up(&h).await?;
            links::add_bridge(&h, "br0", None, Some(INGRESS_MTU)).await?;
            links::add_addr(&h, "br0", gw, prefix).await?;
            links::up(&h, "br0").await?;
            links::set_master(&h, "vxlan0", "br0").await?;
            links::up(&h, "vxlan0").await?;
            let mac = Scenario::mac_for(ingress);
            links::add_veth(
                &h,
                VethEnd {
                    name: "veth0",
                    netns: &ovlf,
                    mac: None,
                    mtu: Some(INGRESS_MTU),
                },
                VethEnd {
                    name: "eth0",
                    netns: &sboxf,
                    mac: Some(mac),
                    mtu: Some(INGRESS_MTU),
                },
            )
            .await?;
            links::set_master(&h, "veth0", "br0").await?;
            links::up(&h, "veth0").await
        })
    }

    /// The sbox: its ingress address and the services' VIPs on `eth0`, `eth1` on
    /// `docker_gwbridge`, forwarding, Docker's sbox rules and one IPVS service per fwmark.
    fn build_sbox(&self, node: &Node, sbox: &Path) -> Result<Ipvs, Error> {
        let (prefix, ingress) = (self.sc.subnet.prefix_len(), node.ingress_ip);
        let vips: Vec<Ipv4Addr> = self.sc.services.iter().map(|s| s.vip).collect();
        netns::rtnl(sbox, move |h| async move {
            links::lo_up(&h).await?;
            links::add_addr(&h, "eth0", ingress, prefix).await?;
            for vip in vips {
                links::add_addr(&h, "eth0", vip, 32).await?;
            }
            links::up(&h, "eth0").await?;
            links::add_addr(&h, "eth1", SBOX_GW_IP, GWBRIDGE_PREFIX).await?;
            links::up(&h, "eth1").await?;
            links::add_route(&h, Ipv4Addr::UNSPECIFIED, 0, Some(GWBRIDGE_IP), None).await
        })?;
        let mut ipvs = Ipvs::open_in(sbox)?;
        netns::sysctls(
            sbox,
            &[("net/ipv4/ip_forward", "1"), ("net/ipv4/vs/conntrack", "1")],
        )?;
        iptables_restore(sbox, &rules::sbox_rules(&self.sc, ingress))?;
        for svc in &self.sc.services {
            ipvs.add_fwmark_service(svc.fwmark, "rr")?;
        }
        Ok(ipvs)
    }

    /// Tell every overlay where the other nodes' endpoint `ip` lives.
    fn announce(&self, owner: usize, ip: Ipv4Addr) -> Result<(), Error> {
        let underlay = self.sc.nodes[owner].public_ip;
        let mac = Scenario::mac_for(ip);
        for (j, ns) in self.nodes.iter().enumerate() {
            if j == owner {
                continue;
            }
            netns::rtnl(&ns.ovl, move |h| async move {
                links::add_neigh(&h, "vxlan0", ip, mac).await?;
                links::add_fdb(&h, "vxlan0", mac, underlay).await
            })?;
        }
        Ok(())
    }

    fn mesh_sandboxes(&self) -> Result<(), Error> {
        for (i, n) in self.sc.nodes.iter().enumerate() {
            self.announce(i, n.ingress_ip)?;
        }
        Ok(())
    }

    /// Start task `i` (scenario index): namespace, links, rules, IPVS destinations on every
    /// node, overlay entries, whoami servers.
    pub fn start_task(&mut self, i: usize) -> Result<(), Error> {
        let task = self.sc.tasks[i].clone();
        let name = self.sc.task_name(i);
        let node = &self.sc.nodes[task.node];
        let ns = self.create(&format!("{}-{name}", node.name))?;
        let k = self.next_port[task.node];
        self.next_port[task.node] += 1;
        let nn = self.nodes[task.node].clone();

        let (ovlf, taskf) = (open(&nn.ovl)?, open(&ns)?);
        let (mac, ip) = (Scenario::mac_for(task.ingress_ip), task.ingress_ip);
        netns::rtnl(&nn.ovl, move |h| async move {
            let port = format!("veth{k}");
            links::add_veth(
                &h,
                VethEnd {
                    name: &port,
                    netns: &ovlf,
                    mac: None,
                    mtu: Some(INGRESS_MTU),
                },
                VethEnd {
                    name: "eth0",
                    netns: &taskf,
                    mac: Some(mac),
                    mtu: Some(INGRESS_MTU),
                },
            )
            .await?;
            links::set_master(&h, &port, "br0").await?;
            links::up(&h, &port).await
        })?;
        let (hostf, taskf) = (open(&nn.host)?, open(&ns)?);
        let gw_mac = Scenario::mac_for(task.gw_ip);
        netns::rtnl(&nn.host, move |h| async move {
            let port = format!("gw{k}");
            links::add_veth(
                &h,
                VethEnd {
                    name: &port,
                    netns: &hostf,
                    mac: None,
                    mtu: None,
                },
                VethEnd {
                    name: "eth1",
                    netns: &taskf,
                    mac: Some(gw_mac),
                    mtu: None,
                },
            )
            .await?;
            links::set_master(&h, &port, "docker_gwbridge").await?;
            links::up(&h, &port).await
        })?;
        let (prefix, gw_ip) = (self.sc.subnet.prefix_len(), task.gw_ip);
        netns::rtnl(&ns, move |h| async move {
            links::lo_up(&h).await?;
            links::add_addr(&h, "eth0", ip, prefix).await?;
            links::up(&h, "eth0").await?;
            links::add_addr(&h, "eth1", gw_ip, GWBRIDGE_PREFIX).await?;
            links::up(&h, "eth1").await?;
            links::add_route(&h, Ipv4Addr::UNSPECIFIED, 0, Some(GWBRIDGE_IP), None).await
        })?;
        iptables_restore(&ns, &rules::task_rules(&self.sc, i))?;
        let ports = self.sc.services[task.service].listen_ports();
        let servers = crate::whoami::start(&ns, &name, &ports, &self.stop)?;
        self.servers.extend(servers);
        self.announce(task.node, ip)?;
        let fwmark = self.sc.services[task.service].fwmark;
        for ipvs in &mut self.ipvs {
            ipvs.add_masq_dest(fwmark, ip, 1)?;
        }
        self.tasks[i] = Some(ns);
        Ok(())
    }

    fn build_client(&mut self, i: usize) -> Result<(), Error> {
        let c = self.sc.clients[i].clone();
        let ns = self.create(&format!("c-{}", c.name))?;
        let (ulf, cf) = (open(&self.underlay)?, open(&ns)?);
        let ip = c.ip;
        netns::rtnl(&self.underlay, move |h| async move {
            let port = format!("c{i}");
            links::add_veth(
                &h,
                VethEnd {
                    name: &port,
                    netns: &ulf,
                    mac: None,
                    mtu: None,
                },
                VethEnd {
                    name: "eth0",
                    netns: &cf,
                    mac: None,
                    mtu: None,
                },
            )
            .await?;
            links::add_addr(&h, &port, UNDERLAY_ROUTER, 32).await?;
            links::up(&h, &port).await?;
            links::add_route(&h, ip, 32, None, Some(&port)).await
        })?;
        netns::rtnl(&ns, move |h| async move {
            links::lo_up(&h).await?;
            links::add_addr(&h, "eth0", ip, 32).await?;
            links::up(&h, "eth0").await?;
            links::add_route(&h, UNDERLAY_ROUTER, 32, None, Some("eth0")).await?;
            links::add_route(&h, Ipv4Addr::UNSPECIFIED, 0, Some(UNDERLAY_ROUTER), None).await
        })?;
        netns::sysctls(&ns, &[("net/ipv4/tcp_ecn", if c.ecn { "1" } else { "2" })])?;
        self.clients.push(ns);
        Ok(())
    }

    /// Total reply packets (IPVS `outpkts`) each node's sandbox has carried so far, counted
    /// live (see [`crate::counters`]): a reply that reached its client is already in it.
    pub fn outpkts(&self) -> Result<Vec<u64>, Error> {
        self.nodes
            .iter()
            .map(|n| crate::counters::outpkts(&n.sbox))
            .collect()
    }

    /// Stop the servers and remove every namespace of this topology.
    pub fn teardown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        crate::whoami::Server::stop_all(std::mem::take(&mut self.servers));
        self.ipvs.clear();
        for ns in self.namespaces.drain(..).rev() {
            netns::delete(&ns);
        }
    }

    /// How to get a shell in each namespace (for `netsim up`).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for p in &self.namespaces {
            if let Some(name) = p.file_name() {
                s.push_str(&format!(
                    "  ip netns exec {} bash\n",
                    name.to_string_lossy()
                ));
            }
        }
        s
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.teardown();
    }
}
