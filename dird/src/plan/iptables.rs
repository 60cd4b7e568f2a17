//! The iptables part of a plan: chains dird owns, one per built-in chain it hooks, each reached
//! by exactly one comment-tagged jump. Rules are kept as the exact text `iptables-save` prints,
//! so that installed and desired state compare as strings.

use super::legacy::LegacyRule;
use super::table::Table;

/// The comment on every jump rule dird adds to a built-in chain.
pub const JUMP_COMMENT: &str = "dird";
/// dird's own chains are `DIRD-<built-in chain>`.
pub const CHAIN_PREFIX: &str = "DIRD-";

/// A chain dird owns: `DIRD-<builtin>` in `table`, with its rules in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OwnChain {
    pub table: Table,
    pub builtin: &'static str,
    pub rules: Vec<String>,
}

impl OwnChain {
    pub fn name(&self) -> String {
        own_chain_name(self.builtin)
    }

    /// The rule spec of the jump from the built-in chain.
    pub fn jump_spec(&self) -> String {
        jump_spec(&self.name())
    }

    /// Whether the jump must be the first rule of the built-in chain. In `nat` it must come
    /// before Docker's SNAT; in `raw`, before anything that could accept the packet first.
    pub fn jump_first(&self) -> bool {
        jump_first(self.table)
    }
}

pub fn own_chain_name(builtin: &str) -> String {
    format!("{CHAIN_PREFIX}{builtin}")
}

pub fn jump_spec(chain: &str) -> String {
    format!("-m comment --comment {JUMP_COMMENT} -j {chain}")
}

pub fn jump_first(table: Table) -> bool {
    matches!(table, Table::Nat | Table::Raw)
}

/// Desired iptables state in one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IptablesPlan {
    /// Sorted by (table, built-in chain); at most one per built-in chain.
    pub chains: Vec<OwnChain>,
    /// Rules of the original bash daemon to remove when found (migration).
    pub legacy: Vec<LegacyRule>,
}

impl IptablesPlan {
    pub fn new(mut chains: Vec<OwnChain>, legacy: Vec<LegacyRule>) -> IptablesPlan {
        chains.retain(|c| !c.rules.is_empty());
        chains.sort_by(|a, b| (a.table, a.builtin).cmp(&(b.table, b.builtin)));
        IptablesPlan { chains, legacy }
    }

    pub fn chain(&self, table: Table, builtin: &str) -> Option<&OwnChain> {
        self.chains
            .iter()
            .find(|c| c.table == table && c.builtin == builtin)
    }

    /// Total number of rules, jumps included.
    pub fn rule_count(&self) -> usize {
        self.chains.iter().map(|c| c.rules.len() + 1).sum()
    }
}
