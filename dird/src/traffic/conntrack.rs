//! Connections tracked in the current network namespace, counted by connmark: one
//! ctnetlink dump (`NETLINK_NETFILTER`, `IPCTNL_MSG_CT_GET` with `NLM_F_DUMP`, IPv4), read with
//! a deadline and at most [`MAX_ENTRIES`] entries. Only each entry's `CTA_MARK` is read; the
//! parsing is pure ([`Counts::feed`]) and bounded by the datagram it is given.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// The most entries one dump reads; a table with more is reported as too large.
pub const MAX_ENTRIES: u64 = 1 << 20;
/// How long one dump may take.
pub const DUMP_TIMEOUT: Duration = Duration::from_secs(5);

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const CTA_MARK: u16 = 8;
const NLA_TYPE_MASK: u16 = 0x3fff;
const AF_INET: u8 = 2;
const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;
const SEQ: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ConntrackError {
    #[error("ctnetlink socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error("ctnetlink dump refused: errno {0}")]
    Refused(i32),
    #[error("malformed ctnetlink message: {0}")]
    Malformed(&'static str),
    #[error("more than {MAX_ENTRIES} tracked connections")]
    TooMany,
    #[error("the conntrack dump did not end within {DUMP_TIMEOUT:?}")]
    TimedOut,
}

/// Entries by mark, as a dump is read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Entries by their mark (0: no mark).
    pub by_mark: BTreeMap<u32, u64>,
    pub entries: u64,
    pub done: bool,
}

impl Counts {
    /// Feeds one datagram of the dump's answer (any number of netlink messages).
    pub fn feed(&mut self, mut buf: &[u8]) -> Result<(), ConntrackError> {
        while buf.len() >= NLMSG_HDRLEN && !self.done {
            let len = u32_ne(&buf[0..4]) as usize;
            let kind = u16_ne(&buf[4..6]);
            if len < NLMSG_HDRLEN || len > buf.len() {
                return Err(ConntrackError::Malformed("message length"));
            }
            let body = &buf[NLMSG_HDRLEN..len];
            match kind {
                NLMSG_DONE => self.done = true,
                NLMSG_ERROR => {
                    let code = body
                        .get(0..4)
                        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .ok_or(ConntrackError::Malformed("error message"))?;
                    if code != 0 {
                        return Err(ConntrackError::Refused(-code));
                    }
                    self.done = true;
                }
                k if k == (NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW) => {
                    let attrs = body
                        .get(NFGENMSG_LEN..)
                        .ok_or(ConntrackError::Malformed("short entry"))?;
                    let mark = mark_of(attrs)?;
                    *self.by_mark.entry(mark).or_default() += 1;
                    self.entries += 1;
                    if self.entries > MAX_ENTRIES {
                        return Err(ConntrackError::TooMany);
                    }
                }
                _ => {}
            }
            buf = &buf[align(len).min(buf.len())..];
        }
        Ok(())
    }
}

/// The `CTA_MARK` of an entry's attributes (0 when it has none).
fn mark_of(mut attrs: &[u8]) -> Result<u32, ConntrackError> {
    while attrs.len() >= 4 {
        let len = u16_ne(&attrs[0..2]) as usize;
        let kind = u16_ne(&attrs[2..4]) & NLA_TYPE_MASK;
        if len < 4 || len > attrs.len() {
            return Err(ConntrackError::Malformed("attribute length"));
        }
        if kind == CTA_MARK {
            let v = attrs
                .get(4..8)
                .filter(|_| len == 8)
                .ok_or(ConntrackError::Malformed("mark attribute"))?;
            return Ok(u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
        }
        attrs = &attrs[align(len).min(attrs.len())..];
    }
    Ok(0)
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

fn u16_ne(b: &[u8]) -> u16 {
    u16::from_ne_bytes([b[0], b[1]])
}

fn u32_ne(b: &[u8]) -> u32 {
    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
}

/// The dump request: IPv4 entries, every one.
pub fn dump_request() -> Vec<u8> {
    let len = (NLMSG_HDRLEN + NFGENMSG_LEN) as u32;
    let mut b = Vec::with_capacity(len as usize);
    b.extend_from_slice(&len.to_ne_bytes());
    b.extend_from_slice(&(NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_GET).to_ne_bytes());
    b.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b.extend_from_slice(&SEQ.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    b.extend_from_slice(&[AF_INET, 0, 0, 0]);
    b
}

/// Counts the connections tracked in the current network namespace by mark (call it on a
/// thread that has entered the namespace).
pub fn count_here() -> Result<Counts, ConntrackError> {
    let socket = Socket::new(NETLINK_NETFILTER).map_err(ConntrackError::Socket)?;
    socket
        .send(&dump_request(), 0)
        .map_err(ConntrackError::Socket)?;
    let deadline = Instant::now() + DUMP_TIMEOUT;
    let mut counts = Counts::default();
    let mut buf = vec![0u8; 64 * 1024];
    while !counts.done {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ConntrackError::TimedOut);
        }
        let wait = PollTimeout::from(u16::try_from(left.as_millis().min(1000)).unwrap_or(1000));
        let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, wait) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(ConntrackError::Socket(e.into())),
        }
        let n = socket
            .recv(&mut &mut buf[..], 0)
            .map_err(ConntrackError::Socket)?;
        counts.feed(&buf[..n.min(buf.len())])?;
    }
    Ok(counts)
}

#[cfg(test)]
#[path = "conntrack_tests.rs"]
mod tests;
