//! What the runner does with answers: a Docker-wide question answered (rebuild, listing,
//! the swarm's view) and a namespace's job ended (log on a change of state, metrics, the
//! retry schedule). The session is reached through [`Session`]'s methods.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tracing::{debug, error, info, warn};

use super::jobs::{self, Control, Done, TaskResult};
use super::runner::{Exit, Runner, Session};
use super::sync::{log_sbox, log_task, BuildError};
use super::unit::{JobError, Unit};
use crate::apply::TaskOutcome;
use crate::docker::DockerClient;
use crate::node::{Node, TaskRef};

/// How long to wait before asking again when the ingress or the load balancers are not known.
const NOT_READY_RETRY: Duration = Duration::from_secs(5);

impl Runner {
    /// A Docker-wide question answered; `Some` ends the session.
    pub(super) fn controlled(
        &mut self,
        client: &DockerClient,
        s: &mut Session,
        c: Control,
    ) -> Option<Exit> {
        match c {
            Control::Rebuilt(r) => return self.rebuilt(client, s, *r),
            Control::Listed(Ok(tasks)) => {
                self.telemetry.docker_answered();
                let present: HashSet<Unit> = tasks.iter().map(|t| Unit::task(&t.id)).collect();
                self.records.retain(|u| present.contains(u) || s.is_busy(u));
                if let Some(node) = &self.node {
                    for t in tasks.iter().filter(|t| node.wants_service(&t.service)) {
                        self.records.pending(t);
                    }
                }
                s.listed(tasks);
            }
            Control::Listed(Err(e)) => {
                warn!("cannot list containers: {e}");
                return Some(Exit::Reconnect);
            }
            Control::ViewChanged(Some(view)) => self.work.rebuild_from(view),
            Control::ViewChanged(None) => {}
        }
        None
    }

    pub(super) fn rebuilt(
        &mut self,
        client: &DockerClient,
        s: &mut Session,
        r: Result<Node, BuildError>,
    ) -> Option<Exit> {
        let candidate = self.settings.take_candidate();
        match r {
            Ok(node) => {
                self.last_build_error.clear();
                if let Some(new) = candidate {
                    self.settings.adopt(new);
                }
                if self.node.as_ref().map(|n| n.ingress) != Some(node.ingress) {
                    info!(
                        "ingress subnet {}, this node's ingress IP {}",
                        node.ingress.subnet, node.ingress.node_ip
                    );
                }
                s.watch_arrivals(node.ingress.subnet);
                self.node = Some(node);
                // The rebuild counts as the full sync's start: list the tasks now.
                s.ask(Box::pin(jobs::list(client.clone())));
            }
            Err(BuildError::Config(e)) if candidate.is_some() => {
                error!("configuration not reloaded, keeping the previous one: {e}")
            }
            // A configuration that does not fit at start-up is the operator's to fix; under
            // `auto` the misfit comes from the swarm (a node whose offset does not fit), which
            // may change: keep waiting, as with a misfit that appears later.
            Err(BuildError::Config(e))
                if self.node.is_none() && !self.settings.current().rules.lbs.needs_view() =>
            {
                return Some(Exit::Fatal(e))
            }
            Err(BuildError::Config(e)) => {
                let keeping = if self.node.is_some() {
                    "keeping the previous load balancers"
                } else {
                    "nothing installed yet"
                };
                self.build_failed(format!("{e}; {keeping}"), true);
                if self.node.is_none() {
                    self.work.rebuild_at(Instant::now() + NOT_READY_RETRY);
                }
            }
            Err(BuildError::Docker(e)) => {
                warn!("Docker Engine: {e}");
                return Some(Exit::Reconnect);
            }
            Err(BuildError::Waiting(why)) => {
                self.build_failed(
                    format!(
                        "{why}; checking again every {} s",
                        NOT_READY_RETRY.as_secs()
                    ),
                    false,
                );
                self.work.rebuild_at(Instant::now() + NOT_READY_RETRY);
            }
            Err(BuildError::Backend(_)) => {
                // Logged once by build_node; nothing more is installed until the backend can
                // be told again.
                self.node = None;
                self.work.rebuild_at(Instant::now() + NOT_READY_RETRY);
            }
        }
        None
    }

    /// Logs a rebuild failure (an error, or a wait at info) when it differs from the last one.
    pub(super) fn build_failed(&mut self, line: String, is_error: bool) {
        if !self.last_build_error.changed(&line) {
            debug!("{line}");
        } else if is_error {
            error!("{line}");
        } else {
            info!("{line}");
        }
    }

