use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

fn task(id: &str, state: TaskState) -> TaskStatus {
    TaskStatus {
        id: id.into(),
        service: "web".into(),
        netns: PathBuf::from(format!("/run/docker/netns/{id}")),
        state,
        lb_tables: vec![7002],
        last_apply: Some(1),
        configured_at_ms: None,
        last_error: None,
    }
}

#[test]
fn metrics_count_tasks_applies_and_load_balancers() {
    let t = Telemetry::new();
    t.set_status(Status {
        tasks: vec![
            task("aaaaaaaaaaaa", TaskState::Configured),
            task("bbbbbbbbbbbb", TaskState::Configured),
            task("cccccccccccc", TaskState::Failing),
        ],
        load_balancers: vec![LbStatus {
            id: 2,
            ip: [10, 0, 0, 2].into(),
            table: 7002,
            this_node: true,
        }],
        ..Status::default()
    });
    t.applied("task", Duration::from_millis(3));
    t.drift_repaired();
    t.event("start");
    let text = t.encode();
    for want in [
        "dird_tasks{state=\"configured\"} 2",
        "dird_tasks{state=\"failing\"} 1",
        "dird_tasks{state=\"pending\"} 0",
        "dird_apply_seconds_count{kind=\"task\"} 1",
        "dird_drift_repairs_total 1",
        "dird_events_total{kind=\"start\"} 1",
        "dird_load_balancers 1",
        "dird_build_info{version=\"",
    ] {
        assert!(text.contains(want), "{want} not in:\n{text}");
    }
}

#[test]
fn healthy_once_the_first_sync_is_done_and_docker_is_there() {
    let t = Telemetry::new();
    assert!(!t.healthy());
    t.connected(false);
    assert!(!t.healthy(), "no sync yet");
    t.first_sync_done();
    assert!(t.healthy());
    // Docker gone a moment ago: still within the freshness window.
    t.disconnected();
    assert!(t.healthy());
}

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

/// The server on a free loopback port, `/status` for loopback clients only.
async fn serve(t: &Arc<Telemetry>) -> std::net::SocketAddr {
    server::start("127.0.0.1:0".parse().expect("addr"), t.clone(), false)
        .await
        .expect("listen")
}

#[tokio::test]
async fn the_server_answers_metrics_health_and_status() {
    let t = Arc::new(Telemetry::new());
    let addr = serve(&t).await;
    assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 503"));
    t.connected(false);
    t.first_sync_done();
    assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
    let metrics = get(addr, "/metrics").await;
    assert!(metrics.contains("dird_build_info"), "{metrics}");
    t.set_status(Status {
        tasks: vec![task("aaaaaaaaaaaa", TaskState::Configured)],
        ..Status::default()
    });
    let status = get(addr, "/status").await;
    assert!(status.contains("\"state\": \"configured\""), "{status}");
    assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
}

#[tokio::test]
async fn at_most_connections_are_served_at_once_and_the_next_waits_for_a_free_one() {
    let t = Arc::new(Telemetry::new());
    let addr = serve(&t).await;
    // Connections that send nothing hold their slot until their head's timeout.
    let mut idle = Vec::new();
    for _ in 0..server::CONNECTIONS {
        idle.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    }
    let next = tokio::spawn(get(addr, "/metrics"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !next.is_finished(),
        "a connection beyond the {} served at once was answered",
        server::CONNECTIONS
    );
    // One idle client leaves: its slot goes to the waiting connection.
    drop(idle.pop());
    let answer = tokio::time::timeout(Duration::from_secs(3), next)
        .await
        .expect("answered once a slot was free")
        .expect("join");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn status_goes_to_loopback_clients_only_unless_public() {
    let t = Telemetry::new();
    assert_eq!(server::answer("GET", "/status", &t, true).0, "200 OK");
    let (line, _, body) = server::answer("GET", "/status", &t, false);
    assert_eq!(line, "403 Forbidden");
    assert!(body.contains("--public-status"), "{body}");
    // Metrics and health are for every scraper.
    assert_eq!(server::answer("GET", "/metrics", &t, false).0, "200 OK");
    assert_ne!(
        server::answer("GET", "/healthz", &t, false).0,
        "403 Forbidden"
    );
}

#[test]
fn the_status_file_round_trips() {
    let dir = std::env::temp_dir().join(format!("dird-status-{}", std::process::id()));
    let path = dir.join("status.json");
    let s = Status {
        taken: 5,
        node_ip: Some([10, 0, 0, 2].into()),
        tasks: vec![task("aaaaaaaaaaaa", TaskState::Failing)],
        load_balancers: Vec::new(),
    };
    status::write(&path, &s).expect("write");
    assert_eq!(status::read(&path).expect("read"), s);
    std::fs::remove_dir_all(&dir).expect("clean");
    assert!(status::read(&path).is_err());
}

#[test]
fn the_status_file_is_the_owners_alone_and_never_written_through_a_planted_link() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("dird-status-link-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("status.json");
    let victim = dir.join("victim");
    std::fs::write(&victim, "untouched").expect("victim");
    // Links at the names a temporary file beside the status could be expected under.
    for name in ["status.json.tmp", ".status.json.tmp", "status.tmp"] {
        std::os::unix::fs::symlink(&victim, dir.join(name)).expect("link");
    }
    status::write(&path, &Status::default()).expect("write");
    status::write(&path, &Status::default()).expect("write again");
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "untouched"
    );
    let mode = std::fs::metadata(&path)
        .expect("status")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".status.json.") && n != ".status.json.tmp")
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
    std::fs::remove_dir_all(&dir).expect("clean");
}

