//! The iptables tables dird works in, their names and built-in chains.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Raw,
    Mangle,
    Nat,
    Filter,
}

impl Table {
    pub const ALL: [Table; 4] = [Table::Raw, Table::Mangle, Table::Nat, Table::Filter];

    pub fn name(self) -> &'static str {
        match self {
            Table::Raw => "raw",
            Table::Mangle => "mangle",
            Table::Nat => "nat",
            Table::Filter => "filter",
        }
    }

    pub fn from_name(s: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == s)
    }

    /// The `*<name>` line that opens this table in `iptables-save` and `iptables-restore` text.
    pub fn header(self) -> String {
        format!("*{}", self.name())
    }

    /// The name a `*<name>` header line opens (trimmed; maybe empty or unknown), or `None` for
    /// any other line.
    pub fn header_name(line: &str) -> Option<&str> {
        line.strip_prefix('*').map(str::trim)
    }

    /// The built-in chains of this table (a chain named like this is never ours to create).
    pub fn builtins(self) -> &'static [&'static str] {
        match self {
            Table::Raw => &["PREROUTING", "OUTPUT"],
            Table::Mangle => &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
            Table::Nat => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
            Table::Filter => &["INPUT", "FORWARD", "OUTPUT"],
        }
    }

    pub fn is_builtin(self, chain: &str) -> bool {
        self.builtins().contains(&chain)
    }

    /// The built-in chain whose dird chain (`DIRD-<built-in chain>`) `chain` is, if it is one.
    pub fn own_chain_builtin(self, chain: &str) -> Option<&'static str> {
        let b = chain.strip_prefix(super::iptables::CHAIN_PREFIX)?;
        self.builtins().iter().copied().find(|x| *x == b)
    }

    /// Whether `chain` is one of dird's chains in this table (`DIRD-<built-in chain>`).
    pub fn is_own_chain(self, chain: &str) -> bool {
        self.own_chain_builtin(chain).is_some()
    }
}
