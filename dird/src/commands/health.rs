//! `dird health`: asks a running daemon's `/healthz` (its `--metrics-addr`) and answers with
//! the exit status, for container healthchecks where no HTTP client is installed (the image
//! has none). One `GET`, a bounded wait, the status line and body printed as one line.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The daemon's reply, or why there was none.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("no answer from http://{addr}/healthz: {source}")]
    Io {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("http://{addr}/healthz did not answer with HTTP: {head:?}")]
    NotHttp { addr: SocketAddr, head: String },
}

/// A reply: its HTTP status and its body (trimmed).
#[derive(Debug, PartialEq, Eq)]
pub struct Health {
    pub status: u16,
    pub body: String,
}

impl Health {
    pub fn healthy(&self) -> bool {
        self.status == 200
    }

    /// One line: `healthy: ok` or `unhealthy (503): why`.
    pub fn render(&self) -> String {
        let body = self.body.lines().collect::<Vec<_>>().join(" ");
        if self.healthy() {
            format!("healthy: {body}\n")
        } else {
            format!("unhealthy ({}): {body}\n", self.status)
        }
    }
}

/// `GET /healthz` on `addr`, giving up after `timeout` for each of connect, send and receive.
pub fn ask(addr: SocketAddr, timeout: Duration) -> Result<Health, HealthError> {
    let io = |source| HealthError::Io { addr, source };
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut reply = Vec::new();
    // A body of a few lines at most; more is cut off rather than waited for.
    stream.take(64 * 1024).read_to_end(&mut reply).map_err(io)?;
    parse(addr, &String::from_utf8_lossy(&reply))
}

fn parse(addr: SocketAddr, reply: &str) -> Result<Health, HealthError> {
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((reply, ""));
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| HealthError::NotHttp {
            addr,
            head: status_line.chars().take(80).collect(),
        })?;
    Ok(Health {
        status,
        body: body.trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server that answers one connection with `reply` after reading the request head.
    fn serve_once(reply: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(reply.as_bytes());
            }
        });
        addr
    }

    #[test]
    fn a_200_is_healthy_and_anything_else_is_not() {
        let addr = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
        let h = ask(addr, Duration::from_secs(5)).expect("answer");
        assert!(h.healthy());
        assert_eq!(h.render(), "healthy: ok\n");
        let addr = serve_once(
            "HTTP/1.1 503 Service Unavailable\r\n\r\nthe first sync is not done\nDocker: never\n",
        );
        let h = ask(addr, Duration::from_secs(5)).expect("answer");
        assert!(!h.healthy());
        assert_eq!(
            h.render(),
            "unhealthy (503): the first sync is not done Docker: never\n"
        );
    }

    #[test]
    fn no_daemon_and_no_http_are_errors_naming_the_address() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let e = ask(addr, Duration::from_secs(5)).expect_err("nobody listens");
        assert!(
            e.to_string().contains(&format!("http://{addr}/healthz")),
            "{e}"
        );
        let addr = serve_once("SSH-2.0-OpenSSH\r\n");
        let e = ask(addr, Duration::from_secs(5)).expect_err("not HTTP");
        assert!(matches!(e, HealthError::NotHttp { .. }), "{e}");
    }
}
