//! What the runner reports to the metrics beyond applies: event → configured per task
//! ([`Programming`]), full syncs, the work waiting, and where the traffic metrics are read.

use std::time::Instant;

use super::programming::Observation;
use super::runner::{Runner, Session};
use super::unit::Unit;
use crate::traffic::{Targets, TaskTarget};

impl Runner {
    /// Docker announced the task `unit` (`start`: its container started).
    pub(super) fn announced(&mut self, unit: &Unit, start: bool) {
        let seen = self.programming.announced(unit, start, Instant::now());
        self.observe(&seen);
    }

    /// The task `unit`'s rules are in place.
    pub(super) fn programmed(&mut self, unit: &Unit) {
        let seen = self.programming.configured(unit, Instant::now());
        self.observe(&seen);
    }

    fn observe(&self, seen: &[Observation]) {
        for o in seen {
            match o {
                Observation::Programmed(after) => self.telemetry.task_programmed(*after),
                Observation::BeforeStart => self.telemetry.configured_before_start(),
            }
        }
    }

    /// The gauges that follow the loop: work waiting, a full sync that ended.
    pub(super) fn report_loop(&self, s: &mut Session) {
        let (qs, qt) = s.waiting();
        let (ws, wt) = self.work.waiting();
        self.telemetry.set_pending((qs + ws).min(1), qt + wt);
        if let Some(took) = s.full_sync_ended() {
            self.telemetry.full_sync_done(took);
        }
    }

    /// Where `/metrics` reads the traffic: this node's sbox when it is a load balancer, and
    /// with `--conntrack-metrics` every configured task.
    pub(super) fn traffic_targets(
        &self,
        sbox: &std::path::Path,
        status: &crate::telemetry::Status,
    ) -> Targets {
        let Some(node) = &self.node else {
            return Targets::default();
        };
        let tasks = if self.settings.current().conntrack_metrics {
            status
                .tasks
                .iter()
                .filter(|t| t.state == crate::telemetry::TaskState::Configured)
                .map(|t| TaskTarget {
                    id: t.id.clone(),
                    service: t.service.clone(),
                    netns: t.netns.clone(),
                })
                .collect()
        } else {
            Vec::new()
        };
        Targets {
            sbox: node.lb_id().map(|id| (sbox.to_path_buf(), id.get())),
            tools: Some(node.tools.clone()),
            tasks,
        }
    }
}
