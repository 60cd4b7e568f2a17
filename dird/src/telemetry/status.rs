//! The daemon's status: every service task on this node (configured or not, its load-balancer
//! tables, its last apply and error) and every load balancer. Kept by the runner, served on
//! `/status`, and written to `--status-file` (atomically) for `dird status`.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Where the daemon writes its status unless told otherwise.
pub const DEFAULT_STATUS_FILE: &str = "/run/dird/status.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Its rules are in place.
    Configured,
    /// Its last apply failed; it is retried on its own schedule.
    Failing,
    /// Known, not applied yet (or an apply is under way).
    Pending,
    /// Not on the ingress network (no interface in the ingress subnet): nothing to do.
    Skipped,
}

impl TaskState {
    /// The states the `dird_tasks` gauge counts.
    pub const ALL: [TaskState; 3] = [
        TaskState::Configured,
        TaskState::Failing,
        TaskState::Pending,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TaskState::Configured => "configured",
            TaskState::Failing => "failing",
            TaskState::Pending => "pending",
            TaskState::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The container's 12-digit id.
    pub id: String,
    pub service: String,
    pub netns: PathBuf,
    pub state: TaskState,
    /// The routing tables of the load balancers its replies can go back through.
    pub lb_tables: Vec<u32>,
    /// When its last apply ended (seconds since the Unix epoch).
    pub last_apply: Option<u64>,
    /// When it was first configured by this daemon (milliseconds since the Unix epoch): a task
    /// configured before it started has a time before its `start` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_at_ms: Option<u64>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LbStatus {
    pub id: u32,
    pub ip: Ipv4Addr,
    pub table: u32,
    pub this_node: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// When this status was taken (seconds since the Unix epoch).
    pub taken: u64,
    /// This node's ingress address, once known.
    pub node_ip: Option<Ipv4Addr>,
    pub tasks: Vec<TaskStatus>,
    pub load_balancers: Vec<LbStatus>,
}

#[derive(Debug, thiserror::Error)]
pub enum StatusFileError {
    #[error("cannot write the status file {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no status at {path} (is `dird --install` running, with this --status-file?): {source}"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the status file {path} is not dird's status: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Seconds since the Unix epoch, now.
pub fn now() -> u64 {
    now_ms() / 1000
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// Writes `status` to `path` through a temporary file and a rename (readers never see half).
/// The status names every task and its last error, so the file is the owner's alone (0600).
/// The temporary file is created new beside `path` under a name of this process and call:
/// never opened through a link or a file someone else put there.
pub fn write(path: &Path, status: &Status) -> Result<(), StatusFileError> {
    let err = |source| StatusFileError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let text = serde_json::to_string_pretty(status).map_err(|e| err(e.into()))?;
    let (tmp, mut file) = create_private_beside(path).map_err(err)?;
    let written = file.write_all(text.as_bytes());
    drop(file);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        // The temporary file is this call's own (created new above).
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    Ok(())
}

/// A new file `.<name>.<pid>.<n>` beside `path`, mode 0600, created exclusively without
/// following links; a name already taken (by anyone) moves on to the next `n`.
fn create_private_beside(path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "status.json".to_owned());
    let mut last = None;
    for _ in 0..16 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_file_name(format!(".{name}.{}.{n}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(&tmp)
        {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary name")))
}

pub fn read(path: &Path) -> Result<Status, StatusFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| StatusFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| StatusFileError::Parse {
        path: path.to_owned(),
        source,
    })
}
