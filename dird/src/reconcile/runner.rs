//! The runner: one connected session with Docker. Event handlers only record work
//! ([`Work`]); the loop starts it — at most one Docker-wide question at a time (rebuild,
//! listing, the swarm's view) and up to `parallel` namespaces at a time, each under its
//! deadline — and keeps reading events and signals meanwhile, so that no namespace stalls
//! the daemon.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tracing::{debug, error, info, warn};

use std::sync::Arc;

use super::jobs::{self, Control, Done, Source, TaskResult};
use super::records::{Records, SBOX};
use super::sync::{log_sbox, log_task, BuildError};
use super::work::{Announce, Work};
use super::{sbox_identity, Launch, Signals};
use crate::apply::TaskOutcome;
use crate::config::{self, Config, ConfigError};
use crate::docker::{DockerClient, Event};
use crate::node::{Node, TaskRef};
use crate::telemetry::{status, Telemetry};

/// Minimum interval between two rebuilds or full syncs (bursts of events coalesce).
pub const MIN_SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// How often `--ingress-gateway-ips auto` re-reads the swarm's view (network events also do).
pub const AUTO_POLL: Duration = Duration::from_secs(10);
/// How long to wait before asking again when the ingress or the load balancers are not known.
const NOT_READY_RETRY: Duration = Duration::from_secs(5);

type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Why a session ended.
#[derive(Debug)]
pub enum Exit {
    Stop,
    /// Docker went away or failed a Docker-wide question: connect again.
    Reconnect,
    /// The configuration does not fit this swarm, and there is no previous one to keep.
    Fatal(ConfigError),
}

pub struct Runner {
    launch: Launch,
    cfg: Config,
    /// A configuration read on SIGHUP, taken by the next rebuild if it fits the swarm.
    candidate: Option<Config>,
    node: Option<Node>,
    work: Work,
    records: Records,
    parallel: usize,
    /// The last rebuild failure logged, so that a lasting one is logged once.
    last_build_error: Option<String>,
    telemetry: Arc<Telemetry>,
    sessions: u32,
    /// When the status was last published (to `/status` and `--status-file`).
    published: Option<Instant>,
}

/// One session's moving parts.
struct Session {
    control: Option<Boxed<Control>>,
    /// Whether `control` is a rebuild that used the reload candidate.
    with_candidate: bool,
    jobs: FuturesUnordered<Boxed<Done>>,
    busy: HashSet<String>,
    /// Containers announced or due for a retry, then listed ones, waiting for a worker.
    urgent: VecDeque<(String, Announce)>,
    listed: VecDeque<TaskRef>,
    sbox_wanted: bool,
    want_view: bool,
    /// The first full sync of this runner is under way (cleared when its listed tasks and the
    /// sbox are done).
    first_sync: bool,
}

impl Runner {
    pub fn new(launch: Launch, cfg: Config, telemetry: Arc<Telemetry>) -> Runner {
        let parallel = (2 * crate::node::default_workers()).clamp(2, 16);
        Runner {
            launch,
            cfg,
            candidate: None,
            node: None,
            work: Work::new(MIN_SYNC_INTERVAL),
            records: Records::default(),
            parallel,
            last_build_error: None,
            telemetry,
            sessions: 0,
            published: None,
        }
    }

    /// SIGHUP: reads the configuration again. It replaces the current one only once a rebuild
    /// has shown that it fits the swarm; until then, and if it does not, the old one stays.
    pub fn reload(&mut self) {
        match config::load(&self.launch.argv, self.launch.legacy_env.as_deref()) {
            Ok(new) => {
                info!("SIGHUP: configuration read; checking it against the swarm");
                self.candidate = Some(new);
                self.work.rebuild();
            }
            Err(e) => error!("configuration not reloaded, keeping the previous one: {e}"),
        }
    }

    fn audit_period(&self) -> Duration {
        if self.cfg.resync_interval.is_zero() {
            Duration::from_secs(crate::config::MAX_RESYNC_INTERVAL_SECS)
        } else {
            self.cfg.resync_interval
        }
    }

