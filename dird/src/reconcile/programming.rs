//! Event → configured, per task (pure; the runner gives the times): when Docker first
//! announced a task (its ingress `network connect` or its `start`) and when its rules were
//! first in place. Each task is observed once, as soon as both are known: the time between
//! them, or zero when the rules came first (from its namespace's arrival, before any event).
//! A `start` that finds the rules in place is counted as configured before start.
//!
//! Only tasks Docker announced while dird watched are observed; a task configured at start-up
//! (running already) never is. Entries end with the container, or after [`FORGET_AFTER`]
//! once more than [`MAX_TRACKED`] are held.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::unit::Unit;

/// Entries held before old ones are dropped.
pub const MAX_TRACKED: usize = 10_000;
/// The age past which an entry may be dropped.
pub const FORGET_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Observation {
    /// The task's rules were in place this long after its first event (zero: before it).
    Programmed(Duration),
    /// Its `start` event came when its rules were in place.
    BeforeStart,
}

#[derive(Debug, Clone, Default)]
struct Seen {
    first: Option<Instant>,
    announced: Option<Instant>,
    configured: Option<Instant>,
    started: bool,
    observed: bool,
}

#[derive(Debug, Default)]
pub struct Programming {
    seen: HashMap<Unit, Seen>,
}

impl Programming {
    /// Docker announced `unit` (`start`: its container start, else its ingress connect).
    pub fn announced(&mut self, unit: &Unit, start: bool, now: Instant) -> Vec<Observation> {
        let s = self.entry(unit, now);
        let mut out = Vec::new();
        if s.announced.is_none() {
            s.announced = Some(now);
            if s.configured.is_some() && !s.observed {
                s.observed = true;
                out.push(Observation::Programmed(Duration::ZERO));
            }
        }
        if start && !s.started {
            s.started = true;
            if s.configured.is_some() {
                out.push(Observation::BeforeStart);
            }
        }
        out
    }

    /// `unit`'s rules are in place (only the first time counts).
    pub fn configured(&mut self, unit: &Unit, now: Instant) -> Vec<Observation> {
        let s = self.entry(unit, now);
        let mut out = Vec::new();
        if s.configured.is_none() {
            s.configured = Some(now);
            if let (Some(a), false) = (s.announced, s.observed) {
                s.observed = true;
                out.push(Observation::Programmed(now.saturating_duration_since(a)));
            }
        }
        out
    }

    /// The container is gone.
    pub fn forget(&mut self, unit: &Unit) {
        self.seen.remove(unit);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    fn entry(&mut self, unit: &Unit, now: Instant) -> &mut Seen {
        if self.seen.len() >= MAX_TRACKED && !self.seen.contains_key(unit) {
            self.seen.retain(|_, s| {
                s.first
                    .is_some_and(|t| now.saturating_duration_since(t) < FORGET_AFTER)
            });
        }
        let s = self.seen.entry(unit.clone()).or_default();
        s.first.get_or_insert(now);
        s
    }
}

#[cfg(test)]
#[path = "programming_tests.rs"]
mod tests;
