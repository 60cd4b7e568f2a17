//! sysctls by writing `/proc/sys` from a thread inside the target namespace.

use std::path::PathBuf;

use crate::plan::Sysctl;

#[derive(Debug, thiserror::Error)]
#[error("{key}: {source}")]
pub struct SysctlError {
    pub key: String,
    pub source: std::io::Error,
}

fn path(s: &Sysctl) -> PathBuf {
    PathBuf::from("/proc/sys").join(s.proc_path())
}

pub fn read(s: &Sysctl) -> Result<String, SysctlError> {
    std::fs::read_to_string(path(s))
        .map(|v| v.trim().to_owned())
        .map_err(|source| SysctlError {
            key: s.key(),
            source,
        })
}

pub fn write(s: &Sysctl, value: &str) -> Result<(), SysctlError> {
    std::fs::write(path(s), value).map_err(|source| SysctlError {
        key: s.key(),
        source,
    })
}
