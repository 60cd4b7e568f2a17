//! The runner: one connected session with Docker. Event handlers only record work
//! ([`Work`]); the loop starts it — at most one Docker-wide question at a time (rebuild,
//! listing, the swarm's view) and up to `parallel` namespaces at a time, each under its
//! deadline — and keeps reading events and signals meanwhile, so that no namespace stalls
//! the daemon.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tracing::{debug, error, info, warn};

use super::jobs::{self, Control, Done, Source};
use super::records::Records;
use super::schedule::{Pick, Queues};
use super::unit::Unit;
use super::work::Work;
use super::{sbox_identity, Launch, Signals};
use crate::config::{self, Config, ConfigError};
use crate::docker::{DockerClient, Event};
use crate::netns::arrivals::Arrivals;
use crate::node::Node;
use crate::telemetry::{status, Telemetry};

/// Minimum interval between two rebuilds or full syncs (bursts of events coalesce).
pub const MIN_SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// How often `--ingress-gateway-ips auto` re-reads the swarm's view (network events also do).
pub const AUTO_POLL: Duration = Duration::from_secs(10);

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
    pub(super) launch: Launch,
    pub(super) cfg: Config,
    /// A configuration read on SIGHUP, taken by the next rebuild if it fits the swarm.
    pub(super) candidate: Option<Config>,
    pub(super) node: Option<Node>,
    pub(super) work: Work,
    pub(super) records: Records,
    pub(super) parallel: usize,
    /// The last rebuild failure logged, so that a lasting one is logged once.
    pub(super) last_build_error: crate::logging::LastLine,
    pub(super) telemetry: Arc<Telemetry>,
    pub(super) sessions: u32,
    /// When the status was last published (to `/status` and `--status-file`).
    pub(super) published: Option<Instant>,
    /// The watch for new namespaces, kept across sessions (see [`crate::netns::arrivals`]).
    pub(super) arrivals: Option<Arrivals>,
}

/// One session's moving parts.
pub(super) struct Session {
    pub(super) control: Option<Boxed<Control>>,
    /// Whether `control` is a rebuild that used the reload candidate.
    pub(super) with_candidate: bool,
    pub(super) jobs: FuturesUnordered<Boxed<Done>>,
    pub(super) busy: HashSet<Unit>,
    /// Units waiting for a worker ([`Queues::pick`] says in which order).
    pub(super) queues: Queues,
    pub(super) arrivals: Option<Arrivals>,
    pub(super) want_view: bool,
    /// The first full sync of this runner is under way (cleared when its listed tasks and the
    /// sbox are done).
    pub(super) first_sync: bool,
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
            last_build_error: crate::logging::LastLine::default(),
            telemetry,
            sessions: 0,
            published: None,
            arrivals: None,
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
            queues: Queues::default(),
            arrivals: self.arrivals.take(),
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
                a = async { s.arrivals.as_mut().expect("guarded").next().await }, if s.arrivals.is_some() => match a {
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
                _ = view_poll.tick(), if self.cfg.rules.lbs.needs_view() => s.want_view = true,
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
            Event::IngressJoined { .. } => {}
            Event::ContainerStart { id } => self.work.announce(Unit::task(&id)),
            Event::ContainerGone { id } => {
                let unit = Unit::task(&id);
                debug!(unit = %unit, "container gone; forgotten");
                self.work.forget(&unit);
                self.records.forget(&unit);
                crate::docker::sandbox::forget(&id[..id.len().min(12)]);
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
                    super::work::Next::Rebuild(view) => {
                        s.with_candidate = self.candidate.is_some();
                        let cfg = self.candidate.clone().unwrap_or_else(|| self.cfg.clone());
                        Box::pin(jobs::rebuild(
                            client.clone(),
                            self.launch.clone(),
                            cfg,
                            view,
                        ))
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
        let due = self.work.take_due(now, |u| busy.contains(u));
        s.queues.urgent.extend(due);
        for a in self.work.take_arrivals() {
            s.jobs.push(Box::pin(jobs::arrival(client.clone(), a)));
        }
        let timeout = self.cfg.apply_timeout;
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
