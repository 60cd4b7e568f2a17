//! The metrics server under a flood (one test in its own process: it lowers the process's
//! file limit): while no descriptor is left, accepting fails (EMFILE); once the flood is gone
//! the server answers again. It used to stop accepting for good at the first failure.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dird::telemetry::{server, Telemetry};

fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[test]
fn the_server_lives_through_running_out_of_file_descriptors() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let t = Arc::new(Telemetry::new());
    let addr = rt
        .block_on(server::start(
            "127.0.0.1:0".parse().expect("addr"),
            t,
            false,
        ))
        .expect("listen");
    assert!(get(addr, "/metrics")
        .expect("answered")
        .starts_with("HTTP/1.1 200"));

    // Leave the process a few descriptors, then use them up with connections: the server's
    // accepts fail with EMFILE while they stay open.
    let open = std::fs::read_dir("/proc/self/fd").expect("fds").count() as u64;
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).expect("limit");
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, open + 16, hard)
        .expect("lower the limit");
    let mut flood = Vec::new();
    while let Ok(s) = TcpStream::connect(addr) {
        flood.push(s);
        if flood.len() > 64 {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    drop(flood);
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard)
        .expect("restore the limit");

    // The server answers again (within the head timeout of connections it had accepted).
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        if get(addr, "/healthz").is_ok_and(|a| a.starts_with("HTTP/1.1 ")) {
            break;
        }
        assert!(
            Instant::now() < end,
            "the server stopped answering after the flood"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
