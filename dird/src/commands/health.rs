//! `dird health`: asks a running daemon's `/healthz` (its `--metrics-addr`) and answers with
//! the exit status, for container healthchecks where no HTTP client is installed (the image
//! has none). One `GET`, a bounded wait, the status line and body printed as one line.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::Failure;
use crate::config::ConfigError;

/// `dird health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The daemon's --metrics-addr.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9477")]
    pub metrics_addr: String,
}

/// How long the daemon has to answer.
const TIMEOUT: Duration = Duration::from_secs(3);

/// `dird health`: one line on stdout; exit status 0 when the daemon says healthy.
pub fn exec(args: &HealthArgs) -> Result<ExitCode, HealthError> {
    let addr = args
        .metrics_addr
        .trim()
        .parse()
        .map_err(|_| ConfigError::BadAddress {
            flag: "--metrics-addr",
            value: args.metrics_addr.clone(),
        })?;
    let answer = ask(addr, TIMEOUT)?;
    print!("{}", answer.render());
    Ok(if answer.healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The daemon's reply, or why there was none (or no address to ask).
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// `--metrics-addr` is not an address.
    #[error(transparent)]
    Address(#[from] ConfigError),
    #[error("no answer from http://{addr}/healthz: {source}")]
    Io {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("http://{addr}/healthz did not answer with HTTP: {head:?}")]
    NotHttp { addr: SocketAddr, head: String },
}

impl Failure for HealthError {
    fn bad_input(&self) -> bool {
        matches!(self, HealthError::Address(_))
    }
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
#[path = "health_tests.rs"]
mod tests;
