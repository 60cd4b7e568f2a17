//! The runner: one connected session with Docker. Event handlers only record work
//! ([`Work`]); the loop starts it — at most one Docker-wide question at a time (rebuild,
//! listing, the swarm's view) and up to `parallel` namespaces at a time, each under its
//! deadline — and keeps reading events and signals meanwhile, so that no namespace stalls
//! the daemon. What it does with the answers is in `answers.rs`, which reaches a [`Session`]
//! through its methods only.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tracing::{debug, info, warn};

use super::jobs::{self, Control, Done, Lingering, Source};
use super::programming::Programming;
use super::records::Records;
use super::schedule::{Pick, Queues};
use super::settings::Settings;
use super::sync::BackendLog;
use super::unit::Unit;
use super::work::Work;
use super::{sbox_identity, Launch, Signals};
use crate::config::{Config, ConfigError};
use crate::docker::{DockerClient, Event};
use crate::netns::arrivals::Arrivals;
use crate::node::{Node, TaskRef};
use crate::telemetry::{status, Telemetry};

/// Minimum interval between two rebuilds or full syncs (bursts of events coalesce).
pub const MIN_SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// How often `--ingress-gateway-ips auto` re-reads the swarm's view (network events also do),
/// and a worker with `--services` and no port flags its published ports (it gets no service
/// events).
pub const AUTO_POLL: Duration = Duration::from_secs(10);

