//! Named network namespaces under `/run/netns` (like `ip netns add`, without running `ip`),
//! and running code inside one on a dedicated thread (`setns`). Never touches the caller's
//! own namespace: everything netsim configures happens on such a thread.

use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use dird::netns::NetnsError;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::Error;

pub const NETNS_DIR: &str = "/run/netns";
/// Every namespace netsim creates is named `nsim-<pid>-<run>-<role>`.
pub const PREFIX: &str = "nsim-";

/// Namespaces created by this process and not yet removed: what cleanup (normal end, error,
/// panic, Ctrl-C) removes.
static REGISTRY: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn registry() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn err(ns: &Path, step: &str, cause: impl Into<crate::error::Cause>) -> Error {
    Error::Netns {
        ns: ns.display().to_string(),
        step: step.to_string(),
        source: cause.into(),
    }
}

/// Create a named namespace; it is registered for cleanup before it exists.
pub fn create(name: &str) -> Result<PathBuf, Error> {
    let dir = Path::new(NETNS_DIR);
    std::fs::create_dir_all(dir).map_err(|e| err(dir, "create /run/netns", e))?;
    let path = dir.join(name);
    File::options()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| err(&path, "create mount point", e))?;
    registry().push(path.clone());
    let target = path.clone();
    let res = std::thread::spawn(move || -> Result<(), Error> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| err(&target, "unshare(CLONE_NEWNET)", e))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| err(&target, "bind mount", e))
    })
    .join()
    .map_err(|_| err(&path, "create", "thread panicked"))?;
    res?;
    Ok(path)
}

/// Remove a named namespace (unmount + unlink). Missing is fine.
pub fn delete(path: &Path) {
    if let Err(e) = umount2(path, MntFlags::MNT_DETACH) {
        if e != nix::errno::Errno::EINVAL && e != nix::errno::Errno::ENOENT {
            tracing::warn!("umount {}: {e}", path.display());
        }
    }
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("remove {}: {e}", path.display());
        }
    }
    registry().retain(|p| p != path);
}

/// Remove every namespace this process created and still holds. Idempotent.
pub fn cleanup_all() {
    let paths: Vec<PathBuf> = registry().clone();
    for p in paths.iter().rev() {
        delete(p);
    }
}

/// Run `f` on a fresh thread that has entered the namespace at `path` ([`dird::netns::run_in`]).
pub fn run_in<T, F>(path: &Path, f: F) -> Result<T, Error>
where
    T: Send,
    F: FnOnce() -> Result<T, Error> + Send,
{
    dird::netns::run_in(path, f).map_err(|e| match e {
        NetnsError::Open { source, .. } => err(path, "open", source),
        NetnsError::Enter { source, .. } => err(path, "setns", source),
        NetnsError::Panicked { .. } => err(path, "run", "thread panicked"),
    })?
}

/// Spawn a long-lived thread inside the namespace (servers). The closure gets `Ok(())` once in.
pub fn spawn_in<F>(path: &Path, f: F) -> Result<std::thread::JoinHandle<()>, Error>
where
    F: FnOnce() + Send + 'static,
{
    let file = File::open(path).map_err(|e| err(path, "open", e))?;
    let p = path.to_path_buf();
    std::thread::Builder::new()
        .name("netsim-ns".into())
        .spawn(move || match setns(&file, CloneFlags::CLONE_NEWNET) {
            Ok(()) => f(),
            Err(e) => tracing::error!("setns {}: {e}", p.display()),
        })
        .map_err(|e| err(path, "spawn thread", e))
}

/// Run an async rtnetlink job inside the namespace (connection opened there).
pub fn rtnl<T, F, Fut>(path: &Path, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(rtnetlink::Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, Error>>,
{
    let p = path.to_path_buf();
    run_in(path, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| err(&p, "tokio runtime", e))?;
        rt.block_on(async move {
            let (conn, handle, _) =
                rtnetlink::new_connection().map_err(|e| err(&p, "rtnetlink socket", e))?;
            let task = tokio::spawn(conn);
            let out = f(handle).await;
            task.abort();
            out
        })
    })
}

/// Write sysctls (`net/ipv4/ip_forward` style keys) inside the namespace.
pub fn sysctls(path: &Path, settings: &[(&str, &str)]) -> Result<(), Error> {
    let settings: Vec<(String, String)> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let p = path.to_path_buf();
    run_in(path, move || {
        for (k, v) in settings {
            let file = Path::new("/proc/sys").join(&k);
            std::fs::write(&file, &v).map_err(|e| err(&p, &format!("sysctl {k}={v}"), e))?;
        }
        Ok(())
    })
}

/// Run a program (no shell) inside the namespace, feeding `stdin`; returns its stdout.
pub fn command(
    path: &Path,
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String, Error> {
    let program = program.to_string();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let input = stdin.map(str::to_string);
    let p = path.to_path_buf();
    run_in(path, move || {
        let what = format!("{program} {}", args.join(" "));
        let mut child = Command::new(&program)
            .args(&args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| err(&p, &what, e))?;
        if let (Some(text), Some(mut pipe)) = (input, child.stdin.take()) {
            pipe.write_all(text.as_bytes())
                .map_err(|e| err(&p, &what, e))?;
        }
        let out = child.wait_with_output().map_err(|e| err(&p, &what, e))?;
        if !out.status.success() {
            return Err(err(
                &p,
                &what,
                format!(
                    "{}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    })
}

/// `(pid, path)` of every netsim namespace under /run/netns.
pub fn list_all() -> Vec<(u32, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()?;
            Some((pid, e.path()))
        })
        .collect()
}

/// Is `pid` a live netsim process?
pub fn netsim_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim() == "netsim")
        .unwrap_or(false)
}
