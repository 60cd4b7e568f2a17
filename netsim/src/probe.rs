//! The client side: one request from a client namespace to a node's published port.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::scenario::Proto;
use crate::whoami::{parse_answer, tcp_info, Answer};
use crate::Error;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const READ_TIMEOUT: Duration = Duration::from_secs(3);
const UDP_TRIES: u32 = 3;
const UDP_WAIT: Duration = Duration::from_secs(1);
/// How long a late UDP answer is waited for after more than one datagram was sent.
const UDP_DRAIN: Duration = Duration::from_millis(100);
/// How long the task may take to acknowledge our FIN.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// `TCP_CLOSE` of `include/net/tcp_states.h`.
const TCP_CLOSE: u8 = 7;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The task answered.
    Answer(Answer),
    /// No answer (timeout, refused, reset, garbage); the reason.
    Unreachable(String),
    /// A UDP answer came from another address than the one asked.
    WrongSource { from: SocketAddr, answer: String },
}

fn tcp(dst: SocketAddrV4, tos: u8) -> Outcome {
    let run = || -> std::io::Result<String> {
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        if tos != 0 {
            s.set_tos_v4(u32::from(tos))?;
        }
        s.connect_timeout(&SockAddr::from(dst), CONNECT_TIMEOUT)?;
        s.set_read_timeout(Some(READ_TIMEOUT))?;
        let mut stream: TcpStream = s.into();
        let mut text = String::new();
        let res = stream
            .write_all(b"netsim probe\n")
            .and_then(|()| stream.read_to_string(&mut text));
        close_and_wait(&stream, dst);
        res.map(|_| text)
    };
    match run() {
        Ok(text) => match parse_answer(&text) {
            Some(a) => Outcome::Answer(a),
            None => Outcome::Unreachable(format!("unexpected answer {text:?}")),
        },
        Err(e) => Outcome::Unreachable(e.to_string()),
    }
}

/// Sends our FIN and waits (at most `CLOSE_TIMEOUT`) until the socket is closed, i.e. the
/// task acknowledged it: that ACK, the last packet of the task, has then gone through the load
/// balancer's counters, and cannot be counted for the next probe. Returns whether it closed.
fn close_and_wait(stream: &TcpStream, dst: SocketAddrV4) -> bool {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    loop {
        match tcp_info(stream) {
            Some(i) if i.tcpi_state != TCP_CLOSE => {
                if Instant::now() >= deadline {
                    tracing::debug!(
                        "probe {dst}: still in TCP state {} after our FIN",
                        i.tcpi_state
                    );
                    return false;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Some(_) => return true,
            None => return false,
        }
    }
}

/// After more than one datagram, an answer to an earlier one may still be on its way: it is
/// waited for (at most `UDP_DRAIN` each) so that the load balancer counts it for this probe.
fn drain(sock: &UdpSocket) {
    let mut buf = [0u8; 512];
    if sock.set_read_timeout(Some(UDP_DRAIN)).is_ok() {
        for _ in 0..UDP_TRIES {
            if sock.recv_from(&mut buf).is_err() {
                break;
            }
        }
    }
}

fn udp(dst: SocketAddrV4, tos: u8) -> Outcome {
    let run = || -> std::io::Result<Outcome> {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        if tos != 0 {
            s.set_tos_v4(u32::from(tos))?;
        }
        s.bind(&SockAddr::from(SocketAddrV4::new(
            std::net::Ipv4Addr::UNSPECIFIED,
            0,
        )))?;
        let sock: UdpSocket = s.into();
        sock.set_read_timeout(Some(UDP_WAIT))?;
        let mut buf = [0u8; 512];
        let mut last = String::from("no answer");
        for sent in 1..=UDP_TRIES {
            sock.send_to(b"netsim probe\n", dst)?;
            match sock.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if sent > 1 {
                        drain(&sock);
                    }
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    if from != SocketAddr::V4(dst) {
                        return Ok(Outcome::WrongSource { from, answer: text });
                    }
                    return Ok(match parse_answer(&text) {
                        Some(a) => Outcome::Answer(a),
                        None => Outcome::Unreachable(format!("unexpected answer {text:?}")),
                    });
                }
                Err(e) => last = e.to_string(),
            }
        }
        drain(&sock);
        Ok(Outcome::Unreachable(format!(
            "{UDP_TRIES} datagrams, {last}"
        )))
    };
    run().unwrap_or_else(|e| Outcome::Unreachable(e.to_string()))
}

/// Send one request from inside `client_ns` to `dst`, with the client's TOS byte.
pub fn probe(client_ns: &Path, dst: SocketAddrV4, proto: Proto, tos: u8) -> Result<Outcome, Error> {
    crate::netns::run_in(client_ns, move || {
        Ok(match proto {
            Proto::Tcp => tcp(dst, tos),
            Proto::Udp => udp(dst, tos),
        })
    })
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod tests;
