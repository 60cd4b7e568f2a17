//! `--metrics-addr`: a small HTTP/1.1 server for scrapers and healthchecks. `GET /metrics`
//! (Prometheus text, encoded by `prometheus-client`, the traffic counters read first, at most
//! every few seconds), `GET /healthz` (200 `ok`, or 503 with
//! why), `GET /status` (the status as JSON; to loopback clients only, unless
//! `--public-status`). One request per connection; a client gets 5 s to send its request head
//! (8 KiB at most); at most [`CONNECTIONS`] at once (more wait in the kernel's backlog until
//! one ends). An accept that fails (no file descriptor left, under a flood) is logged once per
//! reason and tried again after a pause: the server never stops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::Telemetry;

const HEAD_LIMIT: usize = 8192;
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once.
pub const CONNECTIONS: usize = 64;
/// How long a scrape waits for the traffic counters to be read.
const TRAFFIC_WAIT: Duration = Duration::from_secs(4);
/// The pause after a failed accept.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on --metrics-addr {addr}: {source}")]
pub struct ListenError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// Binds `addr` now (so that a taken port is reported at start-up) and serves in the
/// background for as long as the runtime runs; `public_status`: `/status` for every client.
pub async fn start(
    addr: SocketAddr,
    telemetry: Arc<Telemetry>,
    public_status: bool,
) -> Result<SocketAddr, ListenError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ListenError { addr, source })?;
    tokio::spawn(accept_loop(listener, telemetry, public_status));
    Ok(bound)
}

async fn accept_loop(listener: TcpListener, telemetry: Arc<Telemetry>, public_status: bool) {
    let slots = Arc::new(Semaphore::new(CONNECTIONS));
    let mut last_error = crate::logging::LastLine::default();
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, peer)) => {
                last_error.clear();
                let t = telemetry.clone();
                let status = public_status || peer.ip().is_loopback();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(HEAD_TIMEOUT * 2, serve(stream, &t, status)).await;
                    drop(slot);
                });
            }
            Err(e) => {
                if last_error.changed(&e.to_string()) {
                    tracing::warn!(
                        "--metrics-addr: cannot accept a connection ({e}); trying again"
                    );
                }
                tokio::time::sleep(ACCEPT_PAUSE).await;
            }
        }
    }
}

/// The request line's method and path, once the head has arrived.
async fn request_line(stream: &mut TcpStream) -> Option<(String, String)> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < HEAD_LIMIT {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        true
    };
    if !tokio::time::timeout(HEAD_TIMEOUT, read)
        .await
        .unwrap_or(false)
    {
        return None;
    }
    let text = String::from_utf8_lossy(&head);
    let mut words = text.lines().next()?.split_whitespace();
    Some((words.next()?.to_owned(), words.next()?.to_owned()))
}

/// The answer to one request: status line, content type, body; `status`: whether this client
/// may read `/status`.
pub fn answer(
    method: &str,
    path: &str,
    t: &Telemetry,
    status: bool,
) -> (&'static str, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    if method != "GET" {
        return ("405 Method Not Allowed", TEXT, "GET only\n".into());
    }
    match path.split('?').next().unwrap_or_default() {
        "/metrics" => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            t.encode(),
        ),
        "/healthz" if t.healthy() => ("200 OK", TEXT, "ok\n".into()),
        "/healthz" => (
            "503 Service Unavailable",
            TEXT,
            "not ready: the first sync is not done, or Docker has not answered lately\n".into(),
        ),
        "/status" if status => (
            "200 OK",
            "application/json",
            serde_json::to_string_pretty(&t.status()).unwrap_or_default(),
        ),
        "/status" => (
            "403 Forbidden",
            TEXT,
            "/status is served to loopback clients only (dird --public-status serves it to all)\n"
                .into(),
        ),
        _ => (
            "404 Not Found",
            TEXT,
            "not found: /metrics, /healthz, /status\n".into(),
        ),
    }
}

async fn serve(mut stream: TcpStream, t: &Arc<Telemetry>, status_allowed: bool) {
    let Some((method, path)) = request_line(&mut stream).await else {
        return;
    };
    if method == "GET" && path.split('?').next() == Some("/metrics") {
        // The traffic counters are read in namespaces (blocking); a reading that outlasts
        // TRAFFIC_WAIT ends on its own, and this scrape shows the last one.
        let t2 = t.clone();
        let read = tokio::task::spawn_blocking(move || t2.refresh_traffic());
        let _ = tokio::time::timeout(TRAFFIC_WAIT, read).await;
    }
    let (status, content_type, body) = answer(&method, &path, t, status_allowed);
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
