//! Applying plans inside a namespace: read what is installed, diff against the desired plan,
//! change only the difference — iptables (one `iptables-restore --noflush` batch per table),
//! then policy routing (rtnetlink), then sysctls — and on any failure undo what this attempt
//! changed, so that dird's part of the namespace is left as it was before (iptables: dird's
//! own chains and jumps only, by a `--noflush` batch; other writers' rules are never touched).

pub mod backend;
pub mod iptables;
pub mod peers;
pub mod routing;
pub mod sysctl;

use std::fmt;
use std::path::Path;

use ipnet::Ipv4Net;
use rtnetlink::Handle;

use crate::netns::{self, NetnsError};
use crate::plan::legacy::LegacyRule;
use crate::plan::{
    render_restore, render_sync, IptablesPlan, IptablesState, RoutingPlan, Sysctl, Table,
};
pub use iptables::IptablesTools;
pub use sysctl::SysctlRoot;

/// Desired state of one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NsPlan {
    pub iptables: IptablesPlan,
    /// `None`: leave policy routing alone (the sbox).
    pub routing: Option<RoutingPlan>,
    pub sysctls: Vec<Sysctl>,
}

/// What an apply changed (all zero: the namespace already matched the plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    pub iptables_batches: usize,
    pub routing_changes: usize,
    pub sysctls_written: usize,
}

impl Outcome {
    pub fn changed(&self) -> bool {
        *self != Outcome::default()
    }
}

/// The step an apply was at when it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    EnterNamespace,
    Netlink,
    FindInterface,
    ReadIptables,
    ParseIptables,
    WriteIptables(Table),
    ReadRouting,
    WriteRouting,
    ReadSysctl,
    WriteSysctl,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::EnterNamespace => f.write_str("entering the namespace"),
            Step::Netlink => f.write_str("opening netlink"),
            Step::FindInterface => f.write_str("finding the ingress interface"),
            Step::ReadIptables => f.write_str("reading iptables (iptables-save)"),
            Step::ParseIptables => f.write_str("parsing iptables-save output"),
            Step::WriteIptables(t) => write!(f, "applying iptables table {}", t.name()),
            Step::ReadRouting => f.write_str("reading policy rules and routes"),
            Step::WriteRouting => f.write_str("changing policy rules and routes"),
            Step::ReadSysctl => f.write_str("reading sysctls"),
            Step::WriteSysctl => f.write_str("writing sysctls"),
        }
    }
}

