//! iptables through `iptables-save` / `iptables-restore` child processes (argument vectors,
//! never a shell). Must be called from a thread inside the target namespace.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::config::IptablesWait;
use crate::plan::Table;

#[derive(Debug, thiserror::Error)]
pub enum IptablesError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        program: String,
        status: String,
        stderr: String,
    },
}

/// Which binaries to run (overridable so that tests and the VM can pick a backend).
#[derive(Debug, Clone)]
pub struct IptablesTools {
    pub save: String,
    pub restore: String,
    pub wait: Option<IptablesWait>,
}

impl Default for IptablesTools {
    fn default() -> Self {
        IptablesTools {
            save: std::env::var("DIRD_IPTABLES_SAVE").unwrap_or_else(|_| "iptables-save".into()),
            restore: std::env::var("DIRD_IPTABLES_RESTORE")
                .unwrap_or_else(|_| "iptables-restore".into()),
            wait: None,
        }
    }
}

fn run(program: &str, args: &[String], stdin: Option<&str>) -> Result<String, IptablesError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| IptablesError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|source| IptablesError::Spawn {
                program: program.to_owned(),
                source,
            })?;
    }
    let out = child
        .wait_with_output()
        .map_err(|source| IptablesError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    if !out.status.success() {
        return Err(IptablesError::Failed {
            program: program.to_owned(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace('\n', "; "),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl IptablesTools {
    /// `iptables-save -t <table>`: the table's full text (restorable as is).
    pub fn save(&self, table: Table) -> Result<String, IptablesError> {
        run(&self.save, &["-t".into(), table.name().into()], None)
    }

    /// `iptables-save`: every table that exists, in one process.
    pub fn save_all(&self) -> Result<String, IptablesError> {
        run(&self.save, &[], None)
    }

    /// `iptables-restore --noflush [--wait [N]]` with one table's batch.
    pub fn restore_noflush(&self, text: &str) -> Result<(), IptablesError> {
        let mut args = vec!["--noflush".to_string()];
        args.extend(self.wait.map(IptablesWait::args).unwrap_or_default());
        run(&self.restore, &args, Some(text)).map(drop)
    }

    /// `iptables-restore` (flushing) with a table's saved text: puts the table back exactly.
    pub fn restore_table(&self, saved: &str) -> Result<(), IptablesError> {
        let args = self.wait.map(IptablesWait::args).unwrap_or_default();
        run(&self.restore, &args, Some(saved)).map(drop)
    }
}
