//! Rules the original bash daemon (v4.3.0) leaves behind, as `iptables-save` prints them.
//! dird removes them when it installs or uninstalls, so that a node can migrate in place.

use super::table::Table;

/// The marker rule the original adds to a configured container's `mangle OUTPUT`.
pub const LEGACY_MARKER: &str = "-m comment --comment docker-ingress-routing-daemon";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegacyMatch {
    /// A rule of the form the original writes into this built-in chain of `ingress_sbox`
    /// (see [`super::own_rules::is_original_sbox_rule`]).
    SboxForm,
    /// Exactly this rule.
    Exact(&'static str),
    /// `-m tos --tos 0xNN/0xff -j CONNMARK --set-xmark 0xN/0xffffffff` with the same N.
    TosToConnmark,
}

/// A rule pattern in a built-in chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegacyRule {
    pub table: Table,
    pub chain: &'static str,
    pub pattern: LegacyMatch,
}

impl LegacyRule {
    pub fn matches(&self, spec: &str) -> bool {
        match self.pattern {
            LegacyMatch::SboxForm => {
                super::own_rules::is_original_sbox_rule(self.table, self.chain, spec)
            }
            LegacyMatch::Exact(s) => spec == s,
            LegacyMatch::TosToConnmark => parse_tos_connmark(spec).is_some(),
        }
    }
}

/// The ID of a legacy `tos → connmark` rule.
pub fn parse_tos_connmark(spec: &str) -> Option<u8> {
    let rest = spec.strip_prefix("-m tos --tos 0x")?;
    let (tos, rest) = rest.split_once("/0xff -j CONNMARK --set-xmark 0x")?;
    let mark = rest.strip_suffix("/0xffffffff")?;
    let tos = u8::from_str_radix(tos, 16).ok()?;
    (u32::from_str_radix(mark, 16).ok()? == u32::from(tos)).then_some(tos)
}

/// In `ingress_sbox`: the original's `nat`, `mangle` and `raw` rules, by their exact forms
/// (`[-d SUBNET] [-p PROTO -m multiport --dports PORTS] …`).
pub fn sbox_rules() -> Vec<LegacyRule> {
    [
        (Table::Raw, "PREROUTING"),
        (Table::Mangle, "POSTROUTING"),
        (Table::Nat, "POSTROUTING"),
    ]
    .into_iter()
    .map(|(table, chain)| LegacyRule {
        table,
        chain,
        pattern: LegacyMatch::SboxForm,
    })
    .collect()
}

/// In a task container, only where [`LEGACY_MARKER`] is present.
pub fn task_rules() -> Vec<LegacyRule> {
    vec![
        LegacyRule {
            table: Table::Mangle,
            chain: "OUTPUT",
            pattern: LegacyMatch::Exact(LEGACY_MARKER),
        },
        LegacyRule {
            table: Table::Mangle,
            chain: "OUTPUT",
            pattern: LegacyMatch::Exact(
                "-p udp -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff",
            ),
        },
        LegacyRule {
            table: Table::Mangle,
            chain: "OUTPUT",
            pattern: LegacyMatch::Exact(
                "-p tcp -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff",
            ),
        },
        LegacyRule {
            table: Table::Mangle,
            chain: "PREROUTING",
            pattern: LegacyMatch::TosToConnmark,
        },
    ]
}

/// Whether a list of legacy patterns applies to a namespace: task patterns only when the
/// original's marker rule is there, so that similar rules of other software are left alone.
pub fn applies(rules: &[LegacyRule], mangle_output: Option<&Vec<String>>) -> bool {
    let needs_marker = rules
        .iter()
        .any(|r| r.pattern == LegacyMatch::Exact(LEGACY_MARKER));
    !needs_marker || mangle_output.is_some_and(|rs| rs.iter().any(|r| r == LEGACY_MARKER))
}

#[cfg(test)]
#[path = "legacy_tests.rs"]
mod tests;
