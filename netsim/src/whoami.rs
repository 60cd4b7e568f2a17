//! The task's application: answers every TCP connection and UDP datagram with the peer
//! address it sees (and, for TCP, whether ECN was negotiated on the accepted socket).
//!
//! Answer format (one line): `whoami task=web.1 peer=10.0.0.2:40512 ecn=0`
//!
//! A TCP request starting with `GET ` gets an HTTP/1.0 answer instead (see [`crate::http`]):
//! the same line as body (plus ` xff=<X-Forwarded-For>` when a proxy sent one), or with
//! `GET /bulk?bytes=N` N bytes of body, for throughput.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::scenario::Proto;
use crate::Error;

const TCPI_OPT_ECN: u8 = 8;
const POLL: Duration = Duration::from_millis(50);

/// The socket's `TCP_INFO`.
pub fn tcp_info(stream: &TcpStream) -> Option<libc::tcp_info> {
    // SAFETY: tcp_info is plain old data; getsockopt writes at most `len` bytes into it.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        (rc == 0).then_some(info)
    }
}

/// Did the TCP connection negotiate ECN? (`tcp_info.tcpi_options & TCPI_OPT_ECN`)
pub fn tcp_ecn_negotiated(stream: &TcpStream) -> bool {
    tcp_info(stream).is_some_and(|i| i.tcpi_options & TCPI_OPT_ECN != 0)
}

pub fn answer(task: &str, peer: SocketAddr, ecn: bool) -> String {
    format!("whoami task={task} peer={peer} ecn={}\n", u8::from(ecn))
}

/// A parsed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub task: String,
    pub peer: Ipv4Addr,
    pub ecn: bool,
}

pub fn parse_answer(text: &str) -> Option<Answer> {
    let mut it = text.split_whitespace();
    if it.next()? != "whoami" {
        return None;
    }
    let (mut task, mut peer, mut ecn) = (None, None, None);
    for kv in it {
        match kv.split_once('=')? {
            ("task", v) => task = Some(v.to_string()),
            ("peer", v) => peer = v.parse::<SocketAddrV4>().ok().map(|a| *a.ip()),
            ("ecn", v) => ecn = Some(v == "1"),
            _ => {}
        }
    }
    Some(Answer {
        task: task?,
        peer: peer?,
        ecn: ecn?,
    })
}

/// Accepting threads per TCP port, so a few concurrent clients are served side by side.
const TCP_WORKERS: usize = 4;
/// Bulk answers are written in chunks of this size.
const BULK_CHUNK: usize = 64 * 1024;

/// Wait until the listener has a connection to accept, at most `POLL`.
fn readable(listener: &TcpListener) -> bool {
    let mut fd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(POLL.as_millis()).unwrap_or(50);
    // SAFETY: one valid pollfd, count 1.
    unsafe { libc::poll(&mut fd, 1, ms) > 0 }
}

