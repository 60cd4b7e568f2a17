//! Throwaway network namespaces for tests (root required). Nothing is added to the root
//! namespace: every link is created inside the test namespace.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests create network namespaces and need root"
    );
}

#[track_caller]
pub fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace removed on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        require_root();
        let name = format!(
            "dirdt-{}-{}-{}",
            tag,
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        run(&["ip", "netns", "add", &name]);
        run(&["ip", "-n", &name, "link", "set", "lo", "up"]);
        Netns { name }
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    pub fn ip(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend_from_slice(args);
        run(&v)
    }

    pub fn exec(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "netns", "exec", &self.name];
        v.extend_from_slice(args);
        run(&v)
    }

    /// A task-like namespace: `ingress` on the ingress network, `gw0` on the gwbridge
    /// with the default route, as Docker sets up a service task.
    pub fn task(tag: &str, ingress: &str, addr: &str) -> Netns {
        let ns = Netns::new(tag);
        // veth pairs with both ends inside the namespace (this kernel has no dummy module).
        ns.ip(&[
            "link",
            "add",
            ingress,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{ingress}p"),
        ]);
        ns.ip(&["link", "set", &format!("{ingress}p"), "up"]);
        ns.ip(&["addr", "add", addr, "dev", ingress]);
        ns.ip(&["link", "set", ingress, "up"]);
        ns.ip(&["link", "add", "gw0", "type", "veth", "peer", "name", "gw0p"]);
        ns.ip(&["link", "set", "gw0p", "up"]);
        ns.ip(&["addr", "add", "172.18.0.3/16", "dev", "gw0"]);
        ns.ip(&["link", "set", "gw0", "up"]);
        ns.ip(&["route", "add", "default", "via", "172.18.0.1"]);
        ns
    }

    /// `iptables-save` without comments and counters, empty default tables dropped, plus
    /// `ip rule` and `ip route show table all`: what uninstall must give back exactly.
    /// iptables, policy rules and IPv4 routes (dird touches no IPv6 route; IPv6 link-local
    /// routes appear whenever duplicate address detection ends, which under load can fall
    /// between two snapshots).
    pub fn snapshot(&self) -> String {
        let save = dird::plan::state::comparable_save(&self.exec(&["iptables-save"]));
        format!(
            "{}--- rules\n{}--- routes\n{}",
            save,
            self.ip(&["rule"]),
            self.ip(&["-4", "route", "show", "table", "all"])
        )
    }

    pub fn sysctl(&self, key: &str) -> String {
        self.exec(&["sysctl", "-n", key]).trim().to_string()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Load balancer `i` of the benchmarks' /16 ingress (indexed IDs, so up to 255 fit).
pub fn lb_ip(i: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(10, 0, 1 + (i / 200) as u8, 1 + (i % 200) as u8)
}

/// The benchmarks' configuration: `lbs` load balancers on a 10.0.0.0/16 ingress, this node
/// at 10.0.0.250 (not a load balancer).
pub fn bench_rules(lbs: usize) -> (dird::config::RuleConfig, dird::plan::Ingress) {
    let rules = dird::config::RuleConfig {
        lbs: dird::discovery::LbSource::Explicit(
            (0..lbs)
                .map(|i| dird::discovery::LbEntry::Ip(lb_ip(i)))
                .collect(),
        ),
        performance: true,
        ..Default::default()
    };
    let ingress = dird::plan::Ingress {
        subnet: "10.0.0.0/16".parse().expect("valid subnet"),
        node_ip: std::net::Ipv4Addr::new(10, 0, 0, 250),
    };
    (rules, ingress)
}

pub fn bench_node(lbs: usize) -> dird::node::Node {
    let (rules, ingress) = bench_rules(lbs);
    dird::node::Node::build(&rules, ingress, &dird::node::Discovered::default())
        .expect("valid configuration")
        .node
}

/// What docker-ingress-routing-daemon v4.3.0 runs inside a container, one process each (without
/// its `nsenter` prefix). `lbs`: (ID, load balancer's ingress IP, table). The original uses
/// table = ID; the benchmark moves the tables off 253-255 so that 255 LBs stay runnable.
pub fn original_task_commands(
    subnet: &str,
    iface: &str,
    lbs: &[(u32, std::net::Ipv4Addr, u32)],
) -> Vec<Vec<String>> {
    let argv = |s: &[&str]| s.iter().map(|a| a.to_string()).collect::<Vec<String>>();
    let mut out = vec![
        argv(&[
            "iptables",
            "-t",
            "mangle",
            "-A",
            "OUTPUT",
            "-m",
            "comment",
            "--comment",
            "docker-ingress-routing-daemon",
        ]),
        argv(&[
            "iptables",
            "-t",
            "mangle",
            "-A",
            "OUTPUT",
            "-p",
            "udp",
            "-j",
            "CONNMARK",
            "--restore-mark",
        ]),
        argv(&[
            "iptables",
            "-t",
            "mangle",
            "-A",
            "OUTPUT",
            "-p",
            "tcp",
            "-j",
            "CONNMARK",
            "--restore-mark",
        ]),
        argv(&[
            "sysctl",
            "-q",
            "net.ipv4.conf.all.rp_filter=2",
            &format!("net.ipv4.conf.{iface}.rp_filter=2"),
        ]),
    ];
    for (id, ip, table) in lbs {
        let (id, ip, table) = (id.to_string(), ip.to_string(), table.to_string());
        out.push(argv(&[
            "iptables",
            "-t",
            "mangle",
            "-A",
            "PREROUTING",
            "-m",
            "tos",
            "--tos",
            &format!("{id}/0xff"),
            "-j",
            "CONNMARK",
            "--set-xmark",
            &format!("{id}/0xffffffff"),
        ]));
        out.push(argv(&[
            "ip", "rule", "add", "from", subnet, "fwmark", &id, "lookup", &table, "prio", "32700",
        ]));
        out.push(argv(&[
            "ip", "route", "add", "table", &table, "default", "via", &ip,
        ]));
    }
    out
}

/// A namespace bind-mounted at `key`, where Docker keeps its sandboxes (the file is removed
/// on drop, the namespace with it).
pub struct Mounted {
    pub ns: Netns,
    pub key: &'static str,
}

impl Mounted {
    pub fn new(ns: Netns, key: &'static str) -> Mounted {
        let dir = std::path::Path::new(key).parent().expect("parent");
        std::fs::create_dir_all(dir).expect("netns dir");
        std::fs::write(key, b"").expect("mount point");
        let ok = Command::new("mount")
            .args(["--bind", &ns.path().display().to_string(), key])
            .status()
            .expect("mount")
            .success();
        assert!(ok, "bind-mount {} at {key}", ns.name);
        Mounted { ns, key }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.key).status();
        let _ = std::fs::remove_file(self.key);
    }
}
