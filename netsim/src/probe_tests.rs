use super::*;
use std::net::{Ipv4Addr, TcpListener};

/// A server on 127.0.0.1 that answers one connection with a line, then closes it (like
/// whoami) or, with `close` false, keeps it open for a while.
fn server(close: bool) -> SocketAddrV4 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let SocketAddr::V4(addr) = l.local_addr().unwrap() else {
        unreachable!()
    };
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.write_all(b"whoami task=web.1 peer=127.0.0.1:1 ecn=0\n")
            .unwrap();
        if close {
            s.shutdown(Shutdown::Both).unwrap();
        } else {
            std::thread::sleep(CLOSE_TIMEOUT * 3);
        }
    });
    addr
}

#[test]
fn close_and_wait_returns_once_the_peer_acknowledged_our_fin() {
    let dst = server(true);
    let mut s = TcpStream::connect(dst).unwrap();
    s.read_to_string(&mut String::new()).unwrap();
    assert!(close_and_wait(&s, dst));
    assert_eq!(tcp_info(&s).map(|i| i.tcpi_state), Some(TCP_CLOSE));
}

#[test]
fn close_and_wait_gives_up_when_the_peer_does_not_close() {
    let dst = server(false);
    let s = TcpStream::connect(dst).unwrap();
    let start = Instant::now();
    assert!(!close_and_wait(&s, dst));
    assert!(start.elapsed() >= CLOSE_TIMEOUT);
}