/// Read the rest of an HTTP request head (the first chunk is in `buf[..n]`).
fn read_head(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 1024];
    while !crate::http::head_complete(buf) && buf.len() < crate::http::MAX_HEAD {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

/// Answer one HTTP GET: `/bulk?bytes=N` streams N bytes, anything else gets the whoami line
/// (plus `xff=` when a proxy sent `X-Forwarded-For`).
fn answer_http(
    s: &mut TcpStream,
    head: &[u8],
    task: &str,
    peer: SocketAddr,
) -> std::io::Result<()> {
    let req = crate::http::parse_request(head).unwrap_or(crate::http::Request {
        path: "/".into(),
        forwarded_for: None,
    });
    if let Some(mut left) = crate::http::bulk_bytes(&req.path) {
        s.write_all(crate::http::response_head(left, "application/octet-stream").as_bytes())?;
        let chunk = vec![b'x'; BULK_CHUNK];
        while left > 0 {
            let n = usize::try_from(left).map_or(BULK_CHUNK, |l| l.min(BULK_CHUNK));
            s.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        return Ok(());
    }
    let mut body = answer(task, peer, tcp_ecn_negotiated(s));
    if let Some(xff) = &req.forwarded_for {
        body.insert_str(
            body.len() - 1,
            &format!(" xff={}", xff.replace(char::is_whitespace, "")),
        );
    }
    s.write_all(crate::http::response_head(body.len() as u64, "text/plain").as_bytes())?;
    s.write_all(body.as_bytes())
}

fn handle_tcp(mut s: TcpStream, peer: SocketAddr, task: &str) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap_or(0);
    if crate::http::is_get(&buf[..n]) {
        let mut head = buf[..n].to_vec();
        let res =
            read_head(&mut s, &mut head).and_then(|()| answer_http(&mut s, &head, task, peer));
        if let Err(e) = res {
            tracing::debug!("whoami {task}: http from {peer}: {e}");
        }
    } else {
        let ecn = tcp_ecn_negotiated(&s);
        let _ = s.write_all(answer(task, peer, ecn).as_bytes());
    }
    let _ = s.shutdown(std::net::Shutdown::Both);
}

fn accept_loop(listener: &TcpListener, task: &str, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        if !readable(listener) {
            continue;
        }
        match listener.accept() {
            Ok((s, peer)) => handle_tcp(s, peer, task),
            // Another worker took it.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => {
                tracing::warn!("whoami {task}: accept: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
}

/// `TCP_WORKERS` threads accept on the same listener; returns when `stop` is set.
fn serve_tcp(listener: TcpListener, task: String, stop: Arc<AtomicBool>) {
    let mut workers = Vec::new();
    for _ in 1..TCP_WORKERS {
        let Ok(l) = listener.try_clone() else { break };
        let (task, stop) = (task.clone(), Arc::clone(&stop));
        workers.push(std::thread::spawn(move || accept_loop(&l, &task, &stop)));
    }
    accept_loop(&listener, &task, &stop);
    for w in workers {
        let _ = w.join();
    }
}

fn serve_udp(sock: UdpSocket, task: String, stop: Arc<AtomicBool>) {
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        match sock.recv_from(&mut buf) {
            Ok((_, peer)) => {
                let _ = sock.send_to(answer(&task, peer, false).as_bytes(), peer);
            }
            // [`Server::stop_all`] shut the socket down: the receive returned at once.
            Err(_) if stop.load(Ordering::Relaxed) => break,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => {
                tracing::warn!("whoami {task}: recv: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
}

/// One whoami server thread, and for UDP a handle on its socket.
pub struct Server {
    thread: JoinHandle<()>,
    udp: Option<UdpSocket>,
}

impl Server {
    /// Ends the servers once `stop` is set: their UDP sockets are shut down for reading, so a
    /// receive waiting for its timeout returns at once, then every thread is joined.
    pub fn stop_all(servers: Vec<Server>) {
        for s in &servers {
            if let Some(sock) = &s.udp {
                // Unconnected UDP: ENOTCONN, yet the socket is shut down and its reader woken.
                let _ = socket2::SockRef::from(sock).shutdown(std::net::Shutdown::Read);
            }
        }
        for s in servers {
            let _ = s.thread.join();
        }
    }
}

/// Start one server thread per (proto, port) inside `netns`; returns once all are listening.
/// The pairs must be distinct (see [`crate::scenario::Service::listen_ports`]): a second
/// bind of one port and protocol fails with `Address already in use`.
pub fn start(
    netns: &Path,
    task: &str,
    ports: &[(Proto, u16)],
    stop: &Arc<AtomicBool>,
) -> Result<Vec<Server>, Error> {
    let mut handles = Vec::new();
    for &(proto, port) in ports {
        let (tx, rx) = mpsc::channel::<Result<Option<UdpSocket>, String>>();
        let task = task.to_string();
        let stop = Arc::clone(stop);
        let h = crate::netns::spawn_in(netns, move || {
            let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
            match proto {
                Proto::Tcp => {
                    match TcpListener::bind(addr).and_then(|l| l.set_nonblocking(true).map(|_| l)) {
                        Ok(l) => {
                            let _ = tx.send(Ok(None));
                            serve_tcp(l, task, stop)
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e.to_string()));
                        }
                    }
                }
                Proto::Udp => match UdpSocket::bind(addr)
                    .and_then(|s| s.set_read_timeout(Some(POLL * 4)).map(|_| s))
                    .and_then(|s| s.try_clone().map(|c| (s, c)))
                {
                    Ok((s, handle)) => {
                        let _ = tx.send(Ok(Some(handle)));
                        serve_udp(s, task, stop)
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                },
            }
        })?;
        let res = rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        let udp = res.map_err(|detail| Error::Netns {
            ns: netns.display().to_string(),
            step: format!("whoami listen {port}/{proto}"),
            source: detail.into(),
        })?;
        handles.push(Server { thread: h, udp });
    }
    Ok(handles)
}

#[cfg(test)]
#[path = "whoami_tests.rs"]
mod tests;
