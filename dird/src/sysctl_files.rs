//! The sysctl.d file format (`key = value`, `#`/`;` comments), for the files the original
//! daemon loads into the ingress namespace: `/etc/sysctl.d/conntrack.conf` and `ipvs.conf`.
//! A line that cannot be applied there is skipped with a warning (a leading `-`: silently),
//! never failing the apply: see [`OnError`].

use std::path::Path;

use crate::config::ConfigError;
use crate::plan::{OnError, Sysctl};

/// Files applied in the ingress namespace after dird's own IPVS settings, in this order.
pub const SBOX_SYSCTL_FILES: [&str; 2] = ["conntrack.conf", "ipvs.conf"];

/// Parses one file's text. `path` is only used in error messages.
pub fn parse(path: &str, text: &str) -> Result<Vec<Sysctl>, ConfigError> {
    let mut out = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let bad = || ConfigError::BadSysctl {
            path: path.to_owned(),
            line: raw.to_owned(),
        };
        let (key, value) = line.split_once('=').ok_or_else(bad)?;
        let key = key.trim();
        let (key, on_error) = match key.strip_prefix('-') {
            Some(k) => (k, OnError::Ignore),
            None => (key, OnError::Warn),
        };
        let components: Vec<&str> = if key.contains('/') {
            key.split('/').collect()
        } else {
            key.split('.').collect()
        };
        let mut sysctl = Sysctl::new(&components, value.trim()).ok_or_else(bad)?;
        sysctl.on_error = on_error;
        out.push(sysctl);
    }
    Ok(out)
}

/// Reads [`SBOX_SYSCTL_FILES`] from `dir`; missing files are skipped (as the original does).
pub fn read_sbox_files(dir: &Path) -> Result<Vec<Sysctl>, SysctlFileError> {
    let mut out = Vec::new();
    for name in SBOX_SYSCTL_FILES {
        let path = dir.join(name);
        match crate::config::read_file(&path) {
            Ok(text) => out.extend(parse(&path.display().to_string(), &text)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(SysctlFileError::Read {
                    path: path.display().to_string(),
                    source,
                })
            }
        }
    }
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
pub enum SysctlFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Bad(#[from] ConfigError),
}

#[cfg(test)]
#[path = "sysctl_files_tests.rs"]
mod tests;
