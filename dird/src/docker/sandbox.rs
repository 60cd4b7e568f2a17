//! Which network namespace a container's task rules go into: the one Docker created for the
//! container, named by its sandbox key (`NetworkSettings.SandboxKey`). That path stays bound to
//! the namespace for the container's life, unlike a PID, which the kernel reuses once the task
//! exits. Containers on the host's network or sharing another container's namespace are
//! refused, and so is any sandbox key that is not a file Docker keeps in its netns folder.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::models::ContainerInspectResponse;

use super::{valid_container_id, SERVICE_LABEL};
use crate::logging::Once;
use crate::node::TaskRef;

/// The folders dockerd keeps its sandboxes' namespaces in (`/var/run/docker`, its default
/// `--exec-root`, is `/run/docker` where `/var/run` links to `/run`).
pub const NETNS_DIRS: [&str; 2] = ["/var/run/docker/netns", "/run/docker/netns"];

/// Why a running service container gets no task rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("it runs in the host's network namespace (NetworkMode host)")]
    HostNetwork,
    #[error("it shares another container's network namespace (NetworkMode {0:?})")]
    SharedNamespace(String),
    #[error("its sandbox key {0:?} is not a namespace Docker created for it (/var/run/docker/netns/<hex id>)")]
    SandboxKey(String),
}

/// The namespace of a container with this `HostConfig.NetworkMode` and
/// `NetworkSettings.SandboxKey`, rebuilt from [`NETNS_DIRS`] and the checked file name.
pub fn task_netns(
    network_mode: Option<&str>,
    sandbox_key: Option<&str>,
) -> Result<PathBuf, Refusal> {
    match network_mode.unwrap_or_default() {
        "host" => return Err(Refusal::HostNetwork),
        m if m.starts_with("container:") => return Err(Refusal::SharedNamespace(m.to_owned())),
        _ => {}
    }
    let key = sandbox_key.unwrap_or_default();
    sandbox_path(key).ok_or_else(|| Refusal::SandboxKey(key.to_owned()))
}

/// `<dir>/<id>` for a dir of [`NETNS_DIRS`] and a hex id (Docker names a container's sandbox
/// after the first 12 hex digits of its id; `default`, `ingress_sbox`, `lb_*` and `1-*` are
/// the host's and the networks' own namespaces).
fn sandbox_path(key: &str) -> Option<PathBuf> {
    NETNS_DIRS.iter().find_map(|dir| {
        let name = key.strip_prefix(dir)?.strip_prefix('/')?;
        valid_container_id(name).then(|| Path::new(dir).join(name))
    })
}

/// A container inspect as a task: a running container with the service label whose namespace
/// dird may configure; a refused one is logged at debug with the reason.
pub fn task_from_inspect(id: &str, c: &ContainerInspectResponse) -> Option<TaskRef> {
    let service = c
        .config
        .as_ref()?
        .labels
        .as_ref()?
        .get(SERVICE_LABEL)?
        .clone();
    c.state.as_ref().filter(|s| s.running == Some(true))?;
    let id: String = id.chars().take(12).collect();
    let mode = c
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.as_deref());
    let key = c
        .network_settings
        .as_ref()
        .and_then(|n| n.sandbox_key.as_deref());
    match task_netns(mode, key) {
        Ok(netns) => Some(TaskRef { id, service, netns }),
        // Unexpected (e.g. dockerd with another --exec-root): said once per container.
        Err(why @ Refusal::SandboxKey(_)) => {
            if REFUSED.first(&id) {
                tracing::warn!(container = %id, service = %service, "not configured: {why}");
            }
            None
        }
        Err(why) => {
            tracing::debug!(container = %id, service = %service, "not configured: {why}");
            None
        }
    }
}

