//! What the daemon has to do, as event handlers record it; the runner takes it from here. Pure
//! bookkeeping (no I/O), so that coalescing and retry schedules are tested on their own.
//!
//! - A *rebuild* (ingress, services or configuration changed) and a *full sync* (every running
//!   task and the sbox) are coalesced: however many are asked for, one runs, and no sooner
//!   than `min_interval` after the previous one (kube-proxy's `BoundedFrequencyRunner`). The
//!   audit asks for a full sync every `--resync-interval`: the maximum interval.
//! - A container announced by an event is due at once: one namespace, and the sooner its rules
//!   are in place the fewer connections break.
//! - A container whose apply failed is tried again on its own schedule, with a doubling delay.
//! - A container announced by its ingress `network connect` before Docker has made its sandbox
//!   is looked at again every [`JOIN_POLL`], for up to [`JOIN_WATCH`] or until it starts: its
//!   rules are then in place before Docker puts it into the load balancers' rotation.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::docker::JoiningTask;

/// How a container came to be due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Announce {
    /// It joined the ingress network (`network connect`): not started yet.
    Joined,
    /// It started, or it is tried again after a failure.
    Started,
}

/// Delay before the first retry; it doubles with each failure up to [`RETRY_MAX`].
pub const RETRY_FIRST: Duration = Duration::from_secs(1);
pub const RETRY_MAX: Duration = Duration::from_secs(300);

/// The delay before retry number `failures` (1 = after the first failure).
pub fn retry_delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    RETRY_FIRST.saturating_mul(1 << doublings).min(RETRY_MAX)
}

/// How often a joined container without its sandbox is looked at again.
pub const JOIN_POLL: Duration = Duration::from_millis(200);
/// How long a joined container is watched for its sandbox (its `start` event ends it sooner).
pub const JOIN_WATCH: Duration = Duration::from_secs(300);

/// What became of a joined container's watch after a look found no sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// Looked at again after [`JOIN_POLL`].
    GoesOn,
    /// Watched for [`JOIN_WATCH`]: its `start` event, or the next audit, will find it.
    TimedOut,
    /// The watch ended while the look ran: the container is gone, or has started.
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Retry {
    at: Instant,
    how: Announce,
}

#[derive(Debug)]
pub struct Work {
    min_interval: Duration,
    rebuild: bool,
    full: bool,
    /// When the last rebuild or full sync began.
    last_sync: Option<Instant>,
    due: BTreeMap<String, Announce>,
    retries: HashMap<String, Retry>,
    /// Joined containers watched for their sandbox: since their first look, and what Docker
    /// said of them (None until a look has asked). Their start, their removal, a look that
    /// found the task and a failure end the watch.
    watched: HashMap<String, (Instant, Option<JoiningTask>)>,
}

/// What the runner should start now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Rebuild the node, then sync everything.
    Rebuild,
    /// Sync the sbox and every running task.
    Full,
}

impl Work {
    pub fn new(min_interval: Duration) -> Work {
        Work {
            min_interval,
            rebuild: false,
            full: false,
            last_sync: None,
            due: BTreeMap::new(),
            retries: HashMap::new(),
            watched: HashMap::new(),
        }
    }

    pub fn rebuild(&mut self) {
        self.rebuild = true;
    }

    pub fn full(&mut self) {
        self.full = true;
    }

    /// A rebuild, not before `at` (the ingress or the swarm's view is not ready yet).
    pub fn rebuild_at(&mut self, at: Instant) {
        self.rebuild = true;
        self.last_sync = Some(at.checked_sub(self.min_interval).unwrap_or(at));
    }

    /// A container event. A container waiting for a retry keeps its schedule, unless it has
    /// just started (then it is a new attempt of Docker's, worth trying at once).
    pub fn announce(&mut self, id: &str, how: Announce) {
        if how == Announce::Joined && self.retries.contains_key(id) {
            return;
        }
        self.retries.remove(id);
        if how == Announce::Started {
            self.watched.remove(id);
        }
        let slot = self.due.entry(id.to_owned()).or_insert(how);
        *slot = (*slot).max(how);
    }

    /// The container is gone: nothing more to do for it.
    pub fn forget(&mut self, id: &str) {
        self.due.remove(id);
        self.retries.remove(id);
        self.watched.remove(id);
    }

