//! The per-load-balancer traffic metrics, brought up to date when `/metrics` is asked for:
//! one [`crate::traffic::sample`] at most every [`MIN_SAMPLE`] (scrapes in between share it).
//! The sbox's rule counters become counters of dird's own that only grow: each reading adds
//! what the rule counted since the last one (all of it when the rule is new or was replaced,
//! its counter starting again from 0), so a rule rewritten by dird is no counter reset.

use std::collections::HashMap;
use std::time::Instant;

use super::metrics::{ConnectionLabels, Metrics, StampLabels};
use crate::traffic::{sample, Sample, Targets, MIN_SAMPLE};

#[derive(Debug, Default)]
pub struct TrafficState {
    pub targets: Targets,
    last: Option<Instant>,
    /// Each stamping rule's counters at the last reading: packets, bytes.
    seen: HashMap<StampLabels, (u64, u64)>,
    last_error: crate::logging::LastLine,
}

impl TrafficState {
    /// Reads and records a sample unless one was taken less than [`MIN_SAMPLE`] ago.
    pub fn refresh(&mut self, m: &Metrics) {
        if self.last.is_some_and(|t| t.elapsed() < MIN_SAMPLE) {
            return;
        }
        let s = sample(&self.targets);
        self.last = Some(Instant::now());
        self.record(m, &s);
    }

    /// Adds what `s` says to the metrics.
    pub fn record(&mut self, m: &Metrics, s: &Sample) {
        let mut now: HashMap<StampLabels, (u64, u64)> = HashMap::new();
        if let Some((lb, counters)) = &s.stamped {
            for c in counters {
                let labels = StampLabels {
                    load_balancer: lb.to_string(),
                    protocol: c.protocol.clone(),
                    ports: c.ports.clone(),
                };
                let (p0, b0) = self.seen.get(&labels).copied().unwrap_or((0, 0));
                let grew = |now: u64, before: u64| if now >= before { now - before } else { now };
                m.stamped_packets
                    .get_or_create(&labels)
                    .inc_by(grew(c.packets, p0));
                m.stamped_bytes
                    .get_or_create(&labels)
                    .inc_by(grew(c.bytes, b0));
                now.insert(labels, (c.packets, c.bytes));
            }
        }
        // A filter no longer in the sbox (read there): its series ends.
        if s.stamped.is_some() {
            for gone in self.seen.keys().filter(|k| !now.contains_key(*k)) {
                m.stamped_packets.remove(gone);
                m.stamped_bytes.remove(gone);
            }
            self.seen = now;
        }
        m.task_connections.clear();
        for c in &s.connections {
            m.task_connections
                .get_or_create(&ConnectionLabels {
                    task: c.task.clone(),
                    service: c.service.clone(),
                    load_balancer: c.lb.to_string(),
                })
                .set(i64::try_from(c.count).unwrap_or(i64::MAX));
        }
        for e in &s.errors {
            m.traffic_read_failures.inc();
            if self.last_error.changed(e) {
                tracing::warn!("reading traffic for the metrics: {e}");
            }
        }
    }
}
