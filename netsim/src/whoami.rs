//! The task's application: answers every TCP connection and UDP datagram with the peer
//! address it sees (and, for TCP, whether ECN was negotiated on the accepted socket).
//!
//! Answer format (one line): `whoami task=web.1 peer=10.0.0.2:40512 ecn=0`

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

/// Did the TCP connection negotiate ECN? (`tcp_info.tcpi_options & TCPI_OPT_ECN`)
pub fn tcp_ecn_negotiated(stream: &TcpStream) -> bool {
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
        rc == 0 && info.tcpi_options & TCPI_OPT_ECN != 0
    }
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

fn serve_tcp(listener: TcpListener, task: String, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((mut s, peer)) => {
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf);
                let ecn = tcp_ecn_negotiated(&s);
                let _ = s.write_all(answer(&task, peer, ecn).as_bytes());
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) => {
                tracing::warn!("whoami {task}: accept: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
}

fn serve_udp(sock: UdpSocket, task: String, stop: Arc<AtomicBool>) {
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        match sock.recv_from(&mut buf) {
            Ok((_, peer)) => {
                let _ = sock.send_to(answer(&task, peer, false).as_bytes(), peer);
            }
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

/// Start one server thread per (proto, port) inside `netns`; returns once all are listening.
pub fn start(
    netns: &Path,
    task: &str,
    ports: &[(Proto, u16)],
    stop: &Arc<AtomicBool>,
) -> Result<Vec<JoinHandle<()>>, Error> {
    let mut handles = Vec::new();
    for &(proto, port) in ports {
        let (tx, rx) = mpsc::channel::<Result<(), String>>();
        let task = task.to_string();
        let stop = Arc::clone(stop);
        let h = crate::netns::spawn_in(netns, move || {
            let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
            match proto {
                Proto::Tcp => {
                    match TcpListener::bind(addr).and_then(|l| l.set_nonblocking(true).map(|_| l)) {
                        Ok(l) => {
                            let _ = tx.send(Ok(()));
                            serve_tcp(l, task, stop)
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e.to_string()));
                        }
                    }
                }
                Proto::Udp => match UdpSocket::bind(addr)
                    .and_then(|s| s.set_read_timeout(Some(POLL * 4)).map(|_| s))
                {
                    Ok(s) => {
                        let _ = tx.send(Ok(()));
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
        handles.push(h);
        res.map_err(|detail| Error::Netns {
            ns: netns.display().to_string(),
            step: format!("whoami listen {port}/{proto}"),
            detail,
        })?;
    }
    Ok(handles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_round_trips() {
        let a = answer("web.1", "10.0.0.2:4000".parse().unwrap(), true);
        assert_eq!(
            parse_answer(&a),
            Some(Answer {
                task: "web.1".into(),
                peer: Ipv4Addr::new(10, 0, 0, 2),
                ecn: true
            })
        );
        assert_eq!(parse_answer("HTTP/1.0 200 OK"), None);
    }
}