/// Why an apply failed (the error of the step it was at).
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Netlink(#[from] rtnetlink::Error),
    #[error(transparent)]
    Iptables(#[from] iptables::IptablesError),
    #[error(transparent)]
    Parse(#[from] crate::plan::state::ParseError),
    #[error(transparent)]
    Routing(#[from] routing::RoutingError),
    #[error(transparent)]
    Read(#[from] routing::ReadError),
    #[error(transparent)]
    Sysctl(#[from] sysctl::SysctlError),
    /// dird refused the namespace (it is the host's).
    #[error("{0}")]
    Refused(&'static str),
    #[error("the worker thread stopped before finishing")]
    WorkerLost,
}

/// A failed apply: which namespace, which step, why, and whether the rollback succeeded.
#[derive(Debug, thiserror::Error)]
#[error("{target}: {step}: {cause}{}", rollback_note(.rollback_failure))]
pub struct ApplyError {
    pub target: String,
    pub step: Step,
    #[source]
    pub cause: Box<Cause>,
    /// Set when undoing the partial change failed too.
    pub rollback_failure: Option<String>,
}

impl ApplyError {
    /// Whether what the namespace holds was refused (its iptables do not parse strictly or
    /// are more than dird reads, its dumps are too long, its ingress interface has a name dird
    /// does not accept), rather than the way there failing.
    pub fn refused(&self) -> bool {
        matches!(self.step, Step::ParseIptables)
            || matches!(
                *self.cause,
                Cause::Read(_)
                    | Cause::Iptables(iptables::IptablesError::Run(
                        crate::netns::child::ChildError::TooMuchOutput { .. }
                    ))
            )
    }

    /// Whether a child of the apply was killed at its deadline (`--apply-timeout`).
    pub fn timed_out(&self) -> bool {
        matches!(
            *self.cause,
            Cause::Iptables(iptables::IptablesError::Run(
                crate::netns::child::ChildError::TimedOut { .. }
            ))
        )
    }

    /// A worker thread died before reporting (a panic inside an apply).
    pub fn worker_lost() -> ApplyError {
        fail("worker", Step::EnterNamespace, Cause::WorkerLost)
    }
}

fn rollback_note(r: &Option<String>) -> String {
    r.as_ref()
        .map(|m| format!(" (rollback failed: {m})"))
        .unwrap_or_default()
}

pub(crate) fn fail(target: &str, step: Step, cause: impl Into<Cause>) -> ApplyError {
    ApplyError {
        target: target.to_owned(),
        step,
        cause: Box::new(cause.into()),
        rollback_failure: None,
    }
}

pub(crate) fn enter_error(target: &str, e: NetnsError) -> ApplyError {
    fail(target, Step::EnterNamespace, e)
}

/// Applies `plan` in the namespace at `ns`, its sysctls below `root`; `target` names it in
/// logs and errors.
pub fn apply_ns(
    ns: &Path,
    target: &str,
    plan: &NsPlan,
    tools: &IptablesTools,
    root: &SysctlRoot,
) -> Result<Outcome, ApplyError> {
    netns::run_in(ns, || {
        with_netlink(target, |handle| async move {
            let state = read_here(target, tools)?;
            apply_here(&handle, target, plan, tools, root, state).await
        })
    })
    .map_err(|e| enter_error(target, e))?
}

/// Result of configuring a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskOutcome {
    Applied {
        interface: String,
        outcome: Outcome,
    },
    /// No interface has an address in the ingress subnet: not on the ingress, skipped.
    NoIngressInterface,
}

/// Finds the task's ingress interface (the one with an address in `subnet`), reads the
/// namespace, builds its plan with `make_plan(interface, address, installed state)` and applies it
/// (its sysctls below `root`).
pub fn apply_task<F>(
    ns: &Path,
    target: &str,
    subnet: Ipv4Net,
    make_plan: F,
    tools: &IptablesTools,
    root: &SysctlRoot,
) -> Result<TaskOutcome, ApplyError>
where
    F: FnOnce(&str, std::net::Ipv4Addr, &IptablesState) -> NsPlan + Send,
{
    netns::run_in(ns, || {
        with_netlink(target, |handle| async move {
            let Some((interface, addr)) = find_ingress(&handle, target, subnet).await? else {
                return Ok(TaskOutcome::NoIngressInterface);
            };
            let state = read_here(target, tools)?;
            let plan = make_plan(&interface, addr, &state);
            let outcome = apply_here(&handle, target, &plan, tools, root, state).await?;
            Ok(TaskOutcome::Applied { interface, outcome })
        })
    })
    .map_err(|e| enter_error(target, e))?
}

/// The interface holding an address in `subnet`, and that address (the task's ingress side).
async fn find_ingress(
    handle: &Handle,
    target: &str,
    subnet: Ipv4Net,
) -> Result<Option<(String, std::net::Ipv4Addr)>, ApplyError> {
    routing::find_interface_in(handle, subnet)
        .await
        .map_err(|e| fail(target, Step::FindInterface, e))
}

/// A task's namespace as [`read_task`] found it; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskReading {
    /// The ingress interface and its address.
    pub interface: String,
    pub addr: std::net::Ipv4Addr,
    /// The plan for this task, as [`apply_task`] would make it.
    pub plan: NsPlan,
    /// What is installed.
    pub iptables: IptablesState,
    pub routing: crate::plan::RoutingState,
    /// The plan's sysctls with their current values (`None`: the setting cannot be read).
    pub sysctls: Vec<(Sysctl, Option<String>)>,
}

/// The read-only sibling of [`apply_task`]: finds the ingress interface the same way, reads
/// iptables, policy routing and the plan's sysctls, and builds the plan with `make_plan`;
/// `None` when no interface has an address in `subnet`. Runs only `iptables-save` and netlink
/// dumps, and reads the sysctls below `root`.
pub fn read_task<F>(
    ns: &Path,
    target: &str,
    subnet: Ipv4Net,
    make_plan: F,
    tools: &IptablesTools,
    root: &SysctlRoot,
) -> Result<Option<TaskReading>, ApplyError>
where
    F: FnOnce(&str, std::net::Ipv4Addr, &IptablesState) -> NsPlan + Send,
{
    netns::run_in(ns, || {
        with_netlink(target, |handle| async move {
            let Some((interface, addr)) = find_ingress(&handle, target, subnet).await? else {
                return Ok(None);
            };
            let iptables = read_here(target, tools)?;
            let plan = make_plan(&interface, addr, &iptables);
            let routing = routing::read_state(&handle)
                .await
                .map_err(|e| fail(target, Step::ReadRouting, e))?;
            let sysctls = plan
                .sysctls
                .iter()
                .map(|s| (s.clone(), root.read(s).ok()))
                .collect();
            Ok(Some(TaskReading {
                interface,
                addr,
                plan,
                iptables,
                routing,
                sysctls,
            }))
        })
    })
    .map_err(|e| enter_error(target, e))?
}

/// One `iptables-save` of every table, parsed.
fn read_here(target: &str, tools: &IptablesTools) -> Result<IptablesState, ApplyError> {
    let all = tools
        .save_all()
        .map_err(|e| fail(target, Step::ReadIptables, e))?;
    IptablesState::parse_until(&all, tools.deadline)
        .map_err(|e| fail(target, Step::ParseIptables, e))
}

/// Reads the installed iptables state of the namespace at `ns` (for audits and tests).
pub fn read_iptables(
    ns: &Path,
    target: &str,
    tools: &IptablesTools,
) -> Result<IptablesState, ApplyError> {
    netns::run_in(ns, || read_here(target, tools)).map_err(|e| enter_error(target, e))?
}

/// Runs `f` with a netlink handle on a single-threaded runtime, on the current thread.
pub(crate) fn with_netlink<T, F, Fut>(target: &str, f: F) -> Result<T, ApplyError>
where
    F: FnOnce(Handle) -> Fut,
    Fut: std::future::Future<Output = Result<T, ApplyError>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(target, Step::Netlink, e))?;
    rt.block_on(async {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|e| fail(target, Step::Netlink, e))?;
        let task = tokio::spawn(conn);
        let result = f(handle).await;
        task.abort();
        result
    })
}

/// The transaction, inside the namespace.
/// `state`: the namespace's iptables as read just before. Everything else is read here too
/// before anything changes, so the whole difference is known first.
async fn apply_here(
    handle: &Handle,
    target: &str,
    plan: &NsPlan,
    tools: &IptablesTools,
    root: &SysctlRoot,
    state: IptablesState,
) -> Result<Outcome, ApplyError> {
    let batches = render_sync(&plan.iptables, &state);
    let route_changes = match &plan.routing {
        Some(desired) => {
            let installed = routing::read_state(handle)
                .await
                .map_err(|e| fail(target, Step::ReadRouting, e))?;
            routing::changes_in_order(&crate::plan::routing::diff(desired, &installed))
        }
        None => Vec::new(),
    };
    let sysctl_writes = root
        .pending(target, &plan.sysctls)
        .map_err(|e| fail(target, Step::ReadSysctl, e))?;
    let undo_tables =
        |done: &[Table]| undo_iptables(&tools.for_rollback(), &state, done, &plan.iptables.legacy);

    // 1. iptables, one atomic batch per table.
    let mut done_tables: Vec<Table> = Vec::new();
    for b in &batches {
        if let Err(e) = tools.restore_noflush(&b.text) {
            let err = fail(target, Step::WriteIptables(b.table), e);
            return Err(rolled_back(err, [undo_tables(&done_tables)]));
        }
        done_tables.push(b.table);
    }

    // 2. Policy rules and routes.
    let (done_routes, routing_error) = routing::apply_changes(handle, &route_changes).await;
    if let Some(e) = routing_error {
        let undo = [
            undo_routes(handle, &done_routes).await,
            undo_tables(&done_tables),
        ];
        return Err(rolled_back(fail(target, Step::WriteRouting, e), undo));
    }

    // 3. sysctls (lines of sysctl.d files that cannot apply are skipped, see `OnError`).
    let (done_sysctls, sysctl_error) = root.write_pending(target, &sysctl_writes);
    if let Some(e) = sysctl_error {
        let undo = [
            root.undo(&done_sysctls),
            undo_routes(handle, &done_routes).await,
            undo_tables(&done_tables),
        ];
        return Err(rolled_back(fail(target, Step::WriteSysctl, e), undo));
    }

    Ok(Outcome {
        iptables_batches: batches.len(),
        routing_changes: route_changes.len(),
        sysctls_written: done_sysctls.len(),
    })
}

/// `err` with the failures of its rollback, if any.
fn rolled_back<const N: usize>(mut err: ApplyError, undo: [Option<String>; N]) -> ApplyError {
    let v: Vec<String> = undo.into_iter().flatten().collect();
    err.rollback_failure = (!v.is_empty()).then(|| v.join("; "));
    err
}

/// Puts dird's part of the `done` tables (its chains, its jumps, the original daemon's rules
/// the plan removes) back as in `saved`, by `--noflush` batches computed against the tables
/// as they are now: rules another writer added meanwhile stay, no table is flushed.
fn undo_iptables(
    tools: &IptablesTools,
    saved: &IptablesState,
    done: &[Table],
    legacy: &[LegacyRule],
) -> Option<String> {
    if done.is_empty() {
        return None;
    }
    let current = tools
        .save_all()
        .map_err(|e| e.to_string())
        .and_then(|text| IptablesState::parse(&text).map_err(|e| e.to_string()));
    let current = match current {
        Ok(c) => c,
        Err(e) => return Some(format!("reading iptables to undo: {e}")),
    };
    let failures: Vec<String> = render_restore(saved, &current, done, legacy)
        .iter()
        .filter_map(|b| {
            tools
                .restore_noflush(&b.text)
                .err()
                .map(|e| format!("table {}: {e}", b.table.name()))
        })
        .collect();
    (!failures.is_empty()).then(|| failures.join("; "))
}

async fn undo_routes(handle: &Handle, done: &[routing::Change]) -> Option<String> {
    let mut failures = Vec::new();
    for c in done.iter().rev() {
        if let Err(e) = routing::apply_change(handle, &routing::inverse(c)).await {
            failures.push(e.to_string());
        }
    }
    (!failures.is_empty()).then(|| failures.join("; "))
}
