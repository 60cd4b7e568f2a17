//! One request bollard's typed models cannot answer: the verbose ingress view (bollard 0.21's
//! `NetworkInspect` has its `Services` only as untyped JSON, and bollard's typed requests carry
//! no API version). A plain HTTP/1.0 GET over the Engine's Unix socket.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

#[derive(Debug, thiserror::Error)]
pub enum RawError {
    #[error("Docker socket {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// A non-200 answer; `message` is the Engine's `{"message": …}` (for example why it
    /// refuses the API version in the path), or the body as sent.
    #[error("Docker Engine answered {status} to {request}: {message}")]
    Status {
        request: String,
        status: String,
        message: String,
    },
    #[error("Docker Engine did not answer {request} within {secs} s")]
    TimedOut { request: String, secs: u64 },
    #[error("Docker Engine sent a malformed HTTP response to {request}")]
    Malformed { request: String },
    #[error("Docker Engine's answer to {request} is larger than {MAX_ANSWER} bytes")]
    TooLarge { request: String },
}

/// The largest answer read (the verbose ingress view of a big swarm is a few MiB).
pub const MAX_ANSWER: usize = 64 << 20;

/// The Engine's Unix socket: `DOCKER_HOST=unix://…` or the default.
pub fn socket_path() -> PathBuf {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if h.starts_with("unix://") => PathBuf::from(h.trim_start_matches("unix://")),
        _ => PathBuf::from("/var/run/docker.sock"),
    }
}

/// The `message` of an Engine error body, or the body itself when it is not that JSON.
fn error_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned())
}

/// How long [`get`] waits for the whole answer.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// `GET /v<major>.<minor><path>` on the Engine listening on `socket`; returns the body of a
/// 200 answer, or an error after [`TIMEOUT`].
pub async fn get(socket: &Path, version: (usize, usize), path: &str) -> Result<String, RawError> {
    let request = format!("/v{}.{}{}", version.0, version.1, path);
    tokio::time::timeout(TIMEOUT, get_unbounded(socket, &request))
        .await
        .unwrap_or_else(|_| {
            Err(RawError::TimedOut {
                request,
                secs: TIMEOUT.as_secs(),
            })
        })
}

async fn get_unbounded(socket: &Path, request: &str) -> Result<String, RawError> {
    let request = request.to_owned();
    let io = |source| RawError::Io {
        path: socket.display().to_string(),
        source,
    };
    let mut stream = UnixStream::connect(socket).await.map_err(io)?;
    stream
        .write_all(
            format!("GET {request} HTTP/1.0\r\nHost: docker\r\nUser-Agent: dird\r\n\r\n")
                .as_bytes(),
        )
        .await
        .map_err(io)?;
    let mut raw = Vec::new();
    (&mut stream)
        .take(MAX_ANSWER as u64 + 1)
        .read_to_end(&mut raw)
        .await
        .map_err(io)?;
    if raw.len() > MAX_ANSWER {
        return Err(RawError::TooLarge { request });
    }
    response_body(&request, &raw)
}

/// The body of a 200 answer `raw` (head and body) to `request`.
fn response_body(request: &str, raw: &[u8]) -> Result<String, RawError> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| RawError::Malformed {
            request: request.to_owned(),
        })?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(RawError::Status {
            request: request.to_owned(),
            status: status.chars().take(200).collect(),
            message: error_message(body).chars().take(1000).collect(),
        });
    }
    Ok(body.to_owned())
}

#[cfg(test)]
#[path = "raw_tests.rs"]
mod tests;
