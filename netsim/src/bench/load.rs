//! The client side of the bench, run inside a client namespace: short HTTP requests from a few
//! threads for a fixed time (connections per second, latency), and one bulk download.

use std::io::{Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::http;
use crate::Error;

const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// One timed burst of short requests.
#[derive(Debug, Clone, Default)]
pub struct ConnStats {
    pub completed: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Per request, connect to close.
    pub latencies: Vec<Duration>,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
}

impl ConnStats {
    pub fn per_second(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn connect(dst: SocketAddrV4) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&SocketAddr::V4(dst), IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(s)
}

/// Connect, GET `path`, read the whole answer, close. Returns the body.
fn get(dst: SocketAddrV4, path: &str, buf: &mut Vec<u8>) -> std::io::Result<Vec<u8>> {
    buf.clear();
    let mut s = connect(dst)?;
    s.write_all(http::get_request(&dst.to_string(), path).as_bytes())?;
    s.read_to_end(buf)?;
    match http::parse_response(buf) {
        Some((200, body)) => Ok(body.to_vec()),
        Some((code, _)) => Err(std::io::Error::other(format!("HTTP {code}"))),
        None => Err(std::io::Error::other(format!(
            "not HTTP: {:?}",
            String::from_utf8_lossy(&buf[..buf.len().min(80)])
        ))),
    }
}

/// One request from inside `ns`; the answer's body as text.
pub fn one(ns: &Path, dst: SocketAddrV4) -> Result<String, Error> {
    crate::netns::run_in(ns, move || {
        let body = get(dst, "/", &mut Vec::new())
            .map_err(|e| Error::Bench(format!("GET http://{dst}/: {e}")))?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    })
}

fn worker(dst: SocketAddrV4, deadline: Instant) -> ConnStats {
    let mut st = ConnStats::default();
    let mut buf = Vec::with_capacity(1024);
    while Instant::now() < deadline {
        let t0 = Instant::now();
        match get(dst, "/", &mut buf) {
            Ok(_) => {
                st.completed += 1;
                st.latencies.push(t0.elapsed());
            }
            Err(e) => {
                st.errors += 1;
                st.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    st
}

/// `threads` clients in `ns` each loop over short requests to `dst` for `duration`.
pub fn conns(
    ns: &Path,
    dst: SocketAddrV4,
    threads: usize,
    duration: Duration,
) -> Result<ConnStats, Error> {
    crate::netns::run_in(ns, move || {
        let start = Instant::now();
        let deadline = start + duration;
        // Threads spawned here inherit this thread's network namespace.
        let parts: Vec<ConnStats> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|_| s.spawn(move || worker(dst, deadline)))
                .collect();
            hs.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        let mut all = ConnStats {
            elapsed: start.elapsed(),
            ..ConnStats::default()
        };
        for p in parts {
            all.completed += p.completed;
            all.errors += p.errors;
            all.latencies.extend(p.latencies);
            if all.first_error.is_none() {
                all.first_error = p.first_error;
            }
        }
        Ok(all)
    })
}

/// One connection downloading `bytes` of body from `dst`: bytes per second, connect to EOF.
pub fn bulk(ns: &Path, dst: SocketAddrV4, bytes: u64) -> Result<f64, Error> {
    crate::netns::run_in(ns, move || {
        let fail = |e: std::io::Error| Error::Bench(format!("bulk from {dst}: {e}"));
        let t0 = Instant::now();
        let mut s = connect(dst).map_err(fail)?;
        s.write_all(
            http::get_request(&dst.to_string(), &format!("/bulk?bytes={bytes}")).as_bytes(),
        )
        .map_err(fail)?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = s.read(&mut buf).map_err(fail)?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        let secs = t0.elapsed().as_secs_f64();
        if total < bytes {
            return Err(Error::Bench(format!(
                "bulk from {dst}: {total} bytes, expected at least {bytes}"
            )));
        }
        Ok(bytes as f64 / secs.max(1e-9))
    })
}
