//! What the daemon has to do, as event handlers record it; the runner takes it from here. Pure
//! bookkeeping (no I/O), so that coalescing and retry schedules are tested on their own.
//!
//! - A *rebuild* (ingress, services or configuration changed) and a *full sync* (every running
//!   task and the sbox) are coalesced: however many are asked for, one runs, and no sooner
//!   than `min_interval` after the previous one (kube-proxy's `BoundedFrequencyRunner`). The
//!   audit asks for a full sync every `--resync-interval`: the maximum interval. A rebuild
//!   asked for by the poll of the swarm's view carries the view it read, so that the rebuild
//!   does not read it again; any other request for a rebuild drops it (the rebuild then reads
//!   the facts afresh).
//! - A container announced by an event is due at once: one namespace, and the sooner its rules
//!   are in place the fewer connections break.
//! - A container whose apply failed is tried again on its own schedule, with a doubling delay.
//! - A new namespace whose first ingress address arrived (before its task starts) is due at
//!   once: Docker is asked whose address it is, then the task is configured.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::unit::Unit;
use crate::discovery::SwarmNode;
use crate::netns::arrivals::Arrival;

#[derive(Debug)]
pub struct Work {
    min_interval: Duration,
    rebuild: bool,
    /// The swarm's view the requested rebuild is to build from (see [`Work::rebuild_from`]).
    view: Option<Vec<SwarmNode>>,
    full: bool,
    /// When the last rebuild or full sync began.
    last_sync: Option<Instant>,
    due: BTreeSet<Unit>,
    /// When each failed unit is tried again.
    retries: HashMap<Unit, Instant>,
    arrivals: VecDeque<Arrival>,
}

/// What the runner should start now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Rebuild the node, then sync everything; from this swarm's view when it was read already.
    Rebuild(Option<Vec<SwarmNode>>),
    /// Sync the sbox and every running task.
    Full,
}

impl Work {
    pub fn new(min_interval: Duration) -> Work {
        Work {
            min_interval,
            rebuild: false,
            view: None,
            full: false,
            last_sync: None,
            due: BTreeSet::new(),
            retries: HashMap::new(),
            arrivals: VecDeque::new(),
        }
    }

    /// A rebuild from the facts as Docker gives them when it starts.
    pub fn rebuild(&mut self) {
        self.rebuild = true;
        self.view = None;
    }

    /// A rebuild from `view`, the swarm's view the poll has just read (and found to give
    /// other load balancers, or the worker's ports changed). A rebuild asked for already that
    /// reads the facts afresh stays so (it may be for a configuration read on SIGHUP, which
    /// the poll's view was not read for).
    pub fn rebuild_from(&mut self, view: Vec<SwarmNode>) {
        if self.rebuild && self.view.is_none() {
            return;
        }
        self.rebuild = true;
        self.view = Some(view);
    }

    pub fn full(&mut self) {
        self.full = true;
    }

    /// A rebuild, not before `at` (the ingress or the swarm's view is not ready yet).
    pub fn rebuild_at(&mut self, at: Instant) {
        self.rebuild = true;
        self.view = None;
        self.last_sync = Some(at.checked_sub(self.min_interval).unwrap_or(at));
    }

    /// A unit is due at once (a container started: a retry waiting for it is replaced, its
    /// start is a new attempt of Docker's).
    pub fn announce(&mut self, unit: Unit) {
        self.retries.remove(&unit);
        self.due.insert(unit);
    }

    /// The unit is gone: nothing more to do for it.
    pub fn forget(&mut self, unit: &Unit) {
        self.due.remove(unit);
        self.retries.remove(unit);
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
            Next::Rebuild(self.view.take())
        } else {
            Next::Full
        })
    }

    /// Units due at `now` (announced, or whose retry time has come) except those in `busy`;
    /// they leave the record. Retries first, in the order of their times.
    pub fn take_due(&mut self, now: Instant, busy: impl Fn(&Unit) -> bool) -> Vec<Unit> {
        let mut ready: Vec<(Instant, Unit)> = self
            .retries
            .iter()
            .filter(|(u, at)| **at <= now && !busy(u))
            .map(|(u, at)| (*at, u.clone()))
            .collect();
        ready.sort();
        let mut out: Vec<Unit> = ready.into_iter().map(|(_, u)| u).collect();
        for u in &out {
            self.retries.remove(u);
        }
        let due: Vec<Unit> = self.due.iter().filter(|u| !busy(u)).cloned().collect();
        for u in due {
            self.due.remove(&u);
            out.push(u);
        }
        out
    }

    /// Units recorded here (announced, waiting for a retry, or new namespaces): the sbox (0 or
    /// 1) and tasks.
    pub fn waiting(&self) -> (usize, usize) {
        let units: BTreeSet<&Unit> = self.due.iter().chain(self.retries.keys()).collect();
        let sbox = usize::from(units.contains(&Unit::Sbox));
        (sbox, units.len() - sbox + self.arrivals.len())
    }

    /// Whether `unit` waits for a retry (a full sync leaves it to its own schedule).
    pub fn waiting_retry(&self, unit: &Unit) -> bool {
        self.retries.contains_key(unit)
    }

    /// `unit`'s job failed at `now`: it is tried again after `delay` (see
    /// [`super::unit::JobError::retry_delay`]).
    pub fn failed(&mut self, unit: Unit, delay: Duration, now: Instant) {
        self.retries.insert(unit, now + delay);
    }

    /// The earliest time something recorded becomes due (None: nothing recorded), leaving out
    /// the containers in `busy` (the end of their job wakes the runner). Without a node
    /// (`built` false: no swarm yet, or no usable backend) only a rebuild can run: containers
    /// and arrivals wait for it, and waking for them would only spin.
    pub fn next_wake(&self, busy: impl Fn(&Unit) -> bool, built: bool) -> Option<Instant> {
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
