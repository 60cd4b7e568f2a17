//! `dird plan`: the exact rule set dird would install for a configuration and an ingress given
//! on the command line. Needs neither root nor Docker.

use std::fmt::Write as _;

use crate::config::{parse_ipv4, parse_subnet, ConfigError, PlanArgs, RuleConfig};
use crate::discovery::in_subnet;
use crate::ids::MARK_MASK;
use crate::node::{Discovered, Node};
use crate::plan::{
    install_text, lb_plan, lb_uninstall_plan, removal_text, task_plan, task_uninstall_plan,
    Ingress, Sysctl, TaskIngress,
};

/// Everything `dird plan` needs, already read and validated.
#[derive(Debug, Clone)]
pub struct PlanInput {
    pub rules: RuleConfig,
    pub ingress: Ingress,
    pub task: TaskIngress,
    pub sysctl_files: Vec<Sysctl>,
    pub uninstall: bool,
}

impl PlanInput {
    pub fn from_args(
        args: &PlanArgs,
        legacy_env: Option<&str>,
        sysctl_files: Vec<Sysctl>,
    ) -> Result<PlanInput, ConfigError> {
        let rules = RuleConfig::from_args(&args.rules, legacy_env)?;
        // The swarm's view is Docker's; `dird plan` needs none.
        if rules.lbs.needs_view() {
            return Err(ConfigError::AutoInPlan);
        }
        let subnet = parse_subnet("--ingress-subnet", &args.ingress_subnet)?;
        let node_ip = parse_ipv4("--node-ip", &args.node_ip)?;
        in_subnet(node_ip, subnet)?;
        let task_ip = match &args.task_ip {
            Some(t) => parse_ipv4("--task-ip", t)?,
            None => std::net::Ipv4Addr::from(u32::from(subnet.network()) + 100),
        };
        if !subnet.contains(&task_ip) {
            return Err(ConfigError::TaskIpOutsideSubnet {
                ip: task_ip,
                subnet: subnet.to_string(),
            });
        }
        let mut udp_ports = Vec::new();
        for p in crate::config::parse_ports("--task-udp-ports", &args.task_udp_ports)? {
            match p {
                crate::config::PortSpec::Single(p) => udp_ports.push(p),
                crate::config::PortSpec::Range(lo, hi) => udp_ports.extend(lo..=hi),
            }
        }
        Ok(PlanInput {
            rules,
            ingress: Ingress { subnet, node_ip },
            task: TaskIngress {
                iface: args.task_interface.clone(),
                addr: task_ip,
                udp_ports,
            },
            sysctl_files,
            uninstall: args.uninstall,
        })
    }
}

/// Renders the plan as text: `iptables-restore --noflush` input, `ip` commands and sysctls,
/// under `#` headings so that each part can be cut out and used as is.
pub fn render(input: &PlanInput) -> Result<String, ConfigError> {
    // The node as the daemon would build it: the default load-balancer list when none was
    // given; `--services` without port flags needs Docker for the ports, so no sbox rules here.
    let discovered = Discovered {
        sysctl_files: input.sysctl_files.clone(),
        ..Discovered::default()
    };
    let node = Node::build(&input.rules, input.ingress, &discovered)?.node;
    let mut out = Text::default();
    write_header(&mut out, &node);
    write_sbox(&mut out, &node, input.uninstall);
    write_task(&mut out, &node, &input.task, input.uninstall);
    Ok(out.0)
}

/// The plan's text, written line by line.
#[derive(Default)]
struct Text(String);

impl Text {
    /// Appends `line` and a newline.
    fn line(&mut self, line: impl std::fmt::Display) {
        let _ = writeln!(self.0, "{line}");
    }

    /// Appends `text` as it is.
    fn push(&mut self, text: &str) {
        self.0.push_str(text);
    }
}

