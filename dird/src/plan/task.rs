//! A task container's part: turn the load balancer's ID into a connection mark on the first
//! packet of a connection, restore it as the packet mark on replies, and route marked replies
//! back through that load balancer (one table each), with loose reverse-path filtering.

use super::iptables::{IptablesPlan, OwnChain};
use super::routing::{
    port_ranges, PolicyRule, Route, RoutingPlan, UdpSourceRule, RT_TABLE_MAIN, UDP_MAIN_PRIORITY,
    UDP_SOURCE_PRIORITY,
};
use super::table::Table;
use super::{legacy, Ingress, Sysctl};
use std::net::Ipv4Addr;

use crate::config::IdEncoding;
use crate::ids::{LbSet, MARK_MASK, MARK_SHIFT, RULE_PRIORITY, TABLE_BASE};

/// The task's ingress side, as found in its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskIngress {
    /// The interface with an address in the ingress subnet.
    pub iface: String,
    /// That address.
    pub addr: Ipv4Addr,
    /// Ports the task's UDP servers listen on (the service's published UDP target ports).
    pub udp_ports: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPlan {
    pub iptables: IptablesPlan,
    pub routing: RoutingPlan,
    pub sysctls: Vec<Sysctl>,
}

/// `task` is the task's side of the ingress network.
///
/// The ID is copied bit by bit from the TOS byte into the connection mark (8 rules for `tos`,
/// 6 for `dscp`), so the per-connection cost does not grow with the number of load balancers
/// and the chain does not change when load balancers come and go. Only the first packet of a
/// connection is looked at, and only when it came in on the ingress interface from outside the
/// ingress subnet: masqueraded traffic (source inside the subnet) never picks a table, whatever
/// TOS byte a client chose.
///
/// For each run of consecutive UDP ports the task serves, replies of a server bound to
/// `0.0.0.0` are given the task's ingress address as source (two rules, see
/// [`UdpSourceRule`]), so that they match the request's connection and follow its load
/// balancer instead of leaving through the gwbridge.
pub fn task_plan(lbs: &LbSet, ingress: &Ingress, task: &TaskIngress) -> TaskPlan {
    let iface = task.iface.as_str();
    TaskPlan {
        iptables: IptablesPlan::new(task_chains(lbs, ingress, iface), legacy::task_rules()),
        routing: task_routing(lbs, ingress, task),
        sysctls: task_sysctls(iface),
    }
}

/// dird's mangle chains in a task: PREROUTING copies the load balancer's ID from the TOS
/// byte of a new connection's first packet into the connection mark (and the packet's);
/// OUTPUT restores it on replies.
fn task_chains(lbs: &LbSet, ingress: &Ingress, iface: &str) -> Vec<OwnChain> {
    let enc = lbs.encoding;
    let mut pre = vec![
        "-m conntrack ! --ctstate NEW -j RETURN".to_owned(),
        format!("-s {} -j RETURN", ingress.subnet),
        format!("! -i {iface} -j RETURN"),
    ];
    let id_bits = match enc {
        IdEncoding::Tos => 8,
        IdEncoding::Dscp => 6,
    };
    for bit in 0..id_bits {
        let tos = 1u32 << (bit + enc.tos_shift());
        let mark = 1u32 << (bit + MARK_SHIFT);
        pre.push(format!(
            "-m tos --tos {tos:#04x}/{tos:#04x} -j CONNMARK --set-xmark {mark:#x}/{mark:#x}"
        ));
    }
    let restore =
        format!("-j CONNMARK --restore-mark --nfmask {MARK_MASK:#x} --ctmask {MARK_MASK:#x}");
    // The first packet carries the mark too: with tcp_fwmark_accept the accepted socket takes
    // it, so replies are routed through the right table from the start and the per-packet
    // restore in OUTPUT changes nothing (no re-route per reply packet).
    pre.push(restore.clone());
    let out = vec![format!("-p tcp {restore}"), format!("-p udp {restore}")];
    vec![
        OwnChain {
            table: Table::Mangle,
            builtin: "PREROUTING",
            rules: pre,
        },
        OwnChain {
            table: Table::Mangle,
            builtin: "OUTPUT",
            rules: out,
        },
    ]
}

/// One rule and one table per load balancer (replies marked with its ID go back through
/// it), and, for the task's UDP ports, the source-port rules and the route of the first one.
fn task_routing(lbs: &LbSet, ingress: &Ingress, task: &TaskIngress) -> RoutingPlan {
    let iface = task.iface.as_str();
    let mut routing = RoutingPlan::default();
    for m in &lbs.members {
        routing.rules.push(PolicyRule {
            priority: RULE_PRIORITY,
            from: ingress.subnet,
            fwmark: m.id.mark(),
            mask: MARK_MASK,
            table: m.id.table(),
        });
        routing.routes.push(Route {
            table: m.id.table(),
            gateway: m.ip,
            dev: iface.to_owned(),
            src: None,
        });
    }
    if let Some(first) = lbs.members.first() {
        for sport in port_ranges(&task.udp_ports) {
            routing.udp_rules.push(UdpSourceRule {
                priority: UDP_MAIN_PRIORITY,
                sport,
                table: RT_TABLE_MAIN,
                suppress_prefixlength: Some(0),
            });
            routing.udp_rules.push(UdpSourceRule {
                priority: UDP_SOURCE_PRIORITY,
                sport,
                table: TABLE_BASE,
                suppress_prefixlength: None,
            });
        }
        if !routing.udp_rules.is_empty() {
            routing.routes.push(Route {
                table: TABLE_BASE,
                gateway: first.ip,
                dev: iface.to_owned(),
                src: Some(task.addr),
            });
        }
    }
    routing.rules.sort();
    routing.routes.sort();
    routing.udp_rules.sort();
    routing
}

/// Loose reverse-path filtering on all and on the ingress interface, and fwmark accept.
fn task_sysctls(iface: &str) -> Vec<Sysctl> {
    let mut sysctls: Vec<Sysctl> = [
        ["net", "ipv4", "conf", "all", "rp_filter"],
        ["net", "ipv4", "conf", iface, "rp_filter"],
    ]
    .iter()
    .filter_map(|c| Sysctl::new(c, "2"))
    .collect();
    sysctls.extend(Sysctl::new(&["net", "ipv4", "tcp_fwmark_accept"], "1"));
    sysctls
}

/// The UDP ports a task's servers listen on, from Docker's own rules in the task:
/// `nat PREROUTING -d <task>/32 -p udp -m udp --dport <published> -j REDIRECT --to-ports <target>`.
/// Read locally, so it works on worker nodes, where the Swarm API cannot list services.
pub fn udp_redirect_ports(state: &super::IptablesState) -> Vec<u16> {
    let mut ports: Vec<u16> = state
        .rules(super::Table::Nat, "PREROUTING")
        .into_iter()
        .flatten()
        .filter(|r| r.contains("-p udp "))
        .filter_map(|r| r.split_once("-j REDIRECT --to-ports ").map(|(_, p)| p))
        .filter_map(|p| p.split_whitespace().next())
        .filter_map(|p| {
            p.split(['-', ':'])
                .next()
                .and_then(|n| n.parse::<u16>().ok())
        })
        .filter(|p| *p > 0)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// What uninstalling wants in a task: no dird chains, rules or tables, and none of the original's.
pub fn task_uninstall_plan() -> (IptablesPlan, RoutingPlan) {
    (
        IptablesPlan::new(Vec::new(), legacy::task_rules()),
        RoutingPlan::default(),
    )
}
