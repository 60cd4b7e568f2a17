//! A sysctl setting, kept as path components below `/proc/sys` so that names containing dots
//! (interface `eth0.100`) stay one component and nothing can point outside `/proc/sys`.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sysctl {
    components: Vec<String>,
    pub value: String,
    /// A leading `-` in a sysctl.d file: failures to set it are ignored.
    pub ignore_errors: bool,
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
            ignore_errors: false,
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
