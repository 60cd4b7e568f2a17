//! The configuration in force, and a newer one read on SIGHUP. The newer one replaces it once a
//! rebuild has shown that it fits the swarm; until then, and if it does not, the old one stays.
//! What it changes takes effect with that rebuild and the full sync after it, `--sysctl-root`
//! included (the node built from it writes its sysctls there). The metrics server's
//! `--metrics-addr` and `--public-status` are the exception: the server keeps the values it was
//! started with, and each such change is refused with one line saying that it needs a restart.

use std::fmt;
use std::path::PathBuf;

use tracing::{error, info, warn};

use super::Launch;
use crate::config::{self, Config};

pub(super) struct Settings {
    current: Config,
    /// A configuration read on SIGHUP, taken by the next rebuild if it fits the swarm.
    candidate: Option<Config>,
    /// Whether the rebuild under way builds from `candidate`.
    rebuilding_candidate: bool,
}

impl Settings {
    pub(super) fn new(cfg: Config) -> Settings {
        Settings {
            current: cfg,
            candidate: None,
            rebuilding_candidate: false,
        }
    }

    /// The configuration in force.
    pub(super) fn current(&self) -> &Config {
        &self.current
    }

    /// SIGHUP: reads the configuration again (`launch`'s command line and `--config` file).
    /// True when it was read: then a rebuild is due to check it against the swarm.
    pub(super) fn reread(&mut self, launch: &Launch) -> bool {
        match config::load(&launch.argv, launch.legacy_env.as_deref()) {
            Ok(new) => {
                info!("SIGHUP: configuration read; checking it against the swarm");
                self.candidate = Some(new);
                true
            }
            Err(e) => {
                error!("configuration not reloaded, keeping the previous one: {e}");
                false
            }
        }
    }

    /// The configuration a rebuild starting now builds from: the candidate when there is one,
    /// else the one in force.
    pub(super) fn for_rebuild(&mut self) -> Config {
        self.rebuilding_candidate = self.candidate.is_some();
        self.candidate
            .clone()
            .unwrap_or_else(|| self.current.clone())
    }

    /// The rebuild ended: the candidate it built from, if it did. It is taken either way; the
    /// caller [adopts](Settings::adopt) it when the rebuild succeeded.
    pub(super) fn take_candidate(&mut self) -> Option<Config> {
        if std::mem::take(&mut self.rebuilding_candidate) {
            self.candidate.take()
        } else {
            None
        }
    }

    /// `new` fitted the swarm: it is in force from now on, less what a running daemon cannot
    /// change ([`reloaded`]). Logs the reload and one line for each such flag that changed.
    pub(super) fn adopt(&mut self, new: Config) {
        let (cfg, notes) = reloaded(&self.current, new);
        info!("configuration reloaded (SIGHUP)");
        for note in &notes {
            match note {
                Note::SysctlRoot { .. } => info!("{note}"),
                Note::NeedsRestart { .. } => warn!("{note}"),
            }
        }
        self.current = cfg;
    }
}

/// What a reload did with `--sysctl-root`, `--metrics-addr` or `--public-status`, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Note {
    /// Applied: the sysctls are written below `to` from now on.
    SysctlRoot { from: PathBuf, to: PathBuf },
    /// Refused: `kept` stays in force until dird is restarted.
    NeedsRestart {
        flag: &'static str,
        kept: String,
        wanted: String,
    },
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::SysctlRoot { from, to } => write!(
                f,
                "--sysctl-root changed from {} to {}: sysctls are written there from now on",
                from.display(),
                to.display()
            ),
            Note::NeedsRestart { flag, kept, wanted } => write!(
                f,
                "{flag} changed from {kept} to {wanted}: not applied, it needs a restart of dird \
                 (until then {kept} stays in force)"
            ),
        }
    }
}

/// `new` as it takes effect in a daemon that has `old` in force, and what to say about it:
/// `--sysctl-root` is taken (the next rebuild's node writes there); the metrics server's
/// address and `--public-status` stay `old`'s, since the server is bound once at start-up.
pub(super) fn reloaded(old: &Config, mut new: Config) -> (Config, Vec<Note>) {
    let mut notes = Vec::new();
    if new.sysctl_root != old.sysctl_root {
        notes.push(Note::SysctlRoot {
            from: old.sysctl_root.clone(),
            to: new.sysctl_root.clone(),
        });
    }
    let addr =
        |a: &Option<std::net::SocketAddr>| a.map_or_else(|| "none".into(), |a| a.to_string());
    let on = |b: &bool| if *b { "on" } else { "off" }.to_owned();
    notes.extend(keep(
        "--metrics-addr",
        &old.metrics_addr,
        &mut new.metrics_addr,
        addr,
    ));
    notes.extend(keep(
        "--public-status",
        &old.public_status,
        &mut new.public_status,
        on,
    ));
    (new, notes)
}

/// Puts `old` back in place of a `new` value of `flag` that differs, with the note that says
/// so (`show`: a value as the note gives it).
fn keep<T: PartialEq + Clone>(
    flag: &'static str,
    old: &T,
    new: &mut T,
    show: impl Fn(&T) -> String,
) -> Option<Note> {
    if new == old {
        return None;
    }
    let note = Note::NeedsRestart {
        flag,
        kept: show(old),
        wanted: show(new),
    };
    *new = old.clone();
    Some(note)
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
