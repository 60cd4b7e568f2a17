//! Network namespaces Docker creates from now on, each reported with the first address it
//! gets in the ingress subnet, as soon as that address is in place.
//!
//! Docker creates a task's namespace file (`<netns dir>/<sandbox id>`, a bind mount of the
//! namespace of the task's first process, made while `runc create` has that process waiting),
//! moves the task's interfaces in and gives them their addresses, and only then starts the
//! task (`runc start`), emits `start` and puts it into the load balancers' rotation. So the
//! first address a namespace watched from its creation gets is Docker's, given before any
//! code of the container runs: a container can add addresses to its own namespace only after
//! that. This watch sees that address arrive in the namespace itself (a netlink subscription
//! opened inside it the moment the file is mounted), seconds before Docker's `start` under
//! emulation, instead of waiting for Docker to say anything.
//!
//! What is read is bounded: a namespace is watched until its first address in the subnet, at
//! most [`WATCH_LIMIT`] and [`MESSAGE_LIMIT`] messages; at most [`WATCHES`] at once; a
//! namespace that already held an address in the subnet when its watch began, whose address
//! went away, or whose file is removed, is left alone.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::sync::mpsc;

use super::first_address::{self, FirstAddress, Next, Verdict, ADDRESS_DUMP, LINK_DUMP};

/// How long a new namespace is watched for its first address in the subnet.
pub const WATCH_LIMIT: Duration = Duration::from_secs(300);
/// How many netlink messages one namespace's watch reads at most.
pub const MESSAGE_LIMIT: usize = 4096;
/// How many namespaces are watched at once at most (more are left to their `start` event).
pub const WATCHES: usize = 256;
/// How long a new namespace file may take to become a namespace (Docker creates the file,
/// then bind-mounts the namespace on it).
const MOUNT_WAIT: Duration = Duration::from_secs(2);
const MOUNT_POLL: Duration = Duration::from_millis(5);
/// How often blocked reads look whether their watch was ended.
const TICK: u16 = 200;
/// Legacy netlink multicast groups: links and IPv4 addresses.
const RTMGRP_LINK: u32 = 1;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;

/// A namespace created under the watched folder, and the first address it got in the subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    pub netns: PathBuf,
    pub ip: Ipv4Addr,
}

#[derive(Debug, thiserror::Error)]
pub enum ArrivalsError {
    #[error("cannot watch {dir} for new network namespaces: {source}")]
    Watch {
        dir: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("cannot start the thread watching {dir} for new network namespaces: {source}")]
    Thread {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The watch: a thread reading the folder's events, and one thread per namespace being
/// watched. Dropping it ends them all within [`TICK`] ms.
#[derive(Debug)]
pub struct Arrivals {
    rx: mpsc::Receiver<Arrival>,
    stop: Arc<AtomicBool>,
    subnet: Ipv4Net,
}

impl Drop for Arrivals {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Arrivals {
    /// Watches `dir` for namespace files whose name `accept` takes (a sandbox id), from now
    /// on, for their first address in `subnet`.
    pub fn start(
        dir: &Path,
        subnet: Ipv4Net,
        accept: fn(&str) -> bool,
    ) -> Result<Arrivals, ArrivalsError> {
        let err = |source| ArrivalsError::Watch {
            dir: dir.to_owned(),
            source,
        };
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).map_err(err)?;
        let mask = AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_DELETE;
        inotify.add_watch(dir, mask).map_err(err)?;
        let (tx, rx) = mpsc::channel(WATCHES);
        let stop = Arc::new(AtomicBool::new(false));
        let folder = Folder {
            dir: dir.to_owned(),
            subnet,
            accept,
            tx,
            stop: stop.clone(),
        };
        std::thread::Builder::new()
            .name("dird-netns-watch".into())
            .spawn(move || folder.run(&inotify))
            .map_err(|source| ArrivalsError::Thread {
                dir: dir.to_owned(),
                source,
            })?;
        Ok(Arrivals { rx, stop, subnet })
    }

    /// The subnet this watch reports addresses in.
    pub fn subnet(&self) -> Ipv4Net {
        self.subnet
    }

    /// The next arrival (`None` once the watch has ended).
    pub async fn next(&mut self) -> Option<Arrival> {
        self.rx.recv().await
    }
}

/// The folder's side of the watch.
struct Folder {
    dir: PathBuf,
    subnet: Ipv4Net,
    accept: fn(&str) -> bool,
    tx: mpsc::Sender<Arrival>,
    stop: Arc<AtomicBool>,
}

impl Folder {
    fn run(&self, inotify: &Inotify) {
        // Each namespace's watch, by file name: set to end it.
        let mut watched: HashMap<String, Arc<AtomicBool>> = HashMap::new();
        let mut full_logged = false;
        while !self.stop.load(Ordering::Relaxed) {
            if !readable(inotify.as_fd()) {
                continue;
            }
            let events = match inotify.read_events() {
                Ok(events) => events,
                Err(nix::Error::EAGAIN | nix::Error::EINTR) => continue,
                Err(e) => {
                    tracing::warn!(
                        "watching {} for new namespaces: {e}; new tasks are configured at their start",
                        self.dir.display()
                    );
                    return;
                }
            };
            watched.retain(|_, done| !done.load(Ordering::Relaxed));
            for ev in events {
                if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    tracing::warn!(
                        "too many new namespaces at once in {}: some are configured only at their start",
                        self.dir.display()
                    );
                    continue;
                }
                let Some(name) = ev.name.as_ref().and_then(|n| n.to_str()) else {
                    continue;
                };
                if !(self.accept)(name) {
                    continue;
                }
                if ev.mask.contains(AddWatchFlags::IN_DELETE) {
                    if let Some(end) = watched.remove(name) {
                        end.store(true, Ordering::Relaxed);
                    }
                    continue;
                }
                if watched.len() >= WATCHES {
                    if !std::mem::replace(&mut full_logged, true) {
                        tracing::warn!("{WATCHES} new namespaces watched at once: namespace {name} is configured only at its start");
                    }
                    continue;
                }
                let end = Arc::new(AtomicBool::new(false));
                watched.insert(name.to_owned(), end.clone());
                self.spawn_watch(self.dir.join(name), end);
            }
        }
        for end in watched.values() {
            end.store(true, Ordering::Relaxed);
        }
    }

    /// Watches the namespace at `path` on a thread of its own until it is decided, `end` is
    /// set or the whole watch stops; `end` is set when it is done.
    fn spawn_watch(&self, path: PathBuf, end: Arc<AtomicBool>) {
        let (subnet, tx, stop) = (self.subnet, self.tx.clone(), self.stop.clone());
        let spawned = std::thread::Builder::new()
            .name("dird-netns-first".into())
            .spawn(move || {
                let ended = || end.load(Ordering::Relaxed) || stop.load(Ordering::Relaxed);
                if let Some(ip) = first_address(&path, subnet, &ended) {
                    let _ = tx.blocking_send(Arrival { netns: path, ip });
                }
                end.store(true, Ordering::Relaxed);
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot watch a new namespace: {e}; it is configured at its start");
        }
    }
}

/// Whether `fd` has something to read within [`TICK`] ms.
fn readable(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::from(TICK)), Ok(n) if n > 0)
}

