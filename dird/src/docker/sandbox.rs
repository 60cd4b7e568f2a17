//! Which network namespace a container's task rules go into: the one Docker created for the
//! container, named by its sandbox key (`NetworkSettings.SandboxKey`). That path stays bound to
//! the namespace for the container's life, unlike a PID, which the kernel reuses once the task
//! exits. Containers on the host's network or sharing another container's namespace are
//! refused, and so is any sandbox key that is not a file Docker keeps in its netns folder.

use std::path::{Path, PathBuf};

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

/// The folder Docker keeps its sandboxes' namespaces in: the first of [`NETNS_DIRS`] that
/// exists.
pub fn netns_dir() -> Option<PathBuf> {
    NETNS_DIRS.iter().map(PathBuf::from).find(|d| d.is_dir())
}

/// Containers whose sandbox key was refused already (so the warning is not repeated at every
/// audit); a container is dropped from it when it is gone ([`forget`]). A process-wide fact,
/// kept in a static: the warning is made here, below every caller of [`task_from_inspect`]
/// (the daemon's jobs and listings, `--uninstall`, `dird doctor`), none of which holds state
/// of its own at that depth, and a container's sandbox key does not change while it lives;
/// the daemon's runner forgets a container when Docker says it is gone.
static REFUSED: Once = Once::new();

/// The container `id` (12 digits) is gone: nothing of it is kept.
pub fn forget(id: &str) {
    REFUSED.forget(id);
}

#[cfg(test)]
#[path = "sandbox_tests.rs"]
mod tests;
