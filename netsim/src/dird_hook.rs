//! The one seam between netsim and dird's library.
//!
//! netsim calls these functions only for scenarios that have a `[dird]` section, and only for
//! the nodes listed in `dird.nodes` (default: every node). Everything is plain data; the
//! namespaces named by the paths exist for as long as the call runs and until the scenario
//! ends. `args` is `[dird].args` (or a step's `dird_args`); when they give no load balancers
//! (dird would assume its default), the hook adds `--ingress-gateway-ips` with
//! `load_balancer_ips`, what the scenario marked `load_balancer = true` (`null` when none is),
//! and dird parses that as it parses any flag.
//!
//! Call order for one scenario:
//! 1. after the topology is built: [`configure_node`] for each listed node;
//! 2. a step's `add_tasks`: after the new tasks run, [`tasks_started`] for each listed node that
//!    got new tasks (with only those tasks);
//! 3. a step's `dird_args`: [`reconfigure`] for each listed node with the new arguments.
//!
//! The hook runs dird's library exactly as the daemon would on that node: the same flag
//! parsing, the same [`dird::node::Node::build`] (effective rules, load balancers from their
//! source, [`dird::discovery::LbSource`]), fed with the scenario's facts where the daemon reads
//! Docker's, and the same [`dird::node::Node`] applying plans in the sbox and task namespaces.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use dird::apply::{IptablesTools, SysctlRoot, TaskOutcome};
use dird::config::{Config, PortSpec, RuleConfig};
use dird::discovery::SwarmNode;
use dird::node::{needs_published_ports, Discovered, Node, TaskRef};
use dird::plan::Ingress;
use ipnet::Ipv4Net;

/// One task as dird would discover it through Docker.
#[derive(Debug, Clone)]
pub struct TaskFacts {
    /// Service name (the `com.docker.swarm.service.name` label).
    pub service: String,
    /// Task name, e.g. `web.1`.
    pub name: String,
    /// The task's network namespace (as `/proc/<pid>/ns/net` would be for a container).
    pub netns: PathBuf,
}

/// Published ports of one service, as the Swarm API lists them.
#[derive(Debug, Clone)]
pub struct ServicePorts {
    pub service: String,
    pub tcp: Vec<u16>,
    pub udp: Vec<u16>,
}

/// One node as dird would discover it.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    pub node: String,
    pub ingress_subnet: Ipv4Net,
    /// This node's ingress_sbox address.
    pub node_ingress_ip: Ipv4Addr,
    /// Whether the scenario marks this node `load_balancer = true`.
    pub load_balancer: bool,
    /// Ingress IPs of every node marked `load_balancer = true`, in node order.
    pub load_balancer_ips: Vec<Ipv4Addr>,
    /// This node's ingress_sbox namespace.
    pub sbox_netns: PathBuf,
    /// Tasks running on this node at the time of the call.
    pub tasks: Vec<TaskFacts>,
    /// Every service's published ports (what `--services` without ports reads from the API).
    pub published: Vec<ServicePorts>,
    /// Every node of the swarm: (ingress IP, underlay IP) — the verbose ingress view.
    pub swarm: Vec<(Ipv4Addr, Ipv4Addr)>,
}

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("dird on node {node}: {source}")]
    Dird {
        node: String,
        #[source]
        source: crate::error::Cause,
    },
}

fn err(facts: &NodeFacts, cause: impl Into<crate::error::Cause>) -> HookError {
    HookError::Dird {
        node: facts.node.clone(),
        source: cause.into(),
    }
}

/// dird's configuration from `args`; when they give no load balancers, from `args` and
/// `--ingress-gateway-ips` with the scenario's load balancers.
fn config(facts: &NodeFacts, args: &[String]) -> Result<Config, HookError> {
    let mut argv: Vec<String> = std::iter::once("dird".to_string())
        .chain(args.iter().cloned())
        .collect();
    let cfg = dird::config::load(&argv, None).map_err(|e| err(facts, e))?;
    if !cfg.rules.lbs.is_default() {
        return Ok(cfg);
    }
    argv.push("--ingress-gateway-ips".into());
    argv.push(scenario_load_balancers(&facts.load_balancer_ips));
    dird::config::load(&argv, None).map_err(|e| err(facts, e))
}

