//! Every Prometheus metric dird serves, registered under `dird_` with the help text that says
//! what it measures (README "Metrics" lists them). Label values come from fixed sets (a state,
//! a kind), from this node's load-balancer ID and rule filters, or — only with
//! `--conntrack-metrics` — from the tasks on this node: cardinality stays bounded.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabel {
    pub version: &'static str,
}

/// A stamping rule of this node's sbox: the load-balancer ID it stamps, and its filter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StampLabels {
    pub load_balancer: String,
    pub protocol: String,
    pub ports: String,
}

/// A task's connections through one load balancer.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabels {
    pub task: String,
    pub service: String,
    pub load_balancer: String,
}

/// Apply latency buckets: 1 ms to about 33 s.
fn apply_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Event → configured buckets, seconds: 0 (configured first) up to 5 minutes.
pub const PROGRAMMING_BUCKETS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

type FloatGauge = Gauge<f64, AtomicU64>;

pub struct Metrics {
    pub tasks: Family<StateLabel, Gauge>,
    pub apply_seconds: Family<KindLabel, Histogram, fn() -> Histogram>,
    pub apply_failures: Family<KindLabel, Counter>,
    pub applies_abandoned: Family<KindLabel, Counter>,
    pub drift_repairs: Counter,
    pub reconnects: Counter,
    pub events: Family<KindLabel, Counter>,
    pub load_balancers: Gauge,
    pub event_to_configured: Histogram,
    pub configured_before_start: Counter,
    pub full_sync_last: FloatGauge,
    pub full_sync_seconds: Histogram,
    pub resync_interval: FloatGauge,
    pub pending_work: Family<KindLabel, Gauge>,
    pub healthy: Gauge,
    pub docker_connected: Gauge,
    pub stamped_packets: Family<StampLabels, Counter>,
    pub stamped_bytes: Family<StampLabels, Counter>,
    pub task_connections: Family<ConnectionLabels, Gauge>,
    pub traffic_read_failures: Counter,
}

impl Metrics {
    /// The metrics, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            tasks: Family::default(),
            apply_seconds: Family::new_with_constructor(apply_histogram),
            apply_failures: Family::default(),
            applies_abandoned: Family::default(),
            drift_repairs: Counter::default(),
            reconnects: Counter::default(),
            events: Family::default(),
            load_balancers: Gauge::default(),
            event_to_configured: Histogram::new(PROGRAMMING_BUCKETS),
            configured_before_start: Counter::default(),
            full_sync_last: FloatGauge::default(),
            full_sync_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 16)),
            resync_interval: FloatGauge::default(),
            pending_work: Family::default(),
            healthy: Gauge::default(),
            docker_connected: Gauge::default(),
            stamped_packets: Family::default(),
            stamped_bytes: Family::default(),
            task_connections: Family::default(),
            traffic_read_failures: Counter::default(),
        };
        let r = registry;
        r.register(
            "tasks",
            "Service tasks on this node by state (configured, failing, pending)",
            m.tasks.clone(),
        );
        r.register(
            "apply_seconds",
            "Time to bring one namespace to its plan, by kind (sbox, task)",
            m.apply_seconds.clone(),
        );
        r.register(
            "apply_failures",
            "Applies (and reads before them) that failed, by kind (sbox, task); each is retried",
            m.apply_failures.clone(),
        );
        r.register("applies_abandoned", "Applies given up at --apply-timeout, by kind (their children killed; counted among the failures too)", m.applies_abandoned.clone());
        r.register(
            "drift_repairs",
            "Applies that changed a namespace dird had already configured (drift repaired)",
            m.drift_repairs.clone(),
        );
        r.register(
            "docker_reconnects",
            "Connections to the Docker Engine after the first",
            m.reconnects.clone(),
        );
        r.register("events", "Docker events handled, by kind", m.events.clone());
        r.register(
            "load_balancers",
            "Load balancers this node knows",
            m.load_balancers.clone(),
        );
        r.register("event_to_configured_seconds", "Per task: from the first Docker event that announced it (ingress network connect or container start) to its rules in place; 0 when its rules were in place first (as kube-proxy's network_programming_duration_seconds)", m.event_to_configured.clone());
        r.register(
            "tasks_configured_before_start",
            "Tasks whose rules were in place before Docker's start event for them",
            m.configured_before_start.clone(),
        );
        r.register("full_sync_last_timestamp_seconds", "When the last full sync (every namespace looked at and brought to its plan, without a failure) ended, seconds since the Unix epoch", m.full_sync_last.clone());
        r.register(
            "full_sync_duration_seconds",
            "Duration of full syncs, from the listing of the tasks to the last apply",
            m.full_sync_seconds.clone(),
        );
        r.register(
            "resync_interval_seconds",
            "--resync-interval: the longest time between two full syncs",
            m.resync_interval.clone(),
        );
        r.register(
            "pending_work",
            "Namespaces waiting for a look or an apply, by kind (sbox, task)",
            m.pending_work.clone(),
        );
        r.register(
            "healthy",
            "1 when /healthz answers 200 (first sync done, Docker answered within 60 s), else 0",
            m.healthy.clone(),
        );
        r.register(
            "docker_connected",
            "1 while dird holds an event stream of the Docker Engine, else 0",
            m.docker_connected.clone(),
        );
        r.register("stamped_packets", "Packets this node's ingress_sbox stamped with its load-balancer ID, by load balancer, protocol and ports of the rule (read at scrape)", m.stamped_packets.clone());
        r.register("stamped_bytes", "Bytes this node's ingress_sbox stamped with its load-balancer ID, by load balancer, protocol and ports of the rule (read at scrape)", m.stamped_bytes.clone());
        r.register("task_connections", "Connections tracked in each task by the load balancer that sent them (its mark); only with --conntrack-metrics", m.task_connections.clone());
        r.register(
            "traffic_read_failures",
            "Scrape-time reads of the sbox's counters or a task's conntrack table that failed",
            m.traffic_read_failures.clone(),
        );
        let build_info = Family::<VersionLabel, Gauge>::default();
        r.register("build_info", "dird's version", build_info.clone());
        build_info
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        m
    }
}