type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// `f`'s output, or never when there is no `f` (a `select!` branch whose precondition is
/// that there is one).
async fn pending_or<F: Future>(f: Option<F>) -> F::Output {
    match f {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// Why a session ended.
#[derive(Debug)]
pub enum Exit {
    Stop,
    /// Docker went away or failed a Docker-wide question: connect again.
    Reconnect,
    /// The configuration does not fit this swarm, and there is no previous one to keep.
    Fatal(ConfigError),
}

/// The daemon's state across sessions. The fields `answers.rs` works with are `pub(super)`;
/// the rest belongs to the loop here.
pub struct Runner {
    launch: Launch,
    /// The configuration in force, and one read on SIGHUP until a rebuild takes it.
    pub(super) settings: Settings,
    pub(super) node: Option<Node>,
    pub(super) work: Work,
    pub(super) records: Records,
    parallel: usize,
    /// The last rebuild failure logged, so that a lasting one is logged once.
    pub(super) last_build_error: crate::logging::LastLine,
    /// The last iptables-backend line logged, shared with the rebuilds.
    backend_log: BackendLog,
    /// Lines of status-file errors logged already (each is logged once).
    status_errors: crate::logging::Once,
    pub(super) telemetry: Arc<Telemetry>,
    /// Each task's first event and first configuration, for the event → configured metric.
    pub(super) programming: Programming,
    sessions: u32,
    /// When the status was last published (to `/status` and `--status-file`).
    published: Option<Instant>,
    /// The watch for new namespaces, kept across sessions (see [`crate::netns::arrivals`]).
    arrivals: Option<Arrivals>,
}

/// One session's moving parts. The loop here works with its fields; `answers.rs` with the
/// methods below.
pub(super) struct Session {
    control: Option<Boxed<Control>>,
    jobs: FuturesUnordered<Boxed<Done>>,
    busy: HashSet<Unit>,
    /// Units waiting for a worker ([`Queues::pick`] says in which order).
    queues: Queues,
    arrivals: Option<Arrivals>,
    want_view: bool,
    /// The first full sync of this runner is under way (cleared when its listed tasks and the
    /// sbox are done).
    first_sync: bool,
    /// When the full sync under way began (its listing was asked for).
    full_sync: Option<Instant>,
}

impl Session {
    /// A session with nothing under way; `first_sync`: this runner's first.
    pub(super) fn new(arrivals: Option<Arrivals>, first_sync: bool) -> Self {
        Session {
            control: None,
            jobs: FuturesUnordered::new(),
            busy: HashSet::new(),
            queues: Queues::default(),
            arrivals,
            want_view: false,
            first_sync,
            full_sync: None,
        }
    }

    /// Asks Docker `question` next (the Docker-wide question under way ended).
    pub(super) fn ask(&mut self, question: Boxed<Control>) {
        self.control = Some(question);
    }

    /// Whether a job of `unit` runs (or its abandoned worker still does).
    pub(super) fn is_busy(&self, unit: &Unit) -> bool {
        self.busy.contains(unit)
    }

    /// `unit` is free again.
    pub(super) fn free(&mut self, unit: &Unit) {
        self.busy.remove(unit);
    }

    /// `unit`'s job ended: it is free again, or, when its worker was abandoned still running,
    /// once that worker ends (a retry never runs beside it).
    pub(super) fn release(&mut self, unit: Unit, lingering: Lingering) {
        match lingering {
            None => self.free(&unit),
            Some(worker) => {
                self.jobs.push(Box::pin(async move {
                    let _ = worker.await;
                    Done::Released { unit }
                }));
            }
        }
    }

    /// The tasks listed by a full sync: each is configured, then the sbox.
    pub(super) fn listed(&mut self, tasks: Vec<TaskRef>) {
        self.queues.listed = tasks.into();
        self.queues.sbox_wanted = true;
    }

    /// Units waiting for a worker: the sbox (0 or 1) and tasks.
    pub(super) fn waiting(&self) -> (usize, usize) {
        self.queues.waiting()
    }

    /// Whether the full sync under way has ended (nothing of it waits or runs, no Docker-wide
    /// question is open); then how long it took, and it is over.
    pub(super) fn full_sync_ended(&mut self) -> Option<Duration> {
        if self.control.is_some() || !self.queues.sync_started() || !self.jobs.is_empty() {
            return None;
        }
        self.full_sync.take().map(|t| t.elapsed())
    }

    /// A task whose ingress address arrived in a new namespace: configured before the others.
    pub(super) fn arrived(&mut self, task: TaskRef) {
        self.queues.arrived.push_back(task);
    }

    /// Watches Docker's netns folder for new namespaces and their first address in `subnet`,
    /// unless such a watch runs already; a watch for another subnet is replaced.
    pub(super) fn watch_arrivals(&mut self, subnet: ipnet::Ipv4Net) {
        if self.arrivals.as_ref().is_some_and(|a| a.subnet() == subnet) {
            return;
        }
        self.arrivals = None;
        let Some(dir) = crate::docker::sandbox::netns_dir() else {
            debug!("no Docker netns folder yet: new tasks are configured at their start");
            return;
        };
        match Arrivals::start(&dir, subnet, crate::docker::valid_container_id) {
            Ok(a) => {
                debug!("watching {} for new namespaces", dir.display());
                self.arrivals = Some(a);
            }
            Err(e) => warn!("{e}; new tasks are configured at their start"),
        }
    }
}

impl Runner {
    pub fn new(launch: Launch, cfg: Config, telemetry: Arc<Telemetry>) -> Runner {
        let parallel = (2 * crate::node::default_workers()).clamp(2, 16);
        Runner {
            launch,
            settings: Settings::new(cfg),
            node: None,
            work: Work::new(MIN_SYNC_INTERVAL),
            records: Records::default(),
            parallel,
            last_build_error: crate::logging::LastLine::default(),
            backend_log: BackendLog::default(),
            status_errors: crate::logging::Once::new(),
            telemetry,
            programming: Programming::default(),
            sessions: 0,
            published: None,
            arrivals: None,
        }
    }

    /// SIGHUP: reads the configuration again. It replaces the current one only once a rebuild
    /// has shown that it fits the swarm; until then, and if it does not, the old one stays
    /// (see [`Settings`]).
    pub fn reload(&mut self) {
        if self.settings.reread(&self.launch) {
            self.work.rebuild();
        }
    }

    fn audit_period(&self) -> Duration {
        let every = self.settings.current().resync_interval;
        if every.is_zero() {
            Duration::from_secs(crate::config::MAX_RESYNC_INTERVAL_SECS)
        } else {
            every
        }
    }

    /// Runs until SIGTERM/SIGINT, Docker goes away, or the first configuration cannot work.
    /// The event stream is read from the start, so nothing that starts during a sync is lost.
    pub async fn session(&mut self, client: &DockerClient, signals: &mut Signals) -> Exit {
        let mut events = Box::pin(client.events());
        self.telemetry.connected(self.sessions > 0);
        self.sessions += 1;
        self.work.rebuild();
        let mut s = Session::new(self.arrivals.take(), self.sessions == 1);
        self.telemetry.set_resync_interval(self.audit_period());
        let mut audit = tokio::time::interval(self.audit_period());
        audit.reset();
        let mut sbox_watch = tokio::time::interval(Duration::from_secs(2));
        let mut sbox_id = sbox_identity(&self.launch.sbox);
        let mut view_poll = tokio::time::interval(AUTO_POLL);
        view_poll.reset();
        let exit = loop {
            self.start_work(client, &mut s);
            self.publish(&mut s);
            let wake = [
                self.work
                    .next_wake(|id| s.busy.contains(id), self.node.is_some()),
                self.publish_due(),
            ]
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
                c = async { pending_or(s.control.as_mut()).await }, if s.control.is_some() => {
                    s.control = None;
                    let period = self.audit_period();
                    if let Some(exit) = self.controlled(client, &mut s, c) {
                        break exit;
                    }
                    if self.audit_period() != period {
                        self.telemetry.set_resync_interval(self.audit_period());
                        audit = tokio::time::interval(self.audit_period());
                        audit.reset();
                    }
                }
                Some(done) = s.jobs.next(), if !s.jobs.is_empty() => self.finished(&mut s, done),
                a = async { pending_or(s.arrivals.as_mut().map(|a| a.next())).await }, if s.arrivals.is_some() => match a {
                    Some(a) => self.work.arrived(a),
                    None => {
                        warn!("the watch for new namespaces ended; new tasks are configured at their start");
                        s.arrivals = None;
                    }
                },
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
                _ = view_poll.tick(), if self.settings.current().rules.lbs.needs_view() || self.node.as_ref().is_some_and(|n| n.ports_from_sbox) => s.want_view = true,
                _ = signals.hup.recv() => self.reload(),
                _ = signals.term.recv() => break Exit::Stop,
                _ = signals.int.recv() => break Exit::Stop,
            }
        };
        self.telemetry.disconnected();
        self.arrivals = s.arrivals.take();
        exit
    }

    /// Publishes the status (`/status`, the gauges, `--status-file`) when it changed, at most
    /// once per [`MIN_SYNC_INTERVAL`]; marks the first sync done once it is.
    fn publish(&mut self, s: &mut Session) {
        self.report_loop(s);
        if s.first_sync
            && s.control.is_none()
            && s.queues.sync_started()
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
        if let Some(path) = &self.settings.current().status_file {
            if let Err(e) = status::write(path, &status) {
                if self.status_error_is_new(&e.to_string()) {
                    warn!("{e}");
                }
            }
        }
        self.telemetry
            .set_traffic_targets(self.traffic_targets(&self.launch.sbox, &status));
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

    fn status_error_is_new(&self, line: &str) -> bool {
        self.status_errors.first(line)
    }

    /// Event handlers: they only record what is to be done.
    fn record(&mut self, e: Event) {
        self.telemetry.event(e.kind());
        match e {
            Event::IngressJoined { container } => self.announced(&Unit::task(&container), false),
            Event::ContainerStart { id } => {
                let unit = Unit::task(&id);
                self.announced(&unit, true);
                self.work.announce(unit);
            }
            Event::ContainerGone { id } => {
                let unit = Unit::task(&id);
                debug!(unit = %unit, "container gone; forgotten");
                self.programming.forget(&unit);
                self.work.forget(&unit);
                self.records.forget(&unit);
                crate::docker::sandbox::forget(&id[..id.len().min(12)]);
            }
            Event::ServiceChanged => {
                if crate::node::needs_published_ports(&self.settings.current().rules) {
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
                    super::work::Next::Rebuild(view) => Box::pin(jobs::rebuild(
                        client.clone(),
                        self.launch.clone(),
                        self.settings.for_rebuild(),
                        view,
                        self.backend_log.clone(),
                    )),
                    super::work::Next::Full => {
                        s.full_sync.get_or_insert_with(Instant::now);
                        Box::pin(jobs::list(client.clone()))
                    }
                });
            } else if std::mem::take(&mut s.want_view) {
                if let Some(node) = &self.node {
                    s.control = Some(Box::pin(jobs::view(
                        client.clone(),
                        self.launch.sbox.clone(),
                        node.clone(),
                    )));
                }
            }
        }
        let Some(node) = self.node.clone() else {
            return;
        };
        let busy = &s.busy;
        let due = self.work.take_due(now, |u| busy.contains(u));
        s.queues.urgent.extend(due);
        for a in self.work.take_arrivals() {
            s.jobs.push(Box::pin(jobs::arrival(client.clone(), a)));
        }
        let timeout = self.settings.current().apply_timeout;
        while s.jobs.len() < self.parallel {
            let work = &self.work;
            let picked = s.queues.pick(
                &s.busy,
                |u| work.waiting_retry(u),
                |t| node.wants_service(&t.service),
            );
            let job: Boxed<Done> = match picked {
                None => break,
                Some(Pick::Again(unit)) => {
                    self.work.announce(unit);
                    continue;
                }
                Some(Pick::Known(t)) => {
                    s.busy.insert(Unit::task(&t.id));
                    let id = t.id.clone();
                    Box::pin(jobs::task(
                        client.clone(),
                        node.clone(),
                        id,
                        Source::Known(t),
                        timeout,
                    ))
                }
                Some(Pick::Announced(Unit::Sbox)) => {
                    s.busy.insert(Unit::Sbox);
                    Box::pin(jobs::sbox(node.clone(), self.launch.sbox.clone(), timeout))
                }
                Some(Pick::Announced(Unit::Task(id))) => {
                    s.busy.insert(Unit::Task(id.clone()));
                    Box::pin(jobs::task(
                        client.clone(),
                        node.clone(),
                        id,
                        Source::Announced,
                        timeout,
                    ))
                }
            };
            s.jobs.push(job);
        }
    }
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
