//! `dird plan`: the exact rule set dird would install for a configuration and an ingress given
//! on the command line. Needs neither root nor Docker.

use std::fmt::Write as _;

use crate::config::{parse_ipv4, parse_subnet, ConfigError, PlanArgs, RuleConfig};
use crate::ids::{LbSet, MARK_MASK};
use crate::plan::{
    lb_plan, lb_uninstall_plan, render_sync, render_text, task_plan, task_uninstall_plan, Ingress,
    IpCommand, IptablesState, RoutingPlan, Sysctl, TaskIngress, Verb,
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
        if rules.auto_gateways {
            return Err(ConfigError::AutoInPlan);
        }
        let subnet = parse_subnet("--ingress-subnet", &args.ingress_subnet)?;
        let node_ip = parse_ipv4("--node-ip", &args.node_ip)?;
        if !subnet.contains(&node_ip) {
            return Err(ConfigError::GatewayOutsideSubnet {
                ip: node_ip,
                subnet: subnet.to_string(),
            });
        }
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
    // The rules as the daemon would apply them: the default load-balancer list when none was
    // given; `--services` without port flags needs Docker for the ports, so no sbox rules here.
    let (effective, lb_enabled) =
        crate::node::effective_rules(&input.rules, input.ingress.node_ip, None);
    let cfg = &effective;
    let lbs = LbSet::for_rules(cfg, input.ingress.subnet)?;
    let mut out = String::new();
    let ing = &input.ingress;
    let _ = writeln!(
        out,
        "# dird plan: ingress subnet {}, this node's ingress IP {}",
        ing.subnet, ing.node_ip
    );
    let _ = writeln!(
        out,
        "# id encoding: {}{}",
        cfg.id_encoding.name(),
        if lbs.forced_indexed {
            "; indexed IDs forced (ingress subnet larger than /24)"
        } else if lbs.indexed {
            "; indexed IDs"
        } else {
            ""
        }
    );
    for m in &lbs.members {
        let this = if m.ip == ing.node_ip {
            "  <== this node"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "# load balancer {} (position {}): ID {}, table {}, mark {:#x}/{:#x}{this}",
            m.ip,
            m.position,
            m.id,
            m.id.table(),
            m.id.mark(),
            MARK_MASK
        );
    }
    if lbs.members.is_empty() {
        let _ = writeln!(out, "# no load balancers configured");
    }
    if !cfg.services.is_empty() {
        let _ = writeln!(
            out,
            "# task rules only for services: {}",
            cfg.services.join(", ")
        );
    }

    let empty = IptablesState::default();
    let _ = writeln!(out, "\n## ingress_sbox");
    match (lbs.id_of(ing.node_ip), input.uninstall) {
        (Some(id), false) if !lb_enabled => {
            let _ = writeln!(
                out,
                "# this node is load balancer ID {id}, but --services without --tcp-ports/--udp-ports: \
                 the daemon reads those services' published ports from Docker and filters on them; \
                 give the port flags to see the rules"
            );
        }
        (Some(id), false) => {
            let plan = lb_plan(cfg, ing, id, &input.sysctl_files);
            let _ = writeln!(
                out,
                "# this node is load balancer ID {id}\n### iptables-restore --noflush"
            );
            out.push_str(&render_text(&render_sync(&plan.iptables, &empty)));
            let _ = writeln!(out, "### sysctls");
            for s in &plan.sysctls {
                let _ = writeln!(out, "{s}");
            }
        }
        (Some(id), true) => {
            let plan = lb_plan(cfg, ing, id, &input.sysctl_files);
            let mut installed = IptablesState::default();
            for b in render_sync(&plan.iptables, &empty) {
                // The text was rendered from an empty state, so it always applies to one.
                if let Err(e) = installed.apply(&b.text) {
                    let _ = writeln!(out, "# internal error: {e}");
                }
            }
            let _ = writeln!(
                out,
                "### iptables-restore --noflush (removes the rules above)"
            );
            out.push_str(&render_text(&render_sync(&lb_uninstall_plan(), &installed)));
        }
        (None, _) => {
            let _ = writeln!(
                out,
                "# this node is not a load balancer: dird installs nothing here"
            );
        }
    }

    let _ = writeln!(
        out,
        "\n## task container (ingress interface {}, address {})",
        input.task.iface, input.task.addr
    );
    let task = task_plan(&lbs, ing, &input.task);
    if input.uninstall {
        let mut installed = IptablesState::default();
        for b in render_sync(&task.iptables, &empty) {
            if let Err(e) = installed.apply(&b.text) {
                let _ = writeln!(out, "# internal error: {e}");
            }
        }
        let (ipt, _) = task_uninstall_plan();
        let _ = writeln!(
            out,
            "### iptables-restore --noflush (removes the rules above)"
        );
        out.push_str(&render_text(&render_sync(&ipt, &installed)));
        write_routing(&mut out, &task.routing, Verb::Del);
        return Ok(out);
    }
    let _ = writeln!(out, "### iptables-restore --noflush");
    out.push_str(&render_text(&render_sync(&task.iptables, &empty)));
    write_routing(&mut out, &task.routing, Verb::Add);
    let _ = writeln!(out, "### sysctls");
    for s in &task.sysctls {
        let _ = writeln!(out, "{s}");
    }
    Ok(out)
}

/// The `### routing` section: the `ip` commands applying `verb` to each rule and route.
fn write_routing(out: &mut String, routing: &RoutingPlan, verb: Verb) {
    let _ = writeln!(out, "### routing");
    for r in &routing.rules {
        let _ = writeln!(out, "{}", r.command(verb));
    }
    for r in &routing.udp_rules {
        let _ = writeln!(out, "{}", r.command(verb));
    }
    for r in &routing.routes {
        let _ = writeln!(out, "{}", r.command(verb));
    }
}