/// The container sandboxes Docker keeps now (`<dir>/<hex id>` in the first folder of
/// [`NETNS_DIRS`] that exists), newest first: a task that has just joined the ingress owns
/// one of the first.
pub fn sandboxes() -> Vec<PathBuf> {
    let Some(entries) = NETNS_DIRS.iter().find_map(|d| std::fs::read_dir(d).ok()) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(valid_container_id))
        .filter_map(|e| {
            let modified = e.metadata().and_then(|m| m.modified()).ok()?;
            Some((modified, e.path()))
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().map(|(_, p)| p).collect()
}

/// How long a sandbox found without an ingress address is left unread: Docker gives a new
/// sandbox its address moments after making it, and a plain container's never gets one.
pub const RECHECK: Duration = Duration::from_millis(500);

/// What a sandbox was found to hold.
#[derive(Debug, Clone, Copy)]
enum Seen {
    Address(Ipv4Addr),
    /// No ingress address when read at this time.
    Nothing(Instant),
}

impl Seen {
    /// What a read at `now` found.
    fn read(address: Option<Ipv4Addr>, now: Instant) -> Seen {
        address.map_or(Seen::Nothing(now), Seen::Address)
    }
}

/// The ingress addresses read from sandboxes so far, so that looking for a joining task's
/// sandbox enters only the sandboxes whose address is not known yet, each at most once per
/// [`RECHECK`], however many tasks are looked for. A sandbox's path names its container, whose
/// address does not change; the path that matches is read again before it is returned, and
/// paths that are gone are dropped.
#[derive(Debug, Default)]
pub struct AddressBook(Mutex<HashMap<PathBuf, Seen>>);

impl AddressBook {
    /// The first of `sandboxes` whose address (as `address_of` reads it) is `ip`, at `now`.
    pub fn find<F>(
        &self,
        sandboxes: &[PathBuf],
        ip: Ipv4Addr,
        now: Instant,
        address_of: F,
    ) -> Option<PathBuf>
    where
        F: Fn(&Path) -> Option<Ipv4Addr>,
    {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let present: HashSet<&PathBuf> = sandboxes.iter().collect();
        seen.retain(|p, _| present.contains(p));
        for p in sandboxes {
            let known = match seen.get(p) {
                Some(Seen::Address(a)) => Some(*a),
                Some(Seen::Nothing(at)) if now.saturating_duration_since(*at) < RECHECK => None,
                _ => {
                    let read = address_of(p);
                    seen.insert(p.clone(), Seen::read(read, now));
                    read
                }
            };
            if known == Some(ip) {
                let now_holds = address_of(p);
                if now_holds == Some(ip) {
                    return Some(p.clone());
                }
                seen.insert(p.clone(), Seen::read(now_holds, now));
            }
        }
        None
    }
}

/// Containers whose sandbox key was refused already (so the warning is not repeated at every
/// audit).
static REFUSED: Once = Once::new();

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "/var/run/docker/netns/2f3c4d5e6f70";

    #[test]
    fn the_address_book_enters_a_sandbox_only_while_its_address_is_unknown() {
        use std::cell::RefCell;
        let a = PathBuf::from("/run/docker/netns/aaaaaaaaaaaa");
        let b = PathBuf::from("/run/docker/netns/bbbbbbbbbbbb");
        let list = vec![a.clone(), b.clone()];
        let ip = Ipv4Addr::new(10, 0, 0, 7);
        // b gets its address only after the first look.
        let b_has = RefCell::new(false);
        let reads = RefCell::new(Vec::<PathBuf>::new());
        let address_of = |p: &Path| {
            reads.borrow_mut().push(p.to_owned());
            if p == a {
                Some(Ipv4Addr::new(10, 0, 0, 5))
            } else {
                b_has.borrow().then_some(ip)
            }
        };
        let book = AddressBook::default();
        let t0 = Instant::now();
        assert_eq!(book.find(&list, ip, t0, address_of), None);
        assert_eq!(*reads.borrow(), [a.clone(), b.clone()]);
        // Within RECHECK nothing is entered again: a's address is known, b was just read.
        reads.borrow_mut().clear();
        assert_eq!(book.find(&list, ip, t0 + RECHECK / 2, address_of), None);
        assert!(reads.borrow().is_empty());
        // After RECHECK only b is read again; the match is read once more before it is given.
        *b_has.borrow_mut() = true;
        assert_eq!(
            book.find(&list, ip, t0 + RECHECK, address_of),
            Some(b.clone())
        );
        assert_eq!(*reads.borrow(), [b.clone(), b.clone()]);
        // Another task's look reads nothing new.
        reads.borrow_mut().clear();
        assert_eq!(
            book.find(&list, Ipv4Addr::new(10, 0, 0, 9), t0 + RECHECK, address_of),
            None
        );
        assert!(reads.borrow().is_empty());
    }

    #[test]
    fn the_address_book_drops_sandboxes_that_are_gone_and_rereads_a_reused_path() {
        let a = PathBuf::from("/run/docker/netns/aaaaaaaaaaaa");
        let ip = Ipv4Addr::new(10, 0, 0, 7);
        let only_a = std::slice::from_ref(&a);
        let book = AddressBook::default();
        let t0 = Instant::now();
        assert_eq!(book.find(only_a, ip, t0, |_| Some(ip)), Some(a.clone()));
        // The sandbox is gone: forgotten.
        assert_eq!(book.find(&[], ip, t0, |_| Some(ip)), None);
        // The same path now holds another address: the book's old answer is not trusted.
        assert_eq!(
            book.find(only_a, ip, t0, |_| Some(Ipv4Addr::new(10, 0, 0, 8))),
            None
        );
        // A path whose known address no longer holds is read again before it is given.
        let book = AddressBook::default();
        assert_eq!(book.find(only_a, ip, t0, |_| Some(ip)), Some(a.clone()));
        assert_eq!(book.find(only_a, ip, t0, |_| None), None);
    }

    #[test]
    fn a_task_namespace_is_its_sandbox() {
        assert_eq!(
            task_netns(Some("default"), Some(KEY)),
            Ok(PathBuf::from(KEY))
        );
        assert_eq!(task_netns(None, Some(KEY)), Ok(PathBuf::from(KEY)));
        let run = "/run/docker/netns/2f3c4d5e6f708192a3b4c5d6e7f8091a";
        assert_eq!(
            task_netns(Some("bridge"), Some(run)),
            Ok(PathBuf::from(run))
        );
    }

    #[test]
    fn the_host_and_shared_namespaces_are_refused() {
        let host = Some("/var/run/docker/netns/default");
        assert_eq!(task_netns(Some("host"), host), Err(Refusal::HostNetwork));
        assert_eq!(
            task_netns(Some("host"), Some(KEY)),
            Err(Refusal::HostNetwork)
        );
        let shared = "container:8dbf715e75e510931133c535cf8e5d941ed926c30f44bf9f0e54623377a120c2";
        assert_eq!(
            task_netns(Some(shared), Some(KEY)),
            Err(Refusal::SharedNamespace(shared.into()))
        );
        // Whatever the mode says, `default` is the host's namespace.
        assert!(task_netns(Some("default"), host).is_err());
    }

    #[test]
    fn sandbox_keys_outside_dockers_netns_folder_are_refused() {
        for key in [
            "",
            "default",
            "/var/run/docker/netns/default",
            "/var/run/docker/netns/ingress_sbox",
            "/var/run/docker/netns/lb_s0xbp07qmem",
            "/var/run/docker/netns/1-s0xbp07qme",
            "/var/run/docker/netns/../../../proc/1/ns/net",
            "/var/run/docker/netns/2f3c4d5e6f70/",
            "/var/run/docker/netns/2f3c4d5e6f70/x",
            "/var/run/docker/netns//2f3c4d5e6f70",
            "/var/run/docker/netns/2f3c4d5e6f7",
            "/var/run/docker/netnsx/2f3c4d5e6f70",
            "/tmp/docker/netns/2f3c4d5e6f70",
            "/proc/4242/ns/net",
            "var/run/docker/netns/2f3c4d5e6f70",
        ] {
            assert_eq!(
                task_netns(Some("default"), Some(key)),
                Err(Refusal::SandboxKey(key.into())),
                "{key}"
            );
        }
        assert!(task_netns(Some("default"), None).is_err());
    }
}
