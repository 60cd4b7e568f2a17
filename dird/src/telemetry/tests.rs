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

#[tokio::test]
async fn the_server_answers_metrics_health_and_status() {
    let t = Arc::new(Telemetry::new());
    let addr = server::start("127.0.0.1:0".parse().expect("addr"), t.clone(), false)
        .await
        .expect("listen");
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
