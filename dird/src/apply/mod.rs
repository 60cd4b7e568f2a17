//! Applying plans inside a namespace: read what is installed, diff against the desired plan,
//! change only the difference — iptables (one `iptables-restore --noflush` batch per table),
//! then policy routing (rtnetlink), then sysctls — and on any failure undo what this attempt
//! changed, so the namespace is left as it was before.

pub mod iptables;
pub mod routing;
pub mod sysctl;

use std::fmt;
use std::path::Path;

use ipnet::Ipv4Net;
use rtnetlink::Handle;

use crate::netns::{self, NetnsError};
use crate::plan::{render_sync, IptablesPlan, IptablesState, RoutingPlan, Sysctl, Table};
pub use iptables::IptablesTools;

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

/// A failed apply: which namespace, which step, why, and whether the rollback succeeded.
#[derive(Debug, thiserror::Error)]
#[error("{target}: {step}: {message}{}", rollback_note(.rollback_failure))]
pub struct ApplyError {
    pub target: String,
    pub step: Step,
    pub message: String,
    /// Set when undoing the partial change failed too.
    pub rollback_failure: Option<String>,
}

impl ApplyError {
    /// A worker thread died before reporting (a panic inside an apply).
    pub fn worker_lost() -> ApplyError {
        fail(
            "worker",
            Step::EnterNamespace,
            "the worker thread stopped before finishing",
        )
    }
}

fn rollback_note(r: &Option<String>) -> String {
    r.as_ref()
        .map(|m| format!(" (rollback failed: {m})"))
        .unwrap_or_default()
}

fn fail(target: &str, step: Step, message: impl fmt::Display) -> ApplyError {
    ApplyError {
        target: target.to_owned(),
        step,
        message: message.to_string(),
        rollback_failure: None,
    }
}

fn enter_error(target: &str, e: NetnsError) -> ApplyError {
    fail(target, Step::EnterNamespace, e)
}

