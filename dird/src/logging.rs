//! Log set-up: plain lines under journald (`JOURNAL_STREAM` set), timestamps otherwise.

use std::collections::HashSet;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// Keys already reported, for conditions that recur at every audit but are worth one warning
/// (per process: a sysctl.d line, a container's refused sandbox key; per runner: a status-file
/// error).
#[derive(Default)]
pub struct Once(Mutex<Option<HashSet<String>>>);

impl Once {
    pub const fn new() -> Once {
        Once(Mutex::new(None))
    }

    /// True the first time `key` is seen (and records it).
    pub fn first(&self, key: &str) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.get_or_insert_with(HashSet::new).insert(key.to_owned())
    }

    /// `key` is gone for good (a removed container): it is no longer kept.
    pub fn forget(&self, key: &str) {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(set) = seen.as_mut() {
            set.remove(key);
        }
    }

    /// How many keys are kept.
    pub fn len(&self) -> usize {
        let seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.as_ref().map_or(0, HashSet::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The last line logged about a recurring condition, so that the condition is logged again
/// only when its line changes (a failed rebuild, Docker out of reach).
#[derive(Debug, Default)]
pub struct LastLine(Option<String>);

impl LastLine {
    /// True when `line` differs from the last one given since [`LastLine::clear`] (and
    /// records it).
    pub fn changed(&mut self, line: &str) -> bool {
        if self.0.as_deref() == Some(line) {
            return false;
        }
        self.0 = Some(line.to_owned());
        true
    }

    /// The condition ended: its next line is new again.
    pub fn clear(&mut self) {
        self.0 = None;
    }
}

/// Info and up, except netlink-packet-route's warnings about attributes newer than it knows
/// (one per interface read on a newer kernel: noise, not a fault of the node).
pub const DEFAULT_FILTER: &str = "info,netlink_packet_route=error";

pub fn init() {
    let filter =
        EnvFilter::try_from_env("DIRD_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder
            .without_time()
            .with_ansi(false)
            .with_target(false)
            .try_init()
    } else {
        use std::io::IsTerminal;
        builder
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
    // A second initialisation (tests) keeps the first subscriber.
    drop(result);
}

#[cfg(test)]
#[path = "logging_tests.rs"]
mod tests;
