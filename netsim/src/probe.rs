//! The client side: one request from a client namespace to a node's published port.

use std::io::{Read, Write};
use std::net::{SocketAddr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::scenario::Proto;
use crate::whoami::{parse_answer, Answer};
use crate::Error;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const READ_TIMEOUT: Duration = Duration::from_secs(3);
const UDP_TRIES: u32 = 3;
const UDP_WAIT: Duration = Duration::from_secs(1);

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
            s.set_tos(u32::from(tos))?;
        }
        s.connect_timeout(&SockAddr::from(dst), CONNECT_TIMEOUT)?;
        s.set_read_timeout(Some(READ_TIMEOUT))?;
        let mut stream: std::net::TcpStream = s.into();
        stream.write_all(b"netsim probe\n")?;
        let mut text = String::new();
        stream.read_to_string(&mut text)?;
        Ok(text)
    };
    match run() {
        Ok(text) => match parse_answer(&text) {
            Some(a) => Outcome::Answer(a),
            None => Outcome::Unreachable(format!("unexpected answer {text:?}")),
        },
        Err(e) => Outcome::Unreachable(e.to_string()),
    }
}

fn udp(dst: SocketAddrV4, tos: u8) -> Outcome {
    let run = || -> std::io::Result<Outcome> {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        if tos != 0 {
            s.set_tos(u32::from(tos))?;
        }
        s.bind(&SockAddr::from(SocketAddrV4::new(
            std::net::Ipv4Addr::UNSPECIFIED,
            0,
        )))?;
        let sock: std::net::UdpSocket = s.into();
        sock.set_read_timeout(Some(UDP_WAIT))?;
        let mut buf = [0u8; 512];
        let mut last = String::from("no answer");
        for _ in 0..UDP_TRIES {
            sock.send_to(b"netsim probe\n", dst)?;
            match sock.recv_from(&mut buf) {
                Ok((n, from)) => {
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