    /// Runs until SIGTERM/SIGINT, Docker goes away, or the first configuration cannot work.
    /// The event stream is read from the start, so nothing that starts during a sync is lost.
    pub async fn session(&mut self, client: &DockerClient, signals: &mut Signals) -> Exit {
        let mut events = Box::pin(client.events());
        self.telemetry.connected(self.sessions > 0);
        self.sessions += 1;
        self.work.rebuild();
        let mut s = Session {
            control: None,
            with_candidate: false,
            jobs: FuturesUnordered::new(),
            busy: HashSet::new(),
            urgent: VecDeque::new(),
            listed: VecDeque::new(),
            sbox_wanted: false,
            want_view: false,
            first_sync: self.sessions == 1,
        };
        let mut audit = tokio::time::interval(self.audit_period());
        audit.reset();
        let mut sbox_watch = tokio::time::interval(Duration::from_secs(2));
        let mut sbox_id = sbox_identity(&self.launch.sbox);
        let mut view_poll = tokio::time::interval(AUTO_POLL);
        view_poll.reset();
        let exit = loop {
            self.start_work(client, &mut s);
            self.publish(&mut s);
            let wake = [self.work.next_wake(), self.publish_due()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(Some(e))) => self.record(e),
                    Some(Ok(None)) => {}
                    Some(Err(e)) => {
                        warn!("Docker event stream broke ({e}); reconnecting and resyncing");
                        break Exit::Reconnect;
                    }
                    None => {
                        warn!("Docker event stream ended; reconnecting and resyncing");
                        break Exit::Reconnect;
                    }
                },
                c = async { s.control.as_mut().expect("guarded").await }, if s.control.is_some() => {
                    s.control = None;
                    let period = self.audit_period();
                    if let Some(exit) = self.controlled(client, &mut s, c) {
                        break exit;
                    }
                    if self.audit_period() != period {
                        audit = tokio::time::interval(self.audit_period());
                        audit.reset();
                    }
                }
                Some(done) = s.jobs.next(), if !s.jobs.is_empty() => self.finished(&mut s, done),
                _ = tokio::time::sleep_until(wake.into()) => {}
                _ = audit.tick() => self.work.full(),
                _ = sbox_watch.tick() => {
                    let now = sbox_identity(&self.launch.sbox);
                    if now != sbox_id {
                        info!("ingress_sbox was re-created; reinstalling the load-balancer rules");
                        sbox_id = now;
                        self.work.rebuild();
                    }
                }
                _ = view_poll.tick(), if self.cfg.rules.auto_load_balancers => s.want_view = true,
                _ = signals.hup.recv() => self.reload(),
                _ = signals.term.recv() => break Exit::Stop,
                _ = signals.int.recv() => break Exit::Stop,
            }
        };
        self.telemetry.disconnected();
        exit
    }

    /// Publishes the status (`/status`, the gauges, `--status-file`) when it changed, at most
    /// once per [`MIN_SYNC_INTERVAL`]; marks the first sync done once it is.
    fn publish(&mut self, s: &mut Session) {
        if s.first_sync
            && s.control.is_none()
            && s.listed.is_empty()
            && !s.sbox_wanted
            && s.jobs.is_empty()
            && self.node.is_some()
        {
            s.first_sync = false;
            self.telemetry.first_sync_done();
            info!("first sync done");
        }
        if !self.records.dirty || self.publish_due().is_some_and(|t| t > Instant::now()) {
            return;
        }
        self.records.dirty = false;
        self.published = Some(Instant::now());
        let status = self.records.status(self.node.as_ref());
        if let Some(path) = &self.cfg.status_file {
            if let Err(e) = status::write(path, &status) {
                if self.status_error_is_new(&e.to_string()) {
                    warn!("{e}");
                }
            }
        }
        self.telemetry.set_status(status);
    }

    /// When the next publication may happen, if one is waiting.
    fn publish_due(&self) -> Option<Instant> {
        self.records.dirty.then(|| {
            self.published
                .map(|t| t + MIN_SYNC_INTERVAL)
                .unwrap_or_else(Instant::now)
        })
    }

    fn status_error_is_new(&mut self, line: &str) -> bool {
        static LOGGED: crate::logging::Once = crate::logging::Once::new();
        LOGGED.first(line)
    }

    /// Event handlers: they only record what is to be done.
    fn record(&mut self, e: Event) {
        self.telemetry.event(e.kind());
        match e {
            Event::IngressJoined { container } => {
                self.work.announce(&short(&container), Announce::Joined)
            }
            Event::ContainerStart { id } => self.work.announce(&short(&id), Announce::Started),
            Event::ContainerGone { id } => {
                let id = short(&id);
                debug!(container = %id, "container gone; forgotten");
                self.work.forget(&id);
                self.records.forget(&id);
            }
            Event::ServiceChanged => {
                if crate::node::needs_published_ports(&self.cfg.rules) {
                    self.work.rebuild();
                }
            }
            Event::NetworkChanged => self.work.rebuild(),
        }
    }

    /// Starts whatever is due and fits: one Docker-wide question, then namespaces up to
    /// `parallel` (announced containers first, the sbox once the listed tasks have started).
    fn start_work(&mut self, client: &DockerClient, s: &mut Session) {
        let now = Instant::now();
        if s.control.is_none() {
            if let Some(next) = self.work.take_sync(now) {
                s.control = Some(match next {
                    super::work::Next::Rebuild => {
                        s.with_candidate = self.candidate.is_some();
                        let cfg = self.candidate.clone().unwrap_or_else(|| self.cfg.clone());
                        Box::pin(jobs::rebuild(client.clone(), self.launch.clone(), cfg))
                    }
                    super::work::Next::Full => Box::pin(jobs::list(client.clone())),
                });
            } else if std::mem::take(&mut s.want_view) {
                if let Some(node) = &self.node {
                    s.control = Some(Box::pin(jobs::view(client.clone(), node.clone())));
                }
            }
        }
        let Some(node) = self.node.clone() else {
            return;
        };
        let busy = &s.busy;
        s.urgent
            .extend(self.work.take_due(now, |id| busy.contains(id)));
        let timeout = self.cfg.apply_timeout;
        while s.jobs.len() < self.parallel {
            if let Some((id, how)) = s.urgent.pop_front() {
                if s.busy.contains(&id) {
                    self.work.announce(&id, how);
                    continue;
                }
                s.busy.insert(id.clone());
                if id == SBOX {
                    let job = jobs::sbox(node.clone(), self.launch.sbox.clone(), timeout);
                    s.jobs.push(Box::pin(job));
                    continue;
                }
                let job = jobs::task(
                    client.clone(),
                    node.clone(),
                    id,
                    Source::Announced(how),
                    timeout,
                );
                s.jobs.push(Box::pin(job));
            } else if let Some(t) = s.listed.pop_front() {
                if s.busy.contains(&t.id) || self.work.waiting_retry(&t.id) {
                    continue;
                }
                s.busy.insert(t.id.clone());
                let job = jobs::task(
                    client.clone(),
                    node.clone(),
                    t.id.clone(),
                    Source::Listed(t),
                    timeout,
                );
                s.jobs.push(Box::pin(job));
            } else if s.sbox_wanted && !s.busy.contains(SBOX) {
                s.sbox_wanted = false;
                s.busy.insert(SBOX.to_owned());
                let job = jobs::sbox(node.clone(), self.launch.sbox.clone(), timeout);
                s.jobs.push(Box::pin(job));
            } else {
                break;
            }
        }
    }

    /// A Docker-wide question answered; `Some` ends the session.
    fn controlled(&mut self, client: &DockerClient, s: &mut Session, c: Control) -> Option<Exit> {
        match c {
            Control::Rebuilt(r) => return self.rebuilt(client, s, r),
            Control::Listed(Ok(tasks)) => {
                self.telemetry.docker_answered();
                let present: HashSet<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
                self.records
                    .retain(|id| present.contains(id) || s.busy.contains(id));
                if let Some(node) = &self.node {
                    for t in tasks.iter().filter(|t| node.wants_service(&t.service)) {
                        self.records.pending(t);
                    }
                }
                s.listed = tasks.into();
                s.sbox_wanted = true;
            }
            Control::Listed(Err(e)) => {
                warn!("cannot list containers: {e}");
                return Some(Exit::Reconnect);
            }
            Control::ViewChanged(true) => self.work.rebuild(),
            Control::ViewChanged(false) => {}
        }
        None
    }

    fn rebuilt(
        &mut self,
        client: &DockerClient,
        s: &mut Session,
        r: Result<Node, BuildError>,
    ) -> Option<Exit> {
        let candidate = if std::mem::take(&mut s.with_candidate) {
            self.candidate.take()
        } else {
            None
        };
        match r {
            Ok(node) => {
                self.last_build_error = None;
                if let Some(new) = candidate {
                    info!("configuration reloaded (SIGHUP)");
                    self.cfg = new;
                }
                if self.node.as_ref().map(|n| n.ingress) != Some(node.ingress) {
                    info!(
                        "ingress subnet {}, this node's ingress IP {}",
                        node.ingress.subnet, node.ingress.node_ip
                    );
                }
                self.node = Some(node);
                // The rebuild counts as the full sync's start: list the tasks now.
                s.control = Some(Box::pin(jobs::list(client.clone())));
            }
            Err(BuildError::Config(e)) if candidate.is_some() => {
                error!("configuration not reloaded, keeping the previous one: {e}")
            }
            // A configuration that does not fit at start-up is the operator's to fix; under
            // `auto` the misfit comes from the swarm (a node whose offset does not fit), which
            // may change: keep waiting, as with a misfit that appears later.
            Err(BuildError::Config(e))
                if self.node.is_none() && !self.cfg.rules.auto_load_balancers =>
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
    fn build_failed(&mut self, line: String, is_error: bool) {
        if self.last_build_error.as_deref() == Some(line.as_str()) {
            debug!("{line}");
        } else if is_error {
            error!("{line}");
        } else {
            info!("{line}");
        }
        self.last_build_error = Some(line);
    }

    /// A namespace's job ended: log it when its state changed, schedule a retry if it failed.
    fn finished(&mut self, s: &mut Session, done: Done) {
        match done {
            Done::Task { id, result, took } => {
                s.busy.remove(&id);
                self.task_done(&id, result, took);
            }
            Done::Sbox { result, took } => {
                s.busy.remove(SBOX);
                match result {
                    Ok(o) => {
                        self.telemetry.applied("sbox", took);
                        log_sbox(&o);
                        self.succeeded(SBOX, None, None, o.outcome().changed());
                    }
                    Err(e) => self.failed(SBOX, e),
                }
            }
            Done::NoSbox(path) => {
                s.busy.remove(SBOX);
                info!("no ingress_sbox at {} yet", path.display());
            }
        }
    }

    fn task_done(&mut self, id: &str, result: TaskResult, took: Duration) {
        match result {
            TaskResult::Applied(t, outcome) => {
                self.telemetry.applied("task", took);
                log_task(&t, &outcome);
                let changed =
                    matches!(&outcome, TaskOutcome::Applied { outcome, .. } if outcome.changed());
                self.succeeded(id, Some(&t), Some(&outcome), changed);
            }
            TaskResult::NotATask => {
                debug!(container = %id, "not a running service task in a sandbox of its own (or not on the ingress yet); skipped");
                self.records.forget(id);
            }
            TaskResult::NotWanted(t) => {
                debug!(container = %t.id, service = %t.service, "service not in --services; skipped");
                self.records.forget(id);
            }
            TaskResult::Failed(e) => self.failed(id, e),
        }
    }

    fn succeeded(
        &mut self,
        id: &str,
        t: Option<&TaskRef>,
        outcome: Option<&TaskOutcome>,
        changed: bool,
    ) {
        let before = self.records.applied(id, t, outcome);
        if before.failures > 0 {
            info!(container = %id, "configured after {} failed attempt(s)", before.failures);
        } else if before.configured && changed {
            info!(container = %id, "drift repaired");
            self.telemetry.drift_repaired();
        }
    }

    /// Logs the error when it differs from the last one, and schedules the retry.
    fn failed(&mut self, id: &str, e: String) {
        let (failures, new) = self.records.failed(id, &e);
        let delay = self.work.failed(id, failures, Instant::now());
        if new {
            error!("{e}; retrying in {} s", delay.as_secs());
        } else {
            debug!(container = %id, "still failing (attempt {failures}), retrying in {} s: {e}", delay.as_secs());
        }
    }
}

/// The 12-digit id dird keys containers by (events give 64 digits).
fn short(id: &str) -> String {
    id.chars().take(12).collect()
}
