//! `dird plan`: the exact rule set dird would install for a configuration and an ingress given
//! on the command line. Needs neither root nor Docker.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;

use super::Failure;
use crate::config::{parse_ipv4, parse_subnet, ConfigError, RuleArgs, RuleConfig};
use crate::discovery::in_subnet;
use crate::ids::MARK_MASK;
use crate::node::{Discovered, Node};
use crate::plan::{
    install_text, lb_plan, lb_uninstall_plan, removal_text, task_plan, task_uninstall_plan,
    Ingress, Sysctl, TaskIngress,
};
use crate::sysctl_files::{self, SysctlFileError};

/// `dird plan`: the ingress facts that Docker would give are taken from the command line.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
    /// The ingress network's subnet.
    #[arg(long, value_name = "CIDR", default_value = "10.0.0.0/24")]
    pub ingress_subnet: String,
    /// This node's ingress IP (its ingress_sbox address).
    #[arg(long, value_name = "IP")]
    pub node_ip: String,
    /// Name of a task container's ingress interface, for the task part of the plan.
    #[arg(long, value_name = "NAME", default_value = "eth0")]
    pub task_interface: String,
    /// The task's address on the ingress network (default: host 100 of the subnet).
    #[arg(long, value_name = "IP")]
    pub task_ip: Option<String>,
    /// UDP ports the task's servers listen on (its service's published UDP target ports).
    #[arg(long, value_name = "PORTS", action = clap::ArgAction::Append)]
    pub task_udp_ports: Vec<String>,
    /// Where conntrack.conf and ipvs.conf are read from.
    #[arg(long, value_name = "DIR", default_value = "/etc/sysctl.d")]
    pub sysctl_dir: std::path::PathBuf,
    /// Print the uninstall plan instead (what `--uninstall` removes after this install).
    #[arg(long)]
    pub uninstall: bool,
}

/// Why no plan was printed: the flags or the sysctl.d files are wrong.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    SysctlFiles(#[from] SysctlFileError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl Failure for PlanError {
    fn bad_input(&self) -> bool {
        true
    }
}

/// `dird plan`: the plan on stdout (`legacy_env`: the value of `INGRESS_NODE_GATEWAY_IPS`).
pub fn exec(args: &PlanArgs, legacy_env: Option<&str>) -> Result<ExitCode, PlanError> {
    let files = sysctl_files::read_sbox_files(&args.sysctl_dir)?;
    let input = PlanInput::from_args(args, legacy_env, files)?;
    print!("{}", render(&input)?);
    Ok(ExitCode::SUCCESS)
}

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
#[path = "plan_tests.rs"]
mod tests;
