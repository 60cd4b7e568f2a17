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
//! - A new namespace whose first ingress address arrived (before its task starts) is due at
//!   once: Docker is asked whose address it is, then the task is configured.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::netns::arrivals::Arrival;

/// Delay before the first retry; it doubles with each failure up to [`RETRY_MAX`].
pub const RETRY_FIRST: Duration = Duration::from_secs(1);
pub const RETRY_MAX: Duration = Duration::from_secs(300);

/// The delay before retry number `failures` (1 = after the first failure).
pub fn retry_delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    RETRY_FIRST.saturating_mul(1 << doublings).min(RETRY_MAX)
}

#[derive(Debug)]
pub struct Work {
    min_interval: Duration,
    rebuild: bool,
    full: bool,
    /// When the last rebuild or full sync began.
    last_sync: Option<Instant>,
    due: BTreeSet<String>,
    /// When each failed container is tried again.
    retries: HashMap<String, Instant>,
    arrivals: VecDeque<Arrival>,
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
            due: BTreeSet::new(),
            retries: HashMap::new(),
            arrivals: VecDeque::new(),
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

    /// A container started: due at once (a retry waiting for it is replaced: its start is a
    /// new attempt of Docker's).
    pub fn announce(&mut self, id: &str) {
        self.retries.remove(id);
        self.due.insert(id.to_owned());
    }

    /// The container is gone: nothing more to do for it.
    pub fn forget(&mut self, id: &str) {
        self.due.remove(id);
        self.retries.remove(id);
    }

    /// A new namespace's first ingress address arrived: whose it is is asked at once.
    pub fn arrived(&mut self, a: Arrival) {
        self.arrivals.push_back(a);
    }

    /// The arrivals recorded so far; they leave the record.
    pub fn take_arrivals(&mut self) -> Vec<Arrival> {
        self.arrivals.drain(..).collect()
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
    /// `busy`; they leave the record.
    pub fn take_due(&mut self, now: Instant, busy: impl Fn(&str) -> bool) -> Vec<String> {
        let mut out: Vec<String> = self
            .retries
            .iter()
            .filter(|(id, at)| **at <= now && !busy(id))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &out {
            self.retries.remove(id);
        }
        let due: Vec<String> = self.due.iter().filter(|id| !busy(id)).cloned().collect();
        for id in due {
            self.due.remove(&id);
            out.push(id);
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
        self.retries.insert(id.to_owned(), now + delay);
        delay
    }

    /// The earliest time something recorded becomes due (None: nothing recorded), leaving out
    /// the containers in `busy` (the end of their job wakes the runner). Without a node
    /// (`built` false: no swarm yet, or no usable backend) only a rebuild can run: containers
    /// and arrivals wait for it, and waking for them would only spin.
    pub fn next_wake(&self, busy: impl Fn(&str) -> bool, built: bool) -> Option<Instant> {
        let sync = (self.rebuild || self.full).then(|| {
            self.last_sync
                .map(|t| t + self.min_interval)
                .unwrap_or_else(Instant::now)
        });
        if !built {
            return sync;
        }
        let announced =
            (self.due.iter().any(|id| !busy(id)) || !self.arrivals.is_empty()).then(Instant::now);
        let retry = self
            .retries
            .iter()
            .filter(|(id, _)| !busy(id))
            .map(|(_, at)| *at)
            .min();
        [sync, announced, retry].into_iter().flatten().min()
    }
}

#[cfg(test)]
#[path = "work_tests.rs"]
mod tests;
