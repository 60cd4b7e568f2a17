//! What the runner knows of each unit it works on (every service task, and the sbox): its
//! state, its failures in a row, its last error and apply. It decides what is worth a log line
//! (a change of state or error) and makes the status operators see.

use std::collections::HashMap;
use std::path::PathBuf;

use super::unit::Unit;
use crate::apply::TaskOutcome;
use crate::node::{Node, TaskRef};
use crate::telemetry::status::{now, now_ms, LbStatus, Status, TaskState, TaskStatus};

/// How long (seconds) a record of a container outside the running list is kept after its
/// last apply.
const RECENT: u64 = 120;

#[derive(Debug, Clone)]
struct Record {
    service: String,
    netns: PathBuf,
    state: TaskState,
    failures: u32,
    last_error: Option<String>,
    last_apply: Option<u64>,
    /// When it was first configured (milliseconds since the Unix epoch).
    configured_at_ms: Option<u64>,
}

/// What a successful apply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Before {
    /// It was configured already (so a change now repairs drift).
    pub configured: bool,
    /// Failed applies in a row before this one.
    pub failures: u32,
}

#[derive(Debug, Default)]
pub struct Records {
    map: HashMap<Unit, Record>,
    /// Changed since the status was last published.
    pub dirty: bool,
}

impl Records {
    /// A listed task waiting for its apply (kept as it is when already known).
    pub fn pending(&mut self, t: &TaskRef) {
        self.map.entry(Unit::task(&t.id)).or_insert_with(|| Record {
            service: t.service.clone(),
            netns: t.netns.clone(),
            state: TaskState::Pending,
            failures: 0,
            last_error: None,
            last_apply: None,
            configured_at_ms: None,
        });
        self.dirty = true;
    }

    /// `unit` (the task `t`, or the sbox) was applied.
    pub fn applied(
        &mut self,
        unit: &Unit,
        t: Option<&TaskRef>,
        outcome: Option<&TaskOutcome>,
    ) -> Before {
        let state = match outcome {
            Some(TaskOutcome::NoIngressInterface) => TaskState::Skipped,
            _ => TaskState::Configured,
        };
        let (service, netns) = t
            .map(|t| (t.service.clone(), t.netns.clone()))
            .unwrap_or_default();
        let r = self.map.entry(unit.clone()).or_insert_with(|| Record {
            service: service.clone(),
            netns: netns.clone(),
            state,
            failures: 0,
            last_error: None,
            last_apply: None,
            configured_at_ms: None,
        });
        let before = Before {
            configured: r.state == TaskState::Configured && r.last_apply.is_some(),
            failures: r.failures,
        };
        let configured_at_ms = match state {
            TaskState::Configured => r.configured_at_ms.or_else(|| Some(now_ms())),
            _ => r.configured_at_ms,
        };
        *r = Record {
            service,
            netns,
            state,
            failures: 0,
            last_error: None,
            last_apply: Some(now()),
            configured_at_ms,
        };
        self.dirty = true;
        before
    }

    /// `unit`'s apply failed with `error`: its failures in a row, and whether `error` differs
    /// from the last one (worth logging).
    pub fn failed(&mut self, unit: &Unit, error: &str) -> (u32, bool) {
        let r = self.map.entry(unit.clone()).or_insert_with(|| Record {
            service: String::new(),
            netns: PathBuf::new(),
            state: TaskState::Failing,
            failures: 0,
            last_error: None,
            last_apply: None,
            configured_at_ms: None,
        });
        r.state = TaskState::Failing;
        r.failures += 1;
        r.last_apply = Some(now());
        let new = r.last_error.as_deref() != Some(error);
        r.last_error = Some(error.to_owned());
        self.dirty = true;
        (r.failures, new)
    }

    /// The namespace `unit` was last applied in, if it was configured there.
    pub fn netns(&self, unit: &Unit) -> Option<PathBuf> {
        self.map
            .get(unit)
            .filter(|r| r.state == TaskState::Configured && !r.netns.as_os_str().is_empty())
            .map(|r| r.netns.clone())
    }

    pub fn forget(&mut self, unit: &Unit) {
        self.dirty |= self.map.remove(unit).is_some();
    }

    /// Keeps the sbox, the units `keep` says yes to, and those applied within the last
    /// [`RECENT`] seconds (a task configured before it started may not be listed yet).
    pub fn retain(&mut self, keep: impl Fn(&Unit) -> bool) {
        let before = self.map.len();
        let recent = now().saturating_sub(RECENT);
        self.map.retain(|u, r| {
            *u == Unit::Sbox || keep(u) || r.last_apply.is_some_and(|t| t >= recent)
        });
        self.dirty |= self.map.len() != before;
    }

    /// The status of every task and of `node`'s load balancers.
    pub fn status(&self, node: Option<&Node>) -> Status {
        let lbs = node.map(|n| &n.lbs.members[..]).unwrap_or_default();
        let tables: Vec<u32> = lbs.iter().map(|m| m.id.table()).collect();
        let mut tasks: Vec<TaskStatus> = self
            .map
            .iter()
            .filter_map(|(u, r)| match u {
                Unit::Task(id) => Some((id, r)),
                Unit::Sbox => None,
            })
            .map(|(id, r)| TaskStatus {
                id: id.clone(),
                service: r.service.clone(),
                netns: r.netns.clone(),
                state: r.state,
                lb_tables: if r.state == TaskState::Configured {
                    tables.clone()
                } else {
                    Vec::new()
                },
                last_apply: r.last_apply,
                configured_at_ms: r.configured_at_ms,
                last_error: r.last_error.clone(),
            })
            .collect();
        tasks.sort_by(|a, b| (&a.service, &a.id).cmp(&(&b.service, &b.id)));
        let node_ip = node.map(|n| n.ingress.node_ip);
        Status {
            taken: now(),
            node_ip,
            tasks,
            load_balancers: lbs
                .iter()
                .map(|m| LbStatus {
                    id: u32::from(m.id.get()),
                    ip: m.ip,
                    table: m.id.table(),
                    this_node: Some(m.ip) == node_ip,
                })
                .collect(),
        }
    }
}
