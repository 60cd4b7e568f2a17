//! A sysctl setting, kept as path components below `/proc/sys` so that names containing dots
//! (interface `eth0.100`) stay one component and nothing can point outside `/proc/sys`.

use std::path::PathBuf;

/// What a setting that cannot be read or written does to the apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnError {
    /// dird's own settings: the apply fails and what it changed is undone.
    #[default]
    Fail,
    /// A line of a sysctl.d file: logged once (warning), skipped, and the apply goes on, as
    /// `sysctl -p` carries on past a line it cannot apply.
    Warn,
    /// A sysctl.d line with a leading `-`: skipped silently, as sysctl(8) does.
    Ignore,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sysctl {
    components: Vec<String>,
    pub value: String,
    pub on_error: OnError,
}

impl Sysctl {
    /// `None` when a component is empty, `.`/`..`, or holds anything but `[A-Za-z0-9_.@:+-]`,
    /// or when the value is empty or multi-line.
    pub fn new<S: AsRef<str>>(components: &[S], value: &str) -> Option<Sysctl> {
        let ok_component = |c: &str| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.len() <= 64
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.@:+-".contains(&b))
        };
        let ok_value = !value.is_empty() && !value.contains(['\n', '\r', '\0']);
        if components.is_empty()
            || !components.iter().all(|c| ok_component(c.as_ref()))
            || !ok_value
        {
            return None;
        }
        Some(Sysctl {
            components: components.iter().map(|c| c.as_ref().to_owned()).collect(),
            value: value.to_owned(),
            on_error: OnError::Fail,
        })
    }

    /// The dotted key as `sysctl` prints it (`/` inside a component, as sysctl(8) does).
    pub fn key(&self) -> String {
        self.components
            .iter()
            .map(|c| c.replace('.', "/"))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// Whether `current` (as read from `/proc/sys`) already is the wanted value; runs of white
    /// space compare equal (`ip_local_port_range` reads back tab-separated).
    pub fn is_set_in(&self, current: &str) -> bool {
        current.split_whitespace().eq(self.value.split_whitespace())
    }

    /// The file below `/proc/sys` (relative path).
    pub fn proc_path(&self) -> PathBuf {
        self.components.iter().collect()
    }
}

impl std::fmt::Display for Sysctl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sysctl -w {}={}", self.key(), self.value)
    }
}