/// The scenario's load balancers as the value of `--ingress-gateway-ips`: their addresses, or
/// `null` (a list with no load balancer) when the scenario marks none.
fn scenario_load_balancers(ips: &[Ipv4Addr]) -> String {
    if ips.is_empty() {
        return "null".into();
    }
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The node as dird configures it with `args` (see [`config`]).
fn node(facts: &NodeFacts, args: &[String]) -> Result<Node, HookError> {
    let cfg = config(facts, args)?;
    let ingress = Ingress {
        subnet: facts.ingress_subnet,
        node_ip: facts.node_ingress_ip,
    };
    let rules = &cfg.rules;
    let discovered = Discovered {
        published: needs_published_ports(rules).then(|| published_ports(facts, rules)),
        ports_from_sbox: false,
        swarm: facts
            .swarm
            .iter()
            .map(|(i, h)| SwarmNode {
                ingress_ip: *i,
                host_ip: Some(*h),
            })
            .collect(),
        sysctl_files: Vec::new(),
        tools: IptablesTools::with_wait(cfg.iptables_wait),
        sysctl_root: SysctlRoot::new(&cfg.sysctl_root),
    };
    Node::build(rules, ingress, &discovered)
        .map(|built| built.node)
        .map_err(|e| err(facts, e))
}

/// The published ports (tcp, udp) of the services in `--services`, as the daemon reads them.
fn published_ports(facts: &NodeFacts, rules: &RuleConfig) -> (Vec<PortSpec>, Vec<PortSpec>) {
    let (mut tcp, mut udp): (Vec<PortSpec>, Vec<PortSpec>) = (Vec::new(), Vec::new());
    for s in facts
        .published
        .iter()
        .filter(|s| rules.services.contains(&s.service))
    {
        tcp.extend(s.tcp.iter().map(|p| PortSpec::Single(*p)));
        udp.extend(s.udp.iter().map(|p| PortSpec::Single(*p)));
    }
    (tcp, udp)
}

fn task(facts: &NodeFacts, node: &Node, t: &TaskFacts) -> Result<(), HookError> {
    if !node.wants_service(&t.service) {
        return Ok(());
    }
    let r = TaskRef {
        id: t.name.clone(),
        service: t.service.clone(),
        netns: t.netns.clone(),
    };
    match node.sync_task(&r).map_err(|e| err(facts, e))? {
        TaskOutcome::Applied { .. } => Ok(()),
        TaskOutcome::NoIngressInterface => Err(err(
            facts,
            format!("task {} has no interface in the ingress subnet", t.name),
        )),
    }
}

/// dird starts on this node with `args`: configure its sbox (if a load balancer) and its tasks.
pub fn configure_node(facts: &NodeFacts, args: &[String]) -> Result<(), HookError> {
    let node = node(facts, args)?;
    node.sync_sbox(&facts.sbox_netns)
        .map_err(|e| err(facts, e))?;
    facts.tasks.iter().try_for_each(|t| task(facts, &node, t))
}

/// New tasks started on this node while dird runs (`new` lists only them; `facts.tasks` all).
pub fn tasks_started(
    facts: &NodeFacts,
    new: &[TaskFacts],
    args: &[String],
) -> Result<(), HookError> {
    let node = node(facts, args)?;
    new.iter().try_for_each(|t| task(facts, &node, t))
}

/// dird is reconfigured with `args` (e.g. a longer `--ingress-gateway-ips`) while tasks run:
/// the same full reconcile the daemon does on SIGHUP.
pub fn reconfigure(facts: &NodeFacts, args: &[String]) -> Result<(), HookError> {
    configure_node(facts, args)
}

/// `dird --uninstall` on this node: the sbox and every task.
pub fn uninstall_node(facts: &NodeFacts) -> Result<(), HookError> {
    let tools = IptablesTools::default();
    dird::node::uninstall_sbox(&facts.sbox_netns, &tools).map_err(|e| err(facts, e))?;
    for t in &facts.tasks {
        let r = TaskRef {
            id: t.name.clone(),
            service: t.service.clone(),
            netns: t.netns.clone(),
        };
        dird::node::uninstall_task(&r, &tools).map_err(|e| err(facts, e))?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "dird_hook_tests.rs"]
mod tests;