fn sample_of(packets: u64, bytes: u64, ports: &str) -> crate::traffic::Sample {
    crate::traffic::Sample {
        stamped: Some((
            2,
            vec![crate::plan::counters::StampCounter {
                protocol: "tcp".into(),
                ports: ports.into(),
                packets,
                bytes,
            }],
        )),
        connections: vec![crate::traffic::Connections {
            task: "aaaaaaaaaaaa".into(),
            service: "web".into(),
            lb: 2,
            count: packets,
        }],
        errors: Vec::new(),
    }
}

fn value_of(text: &str, series: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ').map(str::to_owned))
}

#[test]
fn stamped_counters_only_grow_across_rule_replacements() {
    let t = Telemetry::new();
    let series = "dird_stamped_packets_total{load_balancer=\"2\",protocol=\"tcp\",ports=\"80\"}";
    t.record_traffic(&sample_of(10, 1000, "80"));
    t.record_traffic(&sample_of(25, 2500, "80"));
    assert_eq!(value_of(&t.encode(), series).as_deref(), Some("25"));
    // The rule was replaced: its counter starts again from 0; dird's goes on.
    t.record_traffic(&sample_of(4, 400, "80"));
    let text = t.encode();
    assert_eq!(value_of(&text, series).as_deref(), Some("29"), "{text}");
    assert_eq!(
        value_of(
            &text,
            "dird_stamped_bytes_total{load_balancer=\"2\",protocol=\"tcp\",ports=\"80\"}"
        )
        .as_deref(),
        Some("2900")
    );
    assert_eq!(
        value_of(
            &text,
            "dird_task_connections{task=\"aaaaaaaaaaaa\",service=\"web\",load_balancer=\"2\"}"
        )
        .as_deref(),
        Some("4")
    );
    // The filter changed: the old series ends, the new one starts.
    t.record_traffic(&sample_of(3, 300, "80,443"));
    let text = t.encode();
    assert_eq!(value_of(&text, series), None, "{text}");
    assert!(text.contains("ports=\"80,443\"} 3"), "{text}");
}

#[test]
fn failed_traffic_reads_are_counted() {
    let t = Telemetry::new();
    t.record_traffic(&crate::traffic::Sample {
        errors: vec!["x: gone".into(), "y: gone".into()],
        ..Default::default()
    });
    assert_eq!(
        value_of(&t.encode(), "dird_traffic_read_failures_total").as_deref(),
        Some("2")
    );
}

#[test]
fn loop_metrics_are_served() {
    let t = Telemetry::new();
    t.task_programmed(Duration::ZERO);
    t.task_programmed(Duration::from_millis(300));
    t.configured_before_start();
    t.full_sync_done(Duration::from_millis(20));
    t.set_resync_interval(Duration::from_secs(600));
    t.set_pending(1, 3);
    t.apply_failed("task");
    t.apply_abandoned("sbox");
    t.connected(false);
    let text = t.encode();
    for want in [
        "dird_event_to_configured_seconds_count 2",
        "dird_event_to_configured_seconds_bucket{le=\"0.01\"} 1",
        "dird_event_to_configured_seconds_bucket{le=\"0.5\"} 2",
        "dird_tasks_configured_before_start_total 1",
        "dird_full_sync_duration_seconds_count 1",
        "dird_resync_interval_seconds 600.0",
        "dird_pending_work{kind=\"task\"} 3",
        "dird_pending_work{kind=\"sbox\"} 1",
        "dird_apply_failures_total{kind=\"task\"} 1",
        "dird_applies_abandoned_total{kind=\"sbox\"} 1",
        "dird_docker_connected 1",
        "dird_healthy 0",
    ] {
        assert!(text.contains(want), "{want} not in:\n{text}");
    }
    let last: f64 = value_of(&text, "dird_full_sync_last_timestamp_seconds")
        .and_then(|v| v.parse().ok())
        .expect("a timestamp");
    assert!(last > 1.7e9, "{last}");
}

/// Every `dird_` metric the shipped dashboard and alert rules use is one dird serves.
#[test]
fn the_dashboard_and_alerts_use_served_metrics_only() {
    let t = Telemetry::new();
    // Families are served once they have a member.
    t.set_status(Status::default());
    t.applied("task", Duration::from_millis(1));
    t.apply_failed("task");
    t.apply_abandoned("task");
    t.set_pending(0, 0);
    t.event("start");
    t.record_traffic(&sample_of(1, 1, "80"));
    let text = t.encode();
    let served: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    for file in [
        "deploy/grafana/dird.json",
        "deploy/prometheus/dird-alerts.yml",
    ] {
        let body = std::fs::read_to_string(format!("{root}/{file}")).expect(file);
        let mut used = 0;
        for (i, _) in body.match_indices("dird_") {
            let name: String = body[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let base = ["_bucket", "_count", "_sum", "_total"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            assert!(
                served.contains(base),
                "{file} uses {name}, which dird does not serve (served: {served:?})"
            );
            used += 1;
        }
        assert!(used > 5, "{file}: only {used} dird_ metrics");
    }
}