/// The first address the namespace at `path` gets in `subnet`, if its watch sees it arrive
/// before `ended` or [`WATCH_LIMIT`].
fn first_address(path: &Path, subnet: Ipv4Net, ended: &dyn Fn() -> bool) -> Option<Ipv4Addr> {
    let target = path.display();
    if !wait_mounted(path, ended) {
        tracing::debug!(netns = %target, "not a namespace within {} s; not watched", MOUNT_WAIT.as_secs());
        return None;
    }
    let socket = match super::run_in(path, subscribe) {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(netns = %target, "cannot watch its addresses: {e}");
            return None;
        }
        Err(e) => {
            tracing::debug!(netns = %target, "cannot watch its addresses: {e}");
            return None;
        }
    };
    match read_until_decided(&socket, subnet, ended) {
        Some(Verdict::Arrived { ip, .. }) => Some(ip),
        v => {
            tracing::debug!(netns = %target, "no address seen arriving in {subnet} ({v:?}); left to its start");
            None
        }
    }
}

/// Whether `path` became a mounted namespace within [`MOUNT_WAIT`].
fn wait_mounted(path: &Path, ended: &dyn Fn() -> bool) -> bool {
    let end = Instant::now() + MOUNT_WAIT;
    loop {
        match nix::sys::statfs::statfs(path) {
            Ok(fs) if fs.filesystem_type() == nix::sys::statfs::NSFS_MAGIC => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
        if Instant::now() >= end || ended() {
            return false;
        }
        std::thread::sleep(MOUNT_POLL);
    }
}

/// In the namespace (on its thread): a netlink socket subscribed to address and link
/// changes, with the address dump asked for.
fn subscribe() -> std::io::Result<Socket> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind(&SocketAddr::new(0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR))?;
    let mut a = AddressMessage::default();
    a.header.family = AddressFamily::Inet;
    send_dump(&socket, ADDRESS_DUMP, RouteNetlinkMessage::GetAddress(a))?;
    Ok(socket)
}

fn send_dump(socket: &Socket, seq: u32, m: RouteNetlinkMessage) -> std::io::Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = seq;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(m));
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut buf);
    socket.send(&buf, 0).map(drop)
}

/// Reads the socket until [`FirstAddress`] decides (`None`: the socket failed, the watch
/// ended, or [`WATCH_LIMIT`] or [`MESSAGE_LIMIT`] came first).
fn read_until_decided(
    socket: &Socket,
    subnet: Ipv4Net,
    ended: &dyn Fn() -> bool,
) -> Option<Verdict> {
    let deadline = Instant::now() + WATCH_LIMIT;
    let mut state = FirstAddress::new(subnet);
    let mut buf = vec![0u8; 64 * 1024];
    let mut read = 0usize;
    while !ended() && Instant::now() < deadline {
        if !readable(socket.as_fd()) {
            continue;
        }
        let n = match socket.recv(&mut &mut buf[..], 0) {
            Ok(n) => n.min(buf.len()),
            Err(e) if e.raw_os_error() == Some(nix::Error::ENOBUFS as i32) => {
                return Some(Verdict::HadOne)
            }
            Err(_) => return None,
        };
        for m in &first_address::messages(&buf[..n]).ok()? {
            read += 1;
            if read > MESSAGE_LIMIT {
                return None;
            }
            match state.feed(m) {
                Next::Read => {}
                Next::DumpLinks => {
                    let l = LinkMessage::default();
                    send_dump(socket, LINK_DUMP, RouteNetlinkMessage::GetLink(l)).ok()?;
                }
                Next::Decided(v) => return Some(v),
            }
        }
    }
    None
}