    /// A namespace's job ended: log it when its state changed, schedule a retry if it failed.
    pub(super) fn finished(&mut self, s: &mut Session, done: Done) {
        match done {
            Done::Task {
                id,
                result,
                took,
                lingering,
            } => {
                let unit = Unit::task(&id);
                s.release(unit.clone(), lingering);
                self.task_done(&unit, result, took);
            }
            Done::Released { unit } => {
                debug!(unit = %unit, "the abandoned apply's worker has ended");
                s.free(&unit);
            }
            Done::Sbox {
                result,
                took,
                lingering,
            } => {
                s.release(Unit::Sbox, lingering);
                match result {
                    Ok(o) => {
                        self.telemetry.applied("sbox", took);
                        log_sbox(&o);
                        self.succeeded(&Unit::Sbox, None, None, o.outcome().changed());
                    }
                    Err(e) => self.failed(Unit::Sbox, e),
                }
            }
            Done::NoSbox(path) => {
                s.free(&Unit::Sbox);
                info!("no ingress_sbox at {} yet", path.display());
            }
            Done::Resolved { arrival, result } => match result {
                Ok(Some(t)) => {
                    debug!(container = %t.id, service = %t.service, netns = %t.netns.display(), "its ingress address {} arrived in a new namespace", arrival.ip);
                    s.arrived(t);
                }
                Ok(None) => info!(
                    netns = %arrival.netns.display(),
                    "a new namespace got ingress address {}, which Docker gives no service task; left alone",
                    arrival.ip
                ),
                Err(e) => warn!(
                    netns = %arrival.netns.display(),
                    "cannot ask Docker whose ingress address {} is ({e}); its task is configured when it starts",
                    arrival.ip
                ),
            },
        }
    }

    fn task_done(&mut self, unit: &Unit, result: TaskResult, took: Duration) {
        match result {
            TaskResult::Applied(t, outcome) => {
                self.telemetry.applied("task", took);
                if let Some(early) = self
                    .records
                    .netns(unit)
                    .filter(|n| n.file_name() != t.netns.file_name())
                {
                    warn!(container = %t.id, service = %t.service, "Docker's sandbox for it is {}, not {}, which was configured as its when its ingress address arrived there; that one is left as it is", t.netns.display(), early.display());
                }
                log_task(&t, &outcome);
                let changed =
                    matches!(&outcome, TaskOutcome::Applied { outcome, .. } if outcome.changed());
                self.succeeded(unit, Some(&t), Some(&outcome), changed);
            }
            TaskResult::NotATask => {
                debug!(unit = %unit, "not a running service task in a sandbox of its own; skipped");
                self.records.forget(unit);
            }
            TaskResult::NotWanted(t) => {
                debug!(container = %t.id, service = %t.service, "service not in --services; skipped");
                self.records.forget(unit);
            }
            TaskResult::Failed(e) => self.failed(unit.clone(), e),
        }
    }

    fn succeeded(
        &mut self,
        unit: &Unit,
        t: Option<&TaskRef>,
        outcome: Option<&TaskOutcome>,
        changed: bool,
    ) {
        if matches!(unit, Unit::Task(_))
            && !matches!(outcome, Some(TaskOutcome::NoIngressInterface))
        {
            self.programmed(unit);
        }
        let before = self.records.applied(unit, t, outcome);
        if before.failures > 0 {
            info!(unit = %unit, "configured after {} failed attempt(s)", before.failures);
        } else if before.configured && changed {
            info!(unit = %unit, "drift repaired");
            self.telemetry.drift_repaired();
        }
    }

    /// Logs the error when it differs from the last one, and schedules the retry by what went
    /// wrong ([`JobError::retry_delay`]).
    fn failed(&mut self, unit: Unit, e: JobError) {
        let text = match (&unit, &e) {
            // An apply's error names its namespace already.
            (_, JobError::Apply(_) | JobError::TimedOut { .. }) => e.to_string(),
            (unit, _) => format!("{unit}: {e}"),
        };
        self.telemetry.apply_failed(unit.kind());
        if e.timed_out() {
            self.telemetry.apply_abandoned(unit.kind());
        }
        let (failures, new) = self.records.failed(&unit, &text);
        let delay = e.retry_delay(failures);
        self.work.failed(unit.clone(), delay, Instant::now());
        if new {
            error!("{text}; retrying in {} s", delay.as_secs());
        } else {
            debug!(unit = %unit, "still failing (attempt {failures}), retrying in {} s: {text}", delay.as_secs());
        }
    }
}