/// The `#` lines: ingress, ID encoding, every load balancer, the `--services` filter.
fn write_header(out: &mut Text, node: &Node) {
    let (cfg, lbs, ing) = (&node.rules, &node.lbs, &node.ingress);
    out.line(format_args!(
        "# dird plan: ingress subnet {}, this node's ingress IP {}",
        ing.subnet, ing.node_ip
    ));
    out.line(format_args!(
        "# id encoding: {}{}",
        cfg.id_encoding.name(),
        if lbs.forced_indexed {
            "; indexed IDs forced (ingress subnet larger than /24)"
        } else if lbs.indexed {
            "; indexed IDs"
        } else {
            ""
        }
    ));
    for m in &lbs.members {
        let this = if m.ip == ing.node_ip {
            "  <== this node"
        } else {
            ""
        };
        out.line(format_args!(
            "# load balancer {} (position {}): ID {}, table {}, mark {:#x}/{:#x}{this}",
            m.ip,
            m.position,
            m.id,
            m.id.table(),
            m.id.mark(),
            MARK_MASK
        ));
    }
    if lbs.members.is_empty() {
        out.line("# no load balancers configured");
    }
    if !cfg.services.is_empty() {
        out.line(format_args!(
            "# task rules only for services: {}",
            cfg.services.join(", ")
        ));
    }
}

/// The `## ingress_sbox` section: the load-balancer rules (or their removal), or why none.
fn write_sbox(out: &mut Text, node: &Node, uninstall: bool) {
    let ing = &node.ingress;
    out.line("\n## ingress_sbox");
    match (node.lbs.id_of(ing.node_ip), uninstall) {
        (Some(id), false) if !node.lb_enabled => {
            out.line(format_args!(
                "# this node is load balancer ID {id}, but --services without --tcp-ports/--udp-ports: \
                 the daemon reads those services' published ports from Docker and filters on them; \
                 give the port flags to see the rules"
            ));
        }
        (Some(id), false) => {
            let plan = lb_plan(&node.rules, ing, id, &node.sysctl_files);
            out.line(format_args!("# this node is load balancer ID {id}"));
            out.push(&install_text(&plan.iptables, None, &plan.sysctls));
        }
        (Some(id), true) => {
            let plan = lb_plan(&node.rules, ing, id, &node.sysctl_files);
            out.push(&removal_text(&plan.iptables, &lb_uninstall_plan(), None));
        }
        (None, _) => {
            out.line("# this node is not a load balancer: dird installs nothing here");
        }
    }
}

/// The `## task container` section: a task's rules, routing and sysctls (or their removal).
fn write_task(out: &mut Text, node: &Node, task: &TaskIngress, uninstall: bool) {
    out.line(format_args!(
        "\n## task container (ingress interface {}, address {})",
        task.iface, task.addr
    ));
    let plan = task_plan(&node.lbs, &node.ingress, task);
    if uninstall {
        let (ipt, _) = task_uninstall_plan();
        out.push(&removal_text(&plan.iptables, &ipt, Some(&plan.routing)));
    } else {
        out.push(&install_text(
            &plan.iptables,
            Some(&plan.routing),
            &plan.sysctls,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::{LbEntry, LbSource};

    /// `dird plan` for node `node` of a two-load-balancer swarm.
    fn input(node: [u8; 4], uninstall: bool) -> PlanInput {
        let lb = |d| LbEntry::Ip(std::net::Ipv4Addr::new(10, 0, 0, d));
        PlanInput {
            rules: RuleConfig {
                lbs: LbSource::Explicit(vec![lb(2), lb(3)]),
                performance: true,
                services: vec!["web".into()],
                tcp_ports: vec![crate::config::PortSpec::Single(8080)],
                ..Default::default()
            },
            ingress: Ingress {
                subnet: "10.0.0.0/24".parse().expect("subnet"),
                node_ip: node.into(),
            },
            task: TaskIngress {
                iface: "eth0".into(),
                addr: [10, 0, 0, 100].into(),
                udp_ports: Vec::new(),
            },
            sysctl_files: Vec::new(),
            uninstall,
        }
    }

    #[test]
    fn the_cli_shows_a_load_balancers_plan() {
        insta::assert_snapshot!(render(&input([10, 0, 0, 2], false)).expect("plan"));
    }

    #[test]
    fn the_cli_says_when_a_node_is_not_a_load_balancer() {
        insta::assert_snapshot!(render(&input([10, 0, 0, 9], false)).expect("plan"));
    }

    #[test]
    fn the_cli_shows_a_removal() {
        insta::assert_snapshot!(render(&input([10, 0, 0, 2], true)).expect("plan"));
    }
}
