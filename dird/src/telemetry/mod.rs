//! What the daemon tells operators while it runs: Prometheus metrics (through the
//! `prometheus-client` crate), health (first sync done, Docker reachable lately) and the
//! status of every task and load balancer ([`status`]), served by [`server`] on
//! `--metrics-addr` and written to `--status-file` for `dird status`.

pub mod server;
pub mod status;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

pub use status::{LbStatus, Status, TaskState, TaskStatus};

/// How recently Docker must have answered for `/healthz` to say 200 while no session is open.
pub const DOCKER_FRESH: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// Apply latency buckets: 1 ms to about 33 s.
fn apply_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

#[derive(Debug, Default)]
struct Health {
    first_sync_done: bool,
    connected: bool,
    last_docker_ok: Option<Instant>,
}

/// The daemon's metrics, health and status; shared between the runner and the server.
pub struct Telemetry {
    registry: Registry,
    tasks: Family<StateLabel, Gauge>,
    apply_seconds: Family<KindLabel, Histogram, fn() -> Histogram>,
    drift_repairs: Counter,
    reconnects: Counter,
    events: Family<KindLabel, Counter>,
    load_balancers: Gauge,
    health: Mutex<Health>,
    status: Mutex<Status>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new()
    }
}

impl Telemetry {
    pub fn new() -> Telemetry {
        let mut registry = Registry::with_prefix("dird");
        let tasks = Family::<StateLabel, Gauge>::default();
        let apply_seconds = Family::<KindLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            apply_histogram,
        );
        let drift_repairs = Counter::default();
        let reconnects = Counter::default();
        let events = Family::<KindLabel, Counter>::default();
        let load_balancers = Gauge::default();
        let build_info = Family::<VersionLabel, Gauge>::default();
        registry.register(
            "tasks",
            "Service tasks on this node by state (configured, failing, pending)",
            tasks.clone(),
        );
        registry.register(
            "apply_seconds",
            "Time to bring one namespace to its plan, by kind (sbox, task)",
            apply_seconds.clone(),
        );
        registry.register(
            "drift_repairs",
            "Applies that changed a namespace dird had already configured (drift repaired)",
            drift_repairs.clone(),
        );
        registry.register(
            "docker_reconnects",
            "Connections to the Docker Engine after the first",
            reconnects.clone(),
        );
        registry.register("events", "Docker events handled, by kind", events.clone());
        registry.register(
            "load_balancers",
            "Load balancers this node knows",
            load_balancers.clone(),
        );
        registry.register("build_info", "dird's version", build_info.clone());
        build_info
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        Telemetry {
            registry,
            tasks,
            apply_seconds,
            drift_repairs,
            reconnects,
            events,
            load_balancers,
            health: Mutex::new(Health::default()),
            status: Mutex::new(Status::default()),
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn applied(&self, kind: &'static str, took: Duration) {
        self.apply_seconds
            .get_or_create(&KindLabel { kind })
            .observe(took.as_secs_f64());
    }

    pub fn drift_repaired(&self) {
        self.drift_repairs.inc();
    }

    pub fn event(&self, kind: &'static str) {
        self.events.get_or_create(&KindLabel { kind }).inc();
        self.docker_answered();
    }

    /// A session with Docker began (`reconnect`: not the first).
    pub fn connected(&self, reconnect: bool) {
        if reconnect {
            self.reconnects.inc();
        }
        let mut h = lock(&self.health);
        h.connected = true;
        h.last_docker_ok = Some(Instant::now());
    }

    pub fn disconnected(&self) {
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
            self.tasks
                .get_or_create(&StateLabel {
                    state: state.name(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        self.load_balancers
            .set(i64::try_from(status.load_balancers.len()).unwrap_or(i64::MAX));
        *lock(&self.status) = status;
    }

    pub fn status(&self) -> Status {
        lock(&self.status).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests;
