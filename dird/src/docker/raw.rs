//! One request bollard's typed models cannot answer: the verbose ingress view (its `Services`
//! field is not in the model). A plain HTTP/1.0 GET over the Engine's Unix socket.

use std::path::PathBuf;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

#[derive(Debug, thiserror::Error)]
pub enum RawError {
    #[error("Docker socket {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("Docker Engine answered {status} to {request}")]
    Status { request: String, status: String },
    #[error("Docker Engine sent a malformed HTTP response to {request}")]
    Malformed { request: String },
}

/// The Engine's Unix socket: `DOCKER_HOST=unix://…` or the default.
pub fn socket_path() -> PathBuf {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if h.starts_with("unix://") => PathBuf::from(h.trim_start_matches("unix://")),
        _ => PathBuf::from("/var/run/docker.sock"),
    }
}

/// `GET /v<major>.<minor><path>`; returns the body of a 200 answer.
pub async fn get(version: (usize, usize), path: &str) -> Result<String, RawError> {
    let socket = socket_path();
    let io = |source| RawError::Io {
        path: socket.display().to_string(),
        source,
    };
    let request = format!("/v{}.{}{}", version.0, version.1, path);
    let mut stream = UnixStream::connect(&socket).await.map_err(io)?;
    stream
        .write_all(
            format!("GET {request} HTTP/1.0\r\nHost: docker\r\nUser-Agent: dird\r\n\r\n")
                .as_bytes(),
        )
        .await
        .map_err(io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.map_err(io)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| RawError::Malformed {
            request: request.clone(),
        })?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(RawError::Status {
            request,
            status: status.to_owned(),
        });
    }
    Ok(body.to_owned())
}
