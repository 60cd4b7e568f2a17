//! What the daemon tells operators while it runs: Prometheus metrics (through the
//! `prometheus-client` crate), health (first sync done, Docker reachable lately) and the
//! status of every task and load balancer ([`status`]), served by [`server`] on
//! `--metrics-addr` and written to `--status-file` for `dird status`.

mod metrics;
pub mod server;
pub mod status;
mod traffic;

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::registry::Registry;

pub use metrics::PROGRAMMING_BUCKETS;
use metrics::{KindLabel, Metrics, StateLabel};
pub use status::{LbStatus, Status, TaskState, TaskStatus};
use traffic::TrafficState;

/// How recently Docker must have answered for `/healthz` to say 200 while no session is open.
pub const DOCKER_FRESH: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Health {
    first_sync_done: bool,
    connected: bool,
    last_docker_ok: Option<Instant>,
}

/// The daemon's metrics, health and status; shared between the runner and the server.
pub struct Telemetry {
    registry: Registry,
    m: Metrics,
    health: Mutex<Health>,
    status: Mutex<Status>,
    traffic: Mutex<TrafficState>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new()
    }
}

impl Telemetry {
    pub fn new() -> Telemetry {
        let mut registry = Registry::with_prefix("dird");
        let m = Metrics::register(&mut registry);
        Telemetry {
            registry,
            m,
            health: Mutex::new(Health::default()),
            status: Mutex::new(Status::default()),
            traffic: Mutex::new(TrafficState::default()),
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        self.m.healthy.set(i64::from(self.healthy()));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn applied(&self, kind: &'static str, took: Duration) {
        self.m
            .apply_seconds
            .get_or_create(&KindLabel { kind })
            .observe(took.as_secs_f64());
    }

    /// An apply (or the read before it) of `kind` failed.
    pub fn apply_failed(&self, kind: &'static str) {
        self.m
            .apply_failures
            .get_or_create(&KindLabel { kind })
            .inc();
    }

    /// An apply of `kind` was given up at its deadline.
    pub fn apply_abandoned(&self, kind: &'static str) {
        self.m
            .applies_abandoned
            .get_or_create(&KindLabel { kind })
            .inc();
    }

    pub fn drift_repaired(&self) {
        self.m.drift_repairs.inc();
    }

    /// A task got its rules `after` its first announcing event (zero: before it).
    pub fn task_programmed(&self, after: Duration) {
        self.m.event_to_configured.observe(after.as_secs_f64());
    }

    /// A task's `start` event came when its rules were already in place.
    pub fn configured_before_start(&self) {
        self.m.configured_before_start.inc();
    }

    /// A full sync ended now, after `took`.
    pub fn full_sync_done(&self, took: Duration) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.m.full_sync_last.set(now);
        self.m.full_sync_seconds.observe(took.as_secs_f64());
    }

    pub fn set_resync_interval(&self, every: Duration) {
        self.m.resync_interval.set(every.as_secs_f64());
    }

    /// Namespaces waiting for a look or an apply: the sbox (0 or 1) and tasks.
    pub fn set_pending(&self, sbox: usize, tasks: usize) {
        for (kind, n) in [("sbox", sbox), ("task", tasks)] {
            self.m
                .pending_work
                .get_or_create(&KindLabel { kind })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    pub fn event(&self, kind: &'static str) {
        self.m.events.get_or_create(&KindLabel { kind }).inc();
        self.docker_answered();
    }

    /// A session with Docker began (`reconnect`: not the first).
    pub fn connected(&self, reconnect: bool) {
        if reconnect {
            self.m.reconnects.inc();
        }
        self.m.docker_connected.set(1);
        let mut h = lock(&self.health);
        h.connected = true;
        h.last_docker_ok = Some(Instant::now());
    }

    pub fn disconnected(&self) {
        self.m.docker_connected.set(0);
        lock(&self.health).connected = false;
    }

    pub fn docker_answered(&self) {
        lock(&self.health).last_docker_ok = Some(Instant::now());
    }

    pub fn first_sync_done(&self) {
        lock(&self.health).first_sync_done = true;
    }

    /// `/healthz`: the first sync is done and Docker is connected or answered lately.
    pub fn healthy(&self) -> bool {
        let h = lock(&self.health);
        h.first_sync_done
            && (h.connected || h.last_docker_ok.is_some_and(|t| t.elapsed() < DOCKER_FRESH))
    }

    /// Replaces the status (and the gauges that count it).
    pub fn set_status(&self, status: Status) {
        for state in TaskState::ALL {
            let n = status.tasks.iter().filter(|t| t.state == state).count();
            self.m
                .tasks
                .get_or_create(&StateLabel {
                    state: state.name(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        self.m
            .load_balancers
            .set(i64::try_from(status.load_balancers.len()).unwrap_or(i64::MAX));
        *lock(&self.status) = status;
    }

    pub fn status(&self) -> Status {
        lock(&self.status).clone()
    }

    /// Where the traffic metrics are read from now on.
    pub fn set_traffic_targets(&self, targets: crate::traffic::Targets) {
        lock(&self.traffic).targets = targets;
    }

    /// Reads the traffic metrics afresh unless they were read lately (blocking: the server
    /// calls it off the runtime's threads before it encodes `/metrics`).
    pub fn refresh_traffic(&self) {
        lock(&self.traffic).refresh(&self.m);
    }

    #[cfg(test)]
    fn record_traffic(&self, s: &crate::traffic::Sample) {
        lock(&self.traffic).record(&self.m, s);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests;
