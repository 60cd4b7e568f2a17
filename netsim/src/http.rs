//! The little HTTP/1.0 that whoami answers and the bench client speaks: one GET per
//! connection, `Connection: close`, a `Content-Length`. Enough for nginx in front of whoami.

/// Largest request head whoami reads.
pub const MAX_HEAD: usize = 8192;

/// What whoami needs from a request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub path: String,
    /// The `X-Forwarded-For` header, if any (what a proxy in front says the client was).
    pub forwarded_for: Option<String>,
}

/// Is this the start of an HTTP GET (rather than a netsim probe line)?
pub fn is_get(start: &[u8]) -> bool {
    start.starts_with(b"GET ")
}

/// Has the whole head (up to the blank line) arrived?
pub fn head_complete(buf: &[u8]) -> bool {
    buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n")
}

pub fn parse_request(head: &[u8]) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.lines();
    let mut first = lines.next()?.split_whitespace();
    if first.next()? != "GET" {
        return None;
    }
    let path = first.next()?.to_string();
    let forwarded_for = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("x-forwarded-for"))
        .map(|(_, v)| v.trim().to_string());
    Some(Request {
        path,
        forwarded_for,
    })
}

/// `/bulk?bytes=N` asks for N bytes of body.
pub fn bulk_bytes(path: &str) -> Option<u64> {
    path.strip_prefix("/bulk?bytes=")?.parse().ok()
}

/// Response head for a body of `len` bytes.
pub fn response_head(len: u64, content_type: &str) -> String {
    format!("HTTP/1.0 200 OK\r\nServer: netsim-whoami\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
}

/// The request the bench client sends.
pub fn get_request(host: &str, path: &str) -> String {
    format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: netsim-bench\r\n\r\n")
}

/// A whole response: `(status code, body)`.
pub fn parse_response(raw: &[u8]) -> Option<(u16, &[u8])> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let code = head
        .lines()
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((code, &raw[split + 4..]))
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
