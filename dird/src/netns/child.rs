//! Child processes (iptables-save/-restore) with a deadline. Each child leads a process group
//! of its own, so that killing the group at the deadline also kills whatever a wrapper script
//! started; every live group is registered, so that [`kill_all`] can end them when the daemon
//! stops. Input is written and output read on threads of their own: a child that stops
//! reading never blocks the caller past the deadline. What is read is bounded: a child that
//! prints more than [`MAX_STDOUT`] (or [`MAX_STDERR`]) bytes is killed (`iptables-save` of a
//! namespace prints what that namespace's owner put there).

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Output, Stdio};
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
    #[error("{program} printed more than {limit} bytes and was killed")]
    TooMuchOutput { program: String, limit: usize },
}

/// The most a child may print on stdout (an `iptables-save` of every table included).
pub const MAX_STDOUT: usize = crate::plan::state::MAX_SAVE_BYTES;
/// The most a child may print on stderr.
pub const MAX_STDERR: usize = 64 << 10;

/// Reads `from` up to `limit` bytes; on more, kills the process group `pgid` (`true` then).
fn read_capped(mut from: impl Read, limit: usize, pgid: i32) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let read = (&mut from).take(limit as u64 + 1).read_to_end(&mut out);
    if read.is_ok() && out.len() > limit {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        out.truncate(limit);
        return (out, true);
    }
    (out, false)
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
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let (tx, rx) =
        mpsc::channel::<std::io::Result<(ExitStatus, (Vec<u8>, bool), (Vec<u8>, bool))>>();
    std::thread::spawn(move || {
        let err = stderr.map(|e| std::thread::spawn(move || read_capped(e, MAX_STDERR, pgid)));
        let out = stdout.map_or((Vec::new(), false), |o| read_capped(o, MAX_STDOUT, pgid));
        let err = err
            .and_then(|t| t.join().ok())
            .unwrap_or((Vec::new(), false));
        let _ = tx.send(child.wait().map(|status| (status, out, err)));
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
    let (status, (stdout, out_over), (stderr, err_over)) = result?;
    if out_over || err_over {
        return Err(ChildError::TooMuchOutput {
            program: program.to_owned(),
            limit: if out_over { MAX_STDOUT } else { MAX_STDERR },
        });
    }
    let output = Output {
        status,
        stdout,
        stderr,
    };
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