    /// A look at joined `id` found no sandbox holding its address yet (at `now`; Docker's
    /// answer `j`): it is looked at again after [`JOIN_POLL`], unless it has been watched for
    /// [`JOIN_WATCH`] or its watch ended while the look ran.
    pub fn watch_join(&mut self, id: &str, now: Instant, j: JoiningTask) -> Watch {
        let since = match self.watched.get_mut(id) {
            Some(watch) => {
                watch.1 = Some(j);
                watch.0
            }
            None => return Watch::Ended,
        };
        if now.saturating_duration_since(since) >= JOIN_WATCH {
            self.watched.remove(id);
            return Watch::TimedOut;
        }
        self.retries.insert(
            id.to_owned(),
            Retry {
                at: now + JOIN_POLL,
                how: Announce::Joined,
            },
        );
        Watch::GoesOn
    }

    /// What Docker said of a watched container at its last look (its next look then asks only
    /// the sandboxes).
    pub fn joining(&self, id: &str) -> Option<&JoiningTask> {
        self.watched.get(id).and_then(|(_, j)| j.as_ref())
    }

    /// A look at `id` ended otherwise than "no sandbox yet" (configured, not a task, failed):
    /// its watch, if any, ends.
    pub fn settled(&mut self, id: &str) {
        self.watched.remove(id);
    }

    /// The rebuild or full sync to start at `now`, if one is asked for and the minimum
    /// interval has passed; it counts as started.
    pub fn take_sync(&mut self, now: Instant) -> Option<Next> {
        if !(self.rebuild || self.full) {
            return None;
        }
        if self
            .last_sync
            .is_some_and(|t| now.saturating_duration_since(t) < self.min_interval)
        {
            return None;
        }
        self.last_sync = Some(now);
        self.full = false;
        Some(if std::mem::take(&mut self.rebuild) {
            Next::Rebuild
        } else {
            Next::Full
        })
    }

    /// Containers due at `now` (announced, or whose retry time has come) except those in
    /// `busy`; they leave the record. A joined one is watched from its first look on.
    pub fn take_due(
        &mut self,
        now: Instant,
        busy: impl Fn(&str) -> bool,
    ) -> Vec<(String, Announce)> {
        let ready: Vec<String> = self
            .retries
            .iter()
            .filter(|(id, r)| r.at <= now && !busy(id))
            .map(|(id, _)| id.clone())
            .collect();
        let mut out: Vec<(String, Announce)> = Vec::new();
        for id in ready {
            if let Some(r) = self.retries.remove(&id) {
                out.push((id, r.how));
            }
        }
        let due: Vec<String> = self.due.keys().filter(|id| !busy(id)).cloned().collect();
        for id in due {
            if let Some(how) = self.due.remove(&id) {
                out.push((id, how));
            }
        }
        for (id, how) in &out {
            if *how == Announce::Joined {
                self.watched.entry(id.clone()).or_insert((now, None));
            }
        }
        out
    }

    /// Whether `id` waits for a retry (a full sync leaves it to its own schedule).
    pub fn waiting_retry(&self, id: &str) -> bool {
        self.retries.contains_key(id)
    }

    /// `id`'s apply failed for the `failures`-th time in a row at `now`: when it is retried.
    pub fn failed(&mut self, id: &str, failures: u32, now: Instant) -> Duration {
        let delay = retry_delay(failures);
        self.watched.remove(id);
        self.retries.insert(
            id.to_owned(),
            Retry {
                at: now + delay,
                how: Announce::Started,
            },
        );
        delay
    }

    /// The earliest time something recorded becomes due (None: nothing recorded), leaving out
    /// the containers in `busy` (the end of their job wakes the runner).
    pub fn next_wake(&self, busy: impl Fn(&str) -> bool) -> Option<Instant> {
        let sync = (self.rebuild || self.full).then(|| {
            self.last_sync
                .map(|t| t + self.min_interval)
                .unwrap_or_else(Instant::now)
        });
        let announced = self.due.keys().any(|id| !busy(id)).then(Instant::now);
        let retry = self
            .retries
            .iter()
            .filter(|(id, _)| !busy(id))
            .map(|(_, r)| r.at)
            .min();
        [sync, announced, retry].into_iter().flatten().min()
    }
}

#[cfg(test)]
#[path = "work_tests.rs"]
mod tests;
