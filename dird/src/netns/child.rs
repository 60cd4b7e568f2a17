//! Child processes (iptables-save/-restore) with a deadline. Each child leads a process group
//! of its own, so that killing the group at the deadline also kills whatever a wrapper script
//! started; every live group is registered, so that [`kill_all`] can end them when the daemon
//! stops. Input is written and output read on threads of their own: a child that stops
//! reading never blocks the caller past the deadline.

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// Writing the input failed (the child stopped reading); it was waited for.
    #[error("{program} did not read its input: {source}")]
    Input {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} did not finish within {secs:.1} s and was killed")]
    TimedOut { program: String, secs: f64 },
    #[error("{program}: the thread waiting for it stopped")]
    Lost { program: String },
}

/// Process groups of the children running now.
static LIVE: Mutex<Option<HashSet<i32>>> = Mutex::new(None);

fn live() -> std::sync::MutexGuard<'static, Option<HashSet<i32>>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Kills every child process group still running (the daemon is stopping).
pub fn kill_all() {
    for pgid in live().take().unwrap_or_default() {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

/// Removes its process group from the register when dropped.
struct Registered(i32);

impl Registered {
    fn new(pgid: i32) -> Registered {
        live().get_or_insert_with(HashSet::new).insert(pgid);
        Registered(pgid)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some(set) = live().as_mut() {
            set.remove(&self.0);
        }
    }
}

/// Runs `program args`, feeding it `stdin`, until it exits or `deadline` passes (then its
/// whole process group is killed). Returns its output whatever its exit status.
pub fn run(
    program: &str,
    args: &[String],
    stdin: Option<&str>,
    deadline: Option<Instant>,
) -> Result<Output, ChildError> {
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|source| ChildError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    let pgid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    let _registered = Registered::new(pgid);
    let writer = match (stdin, child.stdin.take()) {
        (Some(text), Some(mut pipe)) => {
            let text = text.to_owned();
            // The pipe is closed when the thread ends, whether the write succeeded or not.
            Some(std::thread::spawn(move || pipe.write_all(text.as_bytes())))
        }
        _ => None,
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let waited = match deadline {
        Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
        None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
    };
    let result = match waited {
        Ok(r) => r.map_err(|source| ChildError::Spawn {
            program: program.to_owned(),
            source,
        }),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            // The group is dead, so its pipes close and the waiting thread reaps the child.
            let _ = rx.recv_timeout(Duration::from_secs(5));
            return Err(ChildError::TimedOut {
                program: program.to_owned(),
                secs: started.elapsed().as_secs_f64(),
            });
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            return Err(ChildError::Lost {
                program: program.to_owned(),
            })
        }
    };
    let output = result?;
    match writer.map(|w| w.join()) {
        Some(Ok(Err(source))) => Err(ChildError::Input {
            program: program.to_owned(),
            source,
        }),
        _ => Ok(output),
    }
}

#[cfg(test)]
#[path = "child_tests.rs"]
mod tests;
