//! Rendering: the `iptables-restore --noflush` input that takes an installed state to a
//! desired plan, one batch per table (each batch is one atomic commit), touching nothing but
//! dird's own chains, their jumps, and the original daemon's rules. Every line is dird's own
//! text: its chains' names (`DIRD-<built-in chain>`), its plan's rules, its tagged jump, or a
//! rule of the original daemon's exact forms; a rule read from the namespace is sent back only
//! when it is one of those (anything else there, a forged jump to a `DIRD-` chain among
//! others, is left alone).

use super::iptables::{jump_spec, IptablesPlan};
use super::legacy;
use super::state::IptablesState;
use super::table::Table;

/// One table's changes: `*table … COMMIT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableBatch {
    pub table: Table,
    pub text: String,
}

impl TableBatch {
    /// `lines` (not empty) between the table's header and `COMMIT`.
    pub fn new(table: Table, lines: &[String]) -> TableBatch {
        TableBatch {
            table,
            text: format!("{}\n{}\nCOMMIT\n", table.header(), lines.join("\n")),
        }
    }
}

/// Everything needed to go from `installed` to `desired`. Empty when they already agree, so
/// applying a plan twice changes nothing the second time.
///
/// The batches go in table order (raw, mangle, nat, filter), so that an install puts the
/// sbox's stamp (mangle) in place before the ACCEPT that skips Docker's SNAT (nat) — except
/// when the plan removes dird's nat chain: then nat goes first, so that no failure half-way
/// leaves that ACCEPT without its stamp (replies of unstamped connections would leave the
/// task the wrong way).
pub fn render_sync(desired: &IptablesPlan, installed: &IptablesState) -> Vec<TableBatch> {
    let mut batches: Vec<TableBatch> = Table::ALL
        .into_iter()
        .filter_map(|table| {
            let lines = table_lines(desired, installed, table);
            (!lines.is_empty()).then(|| TableBatch::new(table, &lines))
        })
        .collect();
    let removes_nat = !installed.own_chain_names(Table::Nat).is_empty()
        && !desired.chains.iter().any(|c| c.table == Table::Nat);
    if removes_nat {
        batches.sort_by_key(|b| b.table != Table::Nat);
    }
    batches
}

/// All batches as one text (for display; appliers send each batch on its own).
pub fn render_text(batches: &[TableBatch]) -> String {
    batches.iter().map(|b| b.text.as_str()).collect()
}

fn table_lines(desired: &IptablesPlan, installed: &IptablesState, table: Table) -> Vec<String> {
    // Chain declarations go first, as iptables-save writes them.
    let mut decls = Vec::new();
    let mut lines = Vec::new();
    let empty = Default::default();
    let chains = installed
        .tables
        .get(&table)
        .map(|t| &t.chains)
        .unwrap_or(&empty);

    // 1. dird chains that the plan no longer wants: unhook (its exact jumps), flush, delete.
    for name in installed.own_chain_names(table) {
        if desired
            .chains
            .iter()
            .any(|c| c.table == table && c.name() == name)
        {
            continue;
        }
        let spec = jump_spec(&name);
        for builtin in table.builtins() {
            let jumps = chains
                .get(*builtin)
                .into_iter()
                .flatten()
                .filter(|r| **r == spec);
            lines.extend(jumps.map(|_| format!("-D {builtin} {spec}")));
        }
        lines.push(format!("-F {name}"));
        lines.push(format!("-X {name}"));
    }

    // 2. Wanted chains: (re)fill when their rules differ, then exactly one jump in place.
    for c in desired.chains.iter().filter(|c| c.table == table) {
        let name = c.name();
        match chains.get(&name) {
            Some(rules) if *rules == c.rules => {}
            Some(_) => lines.push(format!("-F {name}")),
            None => decls.push(format!(":{name} - [0:0]")),
        }
        if chains.get(&name) != Some(&c.rules) {
            lines.extend(c.rules.iter().map(|r| format!("-A {name} {r}")));
        }
        let spec = jump_spec(&name);
        let builtin_rules = chains.get(c.builtin).map(Vec::as_slice).unwrap_or(&[]);
        let at: Vec<usize> = builtin_rules
            .iter()
            .enumerate()
            .filter(|(_, r)| **r == spec)
            .map(|(i, _)| i)
            .collect();
        let in_place = at.len() == 1 && (!c.jump_first() || at[0] == 0);
        if !in_place {
            lines.extend(at.iter().map(|_| format!("-D {} {spec}", c.builtin)));
            if c.jump_first() {
                lines.push(format!("-I {} 1 {spec}", c.builtin));
            } else {
                lines.push(format!("-A {} {spec}", c.builtin));
            }
        }
    }

    // 3. The original daemon's rules (migration), where they apply: each matched a form of
    // the original's exactly, so the text sent is that form's.
    let mangle_output = installed.rules(Table::Mangle, "OUTPUT");
    if legacy::applies(&desired.legacy, mangle_output) {
        for lr in desired.legacy.iter().filter(|l| l.table == table) {
            for r in chains
                .get(lr.chain)
                .into_iter()
                .flatten()
                .filter(|r| lr.matches(r))
            {
                lines.push(format!("-D {} {r}", lr.chain));
            }
        }
    }
    decls.extend(lines);
    decls
}
