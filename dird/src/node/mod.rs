//! One node's work, shared by the daemon and by netsim: given the configuration and the
//! ingress facts, bring this node's `ingress_sbox` (load balancer or not) and each service
//! task to the desired state, or remove everything dird added.

mod build;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::apply::{
    self, ApplyError, Cause, IptablesTools, NsPlan, Outcome, Step, SysctlRoot, TaskOutcome,
    TaskReading,
};
use crate::config::{PortSpec, RuleConfig};
use crate::ids::{LbId, LbSet};
use crate::plan::{
    lb_plan, lb_uninstall_plan, task_plan, task_uninstall_plan, udp_redirect_ports, Ingress,
    RoutingPlan, Sysctl, TaskIngress,
};

pub use build::{Built, Discovered};

/// A service task container: its id (for logs), its service, and its network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRef {
    pub id: String,
    pub service: String,
    pub netns: PathBuf,
}

/// What happened to the sbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SboxOutcome {
    LoadBalancer {
        id: LbId,
        outcome: Outcome,
    },
    /// This node is not in the list: dird's sbox rules (if any) were removed.
    NotLoadBalancer {
        outcome: Outcome,
    },
}

impl SboxOutcome {
    /// What the apply changed.
    pub fn outcome(&self) -> Outcome {
        match self {
            SboxOutcome::LoadBalancer { outcome, .. }
            | SboxOutcome::NotLoadBalancer { outcome } => *outcome,
        }
    }
}

/// The rules as this node applies them: when `--services` has no port flags, the published
/// ports of those services as the port filter (`published`: tcp, udp). The load balancers are
/// left to their source ([`crate::discovery::LbSource::assign`]).
pub fn effective_rules(
    rules: &RuleConfig,
    published: Option<(Vec<PortSpec>, Vec<PortSpec>)>,
) -> Effective {
    let mut rules = rules.clone();
    let mut lb_enabled = true;
    if needs_published_ports(&rules) {
        let (tcp, udp) = published.unwrap_or_default();
        lb_enabled = !tcp.is_empty() || !udp.is_empty();
        rules.tcp_ports = tcp;
        rules.udp_ports = udp;
    }
    Effective { rules, lb_enabled }
}

/// The rules a node applies ([`effective_rules`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub rules: RuleConfig,
    /// False when `--services` has no ports and those services publish none: then nothing may
    /// skip masquerading.
    pub lb_enabled: bool,
}

/// `--services` without `--tcp-ports`/`--udp-ports`: the port filter comes from the services.
pub fn needs_published_ports(rules: &RuleConfig) -> bool {
    !rules.services.is_empty() && !rules.has_port_filter()
}

/// The configuration of one node, ready to apply: IDs assigned, sysctl files read. Made by
/// [`Node::build`] only.
#[derive(Debug, Clone)]
pub struct Node {
    pub rules: RuleConfig,
    pub ingress: Ingress,
    pub lbs: LbSet,
    pub sysctl_files: Vec<Sysctl>,
    pub tools: IptablesTools,
    /// Where its sysctls are read and written (`--sysctl-root`).
    pub sysctl_root: SysctlRoot,
    /// False when `--services` was given without ports and those services publish none:
    /// then no traffic skips masquerading and the sbox gets no rules.
    pub lb_enabled: bool,
    /// Its port filter was read from the sbox's MARK rules (see
    /// [`Discovered::ports_from_sbox`]): the daemon's poll re-reads them.
    pub ports_from_sbox: bool,
}

impl Node {
    /// This node's load-balancer ID, if it is one.
    pub fn lb_id(&self) -> Option<LbId> {
        self.lbs
            .id_of(self.ingress.node_ip)
            .filter(|_| self.lb_enabled)
    }

    /// This node with every iptables child process of its applies killed at `deadline`.
    pub fn with_deadline(&self, deadline: std::time::Instant) -> Node {
        let mut node = self.clone();
        node.tools.deadline = Some(deadline);
        node
    }

    /// Whether a task of `service` gets rules (`--services` filter).
    pub fn wants_service(&self, service: &str) -> bool {
        self.rules.services.is_empty() || self.rules.services.iter().any(|s| s == service)
    }

    /// The sbox's iptables as [`Node::sync_sbox`] would install them (none on a node that is
    /// no load balancer).
    pub fn sbox_plan(&self) -> crate::plan::IptablesPlan {
        match self.lb_id() {
            Some(id) => lb_plan(&self.rules, &self.ingress, id, &self.sysctl_files).iptables,
            None => lb_uninstall_plan(),
        }
    }

    /// Installs (or, for a node not in the list, removes) the load-balancer rules.
    pub fn sync_sbox(&self, sbox: &std::path::Path) -> Result<SboxOutcome, ApplyError> {
        let target = format!("ingress_sbox {}", sbox.display());
        match self.lb_id() {
            Some(id) => {
                let lb = lb_plan(&self.rules, &self.ingress, id, &self.sysctl_files);
                let plan = NsPlan {
                    iptables: lb.iptables,
                    routing: None,
                    sysctls: lb.sysctls,
                };
                let outcome =
                    apply::apply_ns(sbox, &target, &plan, &self.tools, &self.sysctl_root)?;
                Ok(SboxOutcome::LoadBalancer { id, outcome })
            }
            None => Ok(SboxOutcome::NotLoadBalancer {
                outcome: uninstall_sbox(sbox, &self.tools)?,
            }),
        }
    }

