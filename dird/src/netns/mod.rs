//! Running code inside another network namespace, by path: `setns` on a dedicated thread that
//! ends afterwards, so no thread of the daemon is ever left in a foreign namespace. Child
//! processes started from that thread (iptables-restore) and netlink sockets opened there
//! belong to the target namespace; so do `/proc/sys/net` files opened there.

pub mod arrivals;
pub mod child;
mod first_address;

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::sched::{setns, CloneFlags};

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("cannot open network namespace {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot enter network namespace {path}: {source}")]
    Enter { path: PathBuf, source: nix::Error },
    #[error("the thread working in network namespace {path} panicked")]
    Panicked { path: PathBuf },
}

/// Runs `f` on a new thread that has entered the network namespace at `path`
/// (`/proc/<pid>/ns/net`, `/run/docker/netns/ingress_sbox`, `/run/netns/<name>`).
pub fn run_in<T, F>(path: &Path, f: F) -> Result<T, NetnsError>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    let file = File::open(path).map_err(|source| NetnsError::Open {
        path: path.to_owned(),
        source,
    })?;
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || {
            setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| NetnsError::Enter {
                path: path.to_owned(),
                source,
            })?;
            Ok(f())
        });
        worker.join().unwrap_or_else(|_| {
            Err(NetnsError::Panicked {
                path: path.to_owned(),
            })
        })
    })
}
