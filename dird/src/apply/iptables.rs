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

/// Environment variable naming the save program (overrides backend detection).
pub const SAVE_ENV: &str = "DIRD_IPTABLES_SAVE";
/// Environment variable naming the restore program (overrides backend detection).
pub const RESTORE_ENV: &str = "DIRD_IPTABLES_RESTORE";
/// The system's alternatives, whichever backend they point to.
pub const SYSTEM_SAVE: &str = "iptables-save";
pub const SYSTEM_RESTORE: &str = "iptables-restore";

/// Which binaries to run. `default()`: [`SAVE_ENV`]/[`RESTORE_ENV`] when set, else the
/// system's [`SYSTEM_SAVE`]/[`SYSTEM_RESTORE`]; the daemon picks them with
/// [`super::backend::detect`] instead.
#[derive(Debug, Clone)]
pub struct IptablesTools {
    pub save: String,
    pub restore: String,
    pub wait: Option<IptablesWait>,
}

impl Default for IptablesTools {
    fn default() -> Self {
        IptablesTools {
            save: std::env::var(SAVE_ENV).unwrap_or_else(|_| SYSTEM_SAVE.into()),
            restore: std::env::var(RESTORE_ENV).unwrap_or_else(|_| SYSTEM_RESTORE.into()),
            wait: None,
        }
    }
}

impl IptablesTools {
    /// The [`Default`] binaries, run with `wait`.
    pub fn with_wait(wait: Option<IptablesWait>) -> IptablesTools {
        IptablesTools {
            wait,
            ..IptablesTools::default()
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
        if let Err(source) = pipe.write_all(text.as_bytes()) {
            // The child stopped reading (it exited, or closed its input): it is killed if
            // still running and always waited for, so that no zombie is left behind.
            drop(pipe);
            let _ = child.kill();
            let _ = child.wait();
            return Err(IptablesError::Spawn {
                program: program.to_owned(),
                source,
            });
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zombie children of this process whose command name is `comm`.
    fn zombies(comm: &str) -> Vec<String> {
        let me = std::process::id().to_string();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
            .filter(|stat| {
                let (head, tail) = stat.rsplit_once(") ").unwrap_or_default();
                let name = head.split_once(" (").map(|(_, n)| n);
                let mut fields = tail.split_whitespace();
                let (state, ppid) = (fields.next(), fields.next());
                name == Some(comm) && state == Some("Z") && ppid == Some(me.as_str())
            })
            .collect()
    }

    #[test]
    fn a_child_that_stops_reading_its_input_is_reaped() {
        let dir = std::env::temp_dir().join(format!("dird-reap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // `true` under a name no other test runs: it exits without reading its input.
        let program = dir.join("dirdnoreader");
        std::fs::copy("/bin/true", &program).unwrap();
        let input = "x".repeat(4 << 20);
        let result = run(program.to_str().unwrap(), &[], Some(&input));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(result.is_err(), "4 MiB cannot fit in a pipe nobody reads");
        assert_eq!(zombies("dirdnoreader"), Vec::<String>::new());
    }
}