    /// Configures one task (the caller has checked [`Node::wants_service`]).
    pub fn sync_task(&self, task: &TaskRef) -> Result<TaskOutcome, ApplyError> {
        let target = task_target(task);
        refuse_host_namespace(&task.netns, &target)?;
        apply::apply_task(
            &task.netns,
            &target,
            self.ingress.subnet,
            |iface, addr, installed| self.task_ns_plan(iface, addr, installed),
            &self.tools,
            &self.sysctl_root,
        )
    }

    /// What [`Node::sync_task`] would find and want in `task`, read without changing anything
    /// (see [`apply::read_task`]); the host's namespace is refused as there.
    pub fn check_task(&self, task: &TaskRef) -> Result<TaskCheck, ApplyError> {
        let target = task_target(task);
        refuse_host_namespace(&task.netns, &target)?;
        let reading = apply::read_task(
            &task.netns,
            &target,
            self.ingress.subnet,
            |iface, addr, installed| self.task_ns_plan(iface, addr, installed),
            &self.tools,
            &self.sysctl_root,
        )?;
        Ok(match reading {
            Some(r) => TaskCheck::Read(Box::new(r)),
            None => TaskCheck::NoIngressInterface,
        })
    }

    /// A task's plan for its ingress interface `iface` with address `addr`; its UDP ports come
    /// from Docker's rules in `installed`.
    fn task_ns_plan(
        &self,
        iface: &str,
        addr: std::net::Ipv4Addr,
        installed: &crate::plan::IptablesState,
    ) -> NsPlan {
        let ti = TaskIngress {
            iface: iface.to_owned(),
            addr,
            udp_ports: udp_redirect_ports(installed),
        };
        let p = task_plan(&self.lbs, &self.ingress, &ti);
        NsPlan {
            iptables: p.iptables,
            routing: Some(p.routing),
            sysctls: p.sysctls,
        }
    }
}

/// What [`Node::check_task`] found in a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskCheck {
    /// The namespace as read, with the plan the daemon would apply.
    Read(Box<TaskReading>),
    /// No interface has an address in the ingress subnet: the daemon skips it.
    NoIngressInterface,
}

impl Node {
    /// Configures many tasks on `workers` threads (each task still enters its namespace on a
    /// thread of its own); results in the order of `tasks`.
    pub fn sync_tasks(
        &self,
        tasks: &[TaskRef],
        workers: usize,
    ) -> Vec<Result<TaskOutcome, ApplyError>> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Mutex;
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<TaskOutcome, ApplyError>>>> =
            Mutex::new((0..tasks.len()).map(|_| None).collect());
        std::thread::scope(|s| {
            for _ in 0..workers.clamp(1, tasks.len().max(1)) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(t) = tasks.get(i) else { break };
                    let r = self.sync_task(t);
                    if let Ok(mut v) = results.lock() {
                        v[i] = Some(r);
                    }
                });
            }
        });
        results
            .into_inner()
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ApplyError::worker_lost())))
            .collect()
    }
}

/// Worker threads for start-up and resyncs: one per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// The namespaces task rules never go into: dird's own and PID 1's (the host's).
const HOST_NAMESPACES: [&str; 2] = ["/proc/self/ns/net", "/proc/1/ns/net"];

/// An error when `netns` is one of [`HOST_NAMESPACES`] (same namespace inode, whatever the
/// path); a path that cannot be read is left to the apply, which reports it.
fn refuse_host_namespace(netns: &Path, target: &str) -> Result<(), ApplyError> {
    let inode = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let Some(task) = inode(netns) else {
        return Ok(());
    };
    if HOST_NAMESPACES
        .iter()
        .all(|h| inode(Path::new(h)) != Some(task))
    {
        return Ok(());
    }
    Err(apply::fail(
        target,
        Step::EnterNamespace,
        Cause::Refused(
            "this is the host's network namespace (PID 1's or dird's own): task rules never go there",
        ),
    ))
}

pub fn task_target(task: &TaskRef) -> String {
    format!(
        "container {} (service {}, netns {})",
        task.id,
        task.service,
        task.netns.display()
    )
}

/// Removes dird's (and the original daemon's) rules from an sbox (no sysctl is written).
pub fn uninstall_sbox(
    sbox: &std::path::Path,
    tools: &IptablesTools,
) -> Result<Outcome, ApplyError> {
    let plan = NsPlan {
        iptables: lb_uninstall_plan(),
        routing: None,
        sysctls: Vec::new(),
    };
    apply::apply_ns(
        sbox,
        &format!("ingress_sbox {}", sbox.display()),
        &plan,
        tools,
        &SysctlRoot::default(),
    )
}

/// Removes dird's (and the original daemon's) rules, policy rules and tables from a task (no
/// sysctl is written); the host's namespace is refused as by [`Node::sync_task`].
pub fn uninstall_task(task: &TaskRef, tools: &IptablesTools) -> Result<Outcome, ApplyError> {
    let target = task_target(task);
    refuse_host_namespace(&task.netns, &target)?;
    let (iptables, routing) = task_uninstall_plan();
    let plan = NsPlan {
        iptables,
        routing: Some(RoutingPlan { ..routing }),
        sysctls: Vec::new(),
    };
    apply::apply_ns(&task.netns, &target, &plan, tools, &SysctlRoot::default())
}

#[cfg(test)]
mod tests;