/// Applies `plan` in the namespace at `ns`; `target` names it in logs and errors.
pub fn apply_ns(
    ns: &Path,
    target: &str,
    plan: &NsPlan,
    tools: &IptablesTools,
) -> Result<Outcome, ApplyError> {
    netns::run_in(ns, || {
        with_netlink(target, |handle| async move {
            let (saved, state) = read_here(target, tools)?;
            apply_here(&handle, target, plan, tools, saved, state).await
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
/// namespace, builds its plan with `make_plan(interface, address, installed state)` and applies it.
pub fn apply_task<F>(
    ns: &Path,
    target: &str,
    subnet: Ipv4Net,
    make_plan: F,
    tools: &IptablesTools,
) -> Result<TaskOutcome, ApplyError>
where
    F: FnOnce(&str, std::net::Ipv4Addr, &IptablesState) -> NsPlan + Send,
{
    netns::run_in(ns, || {
        with_netlink(target, |handle| async move {
            let found = routing::find_interface_in(&handle, subnet)
                .await
                .map_err(|e| fail(target, Step::FindInterface, e))?;
            let Some((interface, addr)) = found else {
                return Ok(TaskOutcome::NoIngressInterface);
            };
            let (saved, state) = read_here(target, tools)?;
            let plan = make_plan(&interface, addr, &state);
            let outcome = apply_here(&handle, target, &plan, tools, saved, state).await?;
            Ok(TaskOutcome::Applied { interface, outcome })
        })
    })
    .map_err(|e| enter_error(target, e))?
}

/// One `iptables-save` of every table: each table's text (for rollback) and the parsed state.
fn read_here(
    target: &str,
    tools: &IptablesTools,
) -> Result<(Vec<(Table, String)>, IptablesState), ApplyError> {
    let all = tools
        .save_all()
        .map_err(|e| fail(target, Step::ReadIptables, e))?;
    let state = IptablesState::parse(&all).map_err(|e| fail(target, Step::ParseIptables, e))?;
    Ok((crate::plan::state::split_tables(&all), state))
}

/// Reads the installed iptables state of the namespace at `ns` (for audits and tests).
pub fn read_iptables(
    ns: &Path,
    target: &str,
    tools: &IptablesTools,
) -> Result<IptablesState, ApplyError> {
    netns::run_in(ns, || read_here(target, tools).map(|(_, state)| state))
        .map_err(|e| enter_error(target, e))?
}

/// Runs `f` with a netlink handle on a single-threaded runtime, on the current thread.
fn with_netlink<T, F, Fut>(target: &str, f: F) -> Result<T, ApplyError>
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
/// `saved`/`state`: the namespace's iptables as read just before. Everything else is read
/// here too before anything changes, so the whole difference is known first.
async fn apply_here(
    handle: &Handle,
    target: &str,
    plan: &NsPlan,
    tools: &IptablesTools,
    saved: Vec<(Table, String)>,
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

    let mut sysctl_writes: Vec<(&Sysctl, Option<String>)> = Vec::new();
    for s in &plan.sysctls {
        match sysctl::read(s) {
            Ok(v) if v == s.value => {}
            Ok(v) => sysctl_writes.push((s, Some(v))),
            Err(_) if s.ignore_errors => {}
            Err(e) => return Err(fail(target, Step::ReadSysctl, e)),
        }
    }

    // 1. iptables, one atomic batch per table.
    let mut done_tables: Vec<Table> = Vec::new();
    for b in &batches {
        if let Err(e) = tools.restore_noflush(&b.text) {
            let mut err = fail(target, Step::WriteIptables(b.table), e);
            err.rollback_failure = undo_iptables(tools, &saved, &done_tables);
            return Err(err);
        }
        done_tables.push(b.table);
    }

    // 2. Policy rules and routes.
    let (done_routes, routing_error) = routing::apply_changes(handle, &route_changes).await;
    if let Some(e) = routing_error {
        let mut err = fail(target, Step::WriteRouting, e);
        err.rollback_failure = join_failures([
            undo_routes(handle, &done_routes).await,
            undo_iptables(tools, &saved, &done_tables),
        ]);
        return Err(err);
    }

    // 3. sysctls.
    let mut done_sysctls: Vec<(&Sysctl, String)> = Vec::new();
    let mut written = 0;
    for (s, old) in &sysctl_writes {
        match sysctl::write(s, &s.value) {
            Ok(()) => {
                written += 1;
                if let Some(old) = old {
                    done_sysctls.push((s, old.clone()));
                }
            }
            Err(_) if s.ignore_errors => {}
            Err(e) => {
                let mut err = fail(target, Step::WriteSysctl, e);
                let sysctl_undo = done_sysctls
                    .iter()
                    .rev()
                    .find_map(|(s, old)| sysctl::write(s, old).err().map(|e| e.to_string()));
                err.rollback_failure = join_failures([
                    sysctl_undo,
                    undo_routes(handle, &done_routes).await,
                    undo_iptables(tools, &saved, &done_tables),
                ]);
                return Err(err);
            }
        }
    }

    Ok(Outcome {
        iptables_batches: batches.len(),
        routing_changes: route_changes.len(),
        sysctls_written: written,
    })
}

fn join_failures<const N: usize>(parts: [Option<String>; N]) -> Option<String> {
    let v: Vec<String> = parts.into_iter().flatten().collect();
    (!v.is_empty()).then(|| v.join("; "))
}

/// Puts tables back exactly as saved (a flushing restore of the saved text; a table that did
/// not exist comes back empty).
fn undo_iptables(
    tools: &IptablesTools,
    saved: &[(Table, String)],
    done: &[Table],
) -> Option<String> {
    let failures: Vec<String> = done
        .iter()
        .filter_map(|t| {
            let text = saved
                .iter()
                .find(|(s, _)| s == t)
                .map(|(_, text)| text.clone())
                .unwrap_or_else(|| format!("*{}\nCOMMIT\n", t.name()));
            tools
                .restore_table(&text)
                .err()
                .map(|e| format!("table {}: {e}", t.name()))
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
