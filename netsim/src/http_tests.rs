use super::*;

#[test]
fn request_with_forwarded_for() {
    let raw = b"GET /bulk?bytes=42 HTTP/1.0\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n";
    assert!(is_get(raw) && head_complete(raw));
    let r = parse_request(raw).expect("parses");
    assert_eq!(r.forwarded_for.as_deref(), Some("203.0.113.7"));
    assert_eq!(bulk_bytes(&r.path), Some(42));
    assert!(!is_get(b"netsim probe\n"));
    assert!(!head_complete(b"GET / HTTP/1.0\r\nHost: x\r\n"));
}

#[test]
fn response_round_trips() {
    let mut raw = response_head(5, "text/plain").into_bytes();
    raw.extend_from_slice(b"hello");
    assert_eq!(parse_response(&raw), Some((200, &b"hello"[..])));
    assert_eq!(bulk_bytes("/"), None);
}
