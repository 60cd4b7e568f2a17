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

#[test]
fn stopping_wakes_a_udp_server_waiting_in_receive() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    let udp = Some(sock.try_clone().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let thread = std::thread::spawn(move || serve_udp(sock, "web.1".into(), s));

    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client.send_to(b"netsim probe\n", addr).unwrap();
    let mut buf = [0u8; 512];
    let n = client.recv(&mut buf).unwrap();
    let a = parse_answer(&String::from_utf8_lossy(&buf[..n])).unwrap();
    assert_eq!((a.task.as_str(), a.peer), ("web.1", Ipv4Addr::LOCALHOST));

    let start = std::time::Instant::now();
    stop.store(true, Ordering::Relaxed);
    Server::stop_all(vec![Server { thread, udp }]);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}
