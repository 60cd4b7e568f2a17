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
