//! The order in which waiting units get a worker (pure, so that it is tested on its own):
//!
//! 1. a task whose ingress address arrived in its new namespace: it has not started yet, and
//!    Docker puts it into the load balancers' rotation right after it starts;
//! 2. a unit announced (a container's `start`) or due for a retry;
//! 3. the tasks of a full sync's listing;
//! 4. then the sbox of that sync, so that it stops masquerading for tasks that can already
//!    answer.
//!
//! A unit whose job still runs is never given a second one: an announced one is announced
//! again (it is due once its job ends), an arrived or listed one is dropped (its running job
//! configures it), a listed one waiting for its retry is left to its schedule.

use std::collections::{HashSet, VecDeque};

use super::unit::Unit;
use crate::node::TaskRef;

/// Units waiting for a worker.
#[derive(Debug, Default)]
pub struct Queues {
    pub arrived: VecDeque<TaskRef>,
    pub urgent: VecDeque<Unit>,
    pub listed: VecDeque<TaskRef>,
    pub sbox_wanted: bool,
}

/// What to start next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// A task known already (arrived or listed): configure it.
    Known(TaskRef),
    /// An announced unit: ask Docker first (a task), or the sbox.
    Announced(Unit),
    /// A unit whose job still runs was due: announce it again.
    Again(Unit),
}

impl Queues {
    /// The next thing to do, if any: `busy` units have a job running, `waiting_retry` ones are
    /// on their retry schedule, `wanted` says whether a task's service is in `--services`.
    pub fn pick(
        &mut self,
        busy: &HashSet<Unit>,
        waiting_retry: impl Fn(&Unit) -> bool,
        wanted: impl Fn(&TaskRef) -> bool,
    ) -> Option<Pick> {
        while let Some(t) = self.arrived.pop_front() {
            if !busy.contains(&Unit::task(&t.id)) && wanted(&t) {
                return Some(Pick::Known(t));
            }
        }
        if let Some(u) = self.urgent.pop_front() {
            return Some(if busy.contains(&u) {
                Pick::Again(u)
            } else {
                Pick::Announced(u)
            });
        }
        while let Some(t) = self.listed.pop_front() {
            let u = Unit::task(&t.id);
            if !busy.contains(&u) && !waiting_retry(&u) {
                return Some(Pick::Known(t));
            }
        }
        if self.sbox_wanted && !busy.contains(&Unit::Sbox) {
            self.sbox_wanted = false;
            return Some(Pick::Announced(Unit::Sbox));
        }
        None
    }

    /// Units waiting here: the sbox (0 or 1) and tasks.
    pub fn waiting(&self) -> (usize, usize) {
        let tasks = self.arrived.len()
            + self.listed.len()
            + self.urgent.iter().filter(|u| **u != Unit::Sbox).count();
        let sbox = usize::from(self.sbox_wanted || self.urgent.contains(&Unit::Sbox));
        (sbox, tasks)
    }

    /// Whether nothing of a full sync waits any more (its listing and its sbox).
    pub fn sync_started(&self) -> bool {
        self.listed.is_empty() && !self.sbox_wanted
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
