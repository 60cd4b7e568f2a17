//! sysctls by writing the sysctl tree from a thread inside the target namespace. Each setting
//! is read first and written only when its value differs. What a failure does depends on the
//! setting's [`OnError`]: dird's own settings fail the apply; lines of sysctl.d files are
//! skipped (with one warning per setting for the life of the process, or silently).
//!
//! The tree is a [`SysctlRoot`]: `/proc/sys`, or the daemon's `--sysctl-root` (in a container
//! `/proc/sys` is mounted read-only, and the host's is bind-mounted elsewhere). It is a value
//! of the node being applied, so a reload can change it. Files below `net/` belong to the
//! namespace of the thread that opens them, whichever mount.

use std::path::{Path, PathBuf};

use tracing::{debug, warn};

use crate::logging::Once;
use crate::plan::{OnError, Sysctl};

#[derive(Debug, thiserror::Error)]
#[error("{key}: {source}")]
pub struct SysctlError {
    pub key: String,
    #[source]
    pub source: std::io::Error,
}

/// A setting that differs from its wanted value, with the value it had (for rollback).
pub type Pending<'a> = (&'a Sysctl, String);

/// The kernel's sysctl tree when no other is set.
pub const DEFAULT_ROOT: &str = "/proc/sys";

/// Where the kernel's sysctl tree is read and written: [`DEFAULT_ROOT`] unless
/// `--sysctl-root` names another mount of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlRoot(PathBuf);

impl Default for SysctlRoot {
    fn default() -> Self {
        SysctlRoot(PathBuf::from(DEFAULT_ROOT))
    }
}

impl SysctlRoot {
    pub fn new(dir: &Path) -> SysctlRoot {
        SysctlRoot(dir.to_path_buf())
    }

    fn path(&self, s: &Sysctl) -> PathBuf {
        self.0.join(s.proc_path())
    }

    pub fn read(&self, s: &Sysctl) -> Result<String, SysctlError> {
        std::fs::read_to_string(self.path(s))
            .map(|v| v.trim().to_owned())
            .map_err(|source| SysctlError {
                key: s.key(),
                source,
            })
    }

    pub fn write(&self, s: &Sysctl, value: &str) -> Result<(), SysctlError> {
        std::fs::write(self.path(s), value).map_err(|source| SysctlError {
            key: s.key(),
            source,
        })
    }

    /// Reads every setting; returns those whose value differs, in order. A setting that
    /// cannot be read is handled by its policy (see [`OnError`]).
    pub fn pending<'a>(
        &self,
        target: &str,
        wanted: &'a [Sysctl],
    ) -> Result<Vec<Pending<'a>>, SysctlError> {
        let mut out = Vec::new();
        for s in wanted {
            match self.read(s) {
                Ok(v) if s.is_set_in(&v) => {}
                Ok(v) => out.push((s, v)),
                Err(e) => tolerate(target, s, e)?,
            }
        }
        Ok(out)
    }

    /// Writes the pending settings in order. Returns those written (with their old values)
    /// and the error of the first setting whose policy is [`OnError::Fail`] (writing stops
    /// there).
    pub fn write_pending<'a>(
        &self,
        target: &str,
        pending: &[Pending<'a>],
    ) -> (Vec<Pending<'a>>, Option<SysctlError>) {
        let mut done = Vec::new();
        for (s, old) in pending {
            match self.write(s, &s.value) {
                Ok(()) => done.push((*s, old.clone())),
                Err(e) => {
                    if let Err(e) = tolerate(target, s, e) {
                        return (done, Some(e));
                    }
                }
            }
        }
        (done, None)
    }

    /// Puts the old values back, last written first; the failures, joined.
    pub fn undo(&self, done: &[Pending<'_>]) -> Option<String> {
        let failures: Vec<String> = done
            .iter()
            .rev()
            .filter_map(|(s, old)| self.write(s, old).err().map(|e| e.to_string()))
            .collect();
        (!failures.is_empty()).then(|| failures.join("; "))
    }
}

/// `key=value` of settings already warned about (one warning each per process: a line that
/// cannot apply in the namespace fails again at every audit). A process-wide fact, kept in a
/// static: whether this kernel has a setting in a namespace does not change while the process
/// runs, the warning is made on whichever namespace thread meets the line first (during the
/// daemon's applies, in any session and under any node), and the process's log is one.
static WARNED: Once = Once::new();

/// Whether this is the first failure of `s` (and records it).
pub fn first_failure(s: &Sysctl) -> bool {
    WARNED.first(&format!("{}={}", s.key(), s.value))
}

/// Handles a failure by the setting's policy: `Err` for [`OnError::Fail`], else logged
/// (warning the first time, debug after) or dropped.
fn tolerate(target: &str, s: &Sysctl, e: SysctlError) -> Result<(), SysctlError> {
    match s.on_error {
        OnError::Fail => Err(e),
        OnError::Ignore => Ok(()),
        OnError::Warn if first_failure(s) => {
            warn!(target = %target, "cannot apply sysctl.d line {}={} ({e}); skipped, the rest is applied", s.key(), s.value);
            Ok(())
        }
        OnError::Warn => {
            debug!(target = %target, "sysctl.d line {}={} still cannot apply: {e}", s.key(), s.value);
            Ok(())
        }
    }
}

#[cfg(test)]
#[path = "sysctl_tests.rs"]
mod tests;
