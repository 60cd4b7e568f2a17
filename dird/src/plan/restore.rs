//! Rollback input: the `iptables-restore --noflush` batches that put dird's own part of some
//! tables back as a saved state had it, computed against the tables as they are now. dird's
//! part is its chains (`DIRD-<built-in chain>`), its tagged jumps to them, and the original
//! daemon's rules that a plan removes; every other rule is left as it is now, so whatever
//! another writer (Docker) added after the save survives the rollback. No table is ever
//! flushed. Only text of dird's own forms is sent back: a saved rule of dird's chains that
//! is not of the form of one dird writes ([`super::own_rules::is_own_rule`]), or a jump that
//! is not dird's tagged jump, is not put back.

use std::collections::BTreeSet;

use super::iptables::jump_spec;
use super::legacy::{self, LegacyRule};
use super::own_rules::is_own_rule;
use super::render::TableBatch;
use super::state::{IptablesState, TableState};
use super::table::Table;

/// The batches that take dird's part of `tables` from `current` back to `saved`; none for a
/// table whose part already matches. `legacy`: the original daemon's rules the plan removes
/// (put back where they were, when they were there).
pub fn render_restore(
    saved: &IptablesState,
    current: &IptablesState,
    tables: &[Table],
    legacy: &[LegacyRule],
) -> Vec<TableBatch> {
    let legacy_applies = legacy::applies(legacy, saved.rules(Table::Mangle, "OUTPUT"));
    let empty = TableState::default();
    tables
        .iter()
        .filter_map(|&table| {
            let is_legacy = |chain: &str, spec: &str| {
                legacy_applies
                    && legacy
                        .iter()
                        .any(|l| l.table == table && l.chain == chain && l.matches(spec))
            };
            let lines = table_restore(
                table,
                saved.tables.get(&table).unwrap_or(&empty),
                current.tables.get(&table).unwrap_or(&empty),
                &is_legacy,
            );
            (!lines.is_empty()).then(|| TableBatch::new(table, &lines))
        })
        .collect()
}

/// Whether `spec` is dird's tagged jump to one of its chains in `table`.
fn is_own_jump(table: Table, spec: &str) -> bool {
    spec.rsplit_once(' ')
        .is_some_and(|(_, chain)| table.is_own_chain(chain) && spec == jump_spec(chain))
}

/// dird's rules of one chain, each with the number of other rules before it (its place,
/// unchanged by rules other writers add after it).
fn placed<'a>(rules: &'a [String], ours: &dyn Fn(&str) -> bool) -> Vec<(usize, &'a str)> {
    let mut foreign = 0;
    let mut out = Vec::new();
    for r in rules {
        if ours(r) {
            out.push((foreign, r.as_str()));
        } else {
            foreign += 1;
        }
    }
    out
}

fn table_restore(
    table: Table,
    saved: &TableState,
    current: &TableState,
    is_legacy: &dyn Fn(&str, &str) -> bool,
) -> Vec<String> {
    let own = |name: &str| table.is_own_chain(name);
    let mut decls = Vec::new();
    let mut unhook = Vec::new();
    let mut drop = Vec::new();
    let mut fill = Vec::new();
    let mut hook = Vec::new();

    for name in current.chains.keys().filter(|n| own(n)) {
        if !saved.chains.contains_key(name) {
            drop.push(format!("-F {name}"));
            drop.push(format!("-X {name}"));
        }
    }
    for (name, rules) in saved.chains.iter().filter(|(n, _)| own(n)) {
        let builtin = table.own_chain_builtin(name).unwrap_or_default();
        let rules: Vec<&String> = rules
            .iter()
            .filter(|r| is_own_rule(table, builtin, r))
            .collect();
        match current.chains.get(name) {
            Some(now) if now.iter().eq(rules.iter().copied()) => continue,
            Some(_) => fill.push(format!("-F {name}")),
            None => decls.push(format!(":{name} - [0:0]")),
        }
        fill.extend(rules.iter().map(|r| format!("-A {name} {r}")));
    }

    // Other chains that exist now (or are built in): dird's rules back in their places.
    let chains: BTreeSet<&String> = saved.chains.keys().chain(current.chains.keys()).collect();
    let no_rules = Vec::new();
    for chain in chains.into_iter().filter(|c| !own(c)) {
        let Some(now) = current
            .chains
            .get(chain)
            .or(table.is_builtin(chain).then_some(&no_rules))
        else {
            continue;
        };
        let ours = |r: &str| is_own_jump(table, r) || is_legacy(chain, r);
        let want = placed(saved.chains.get(chain).unwrap_or(&no_rules), &ours);
        let have = placed(now, &ours);
        if want == have {
            continue;
        }
        unhook.extend(have.iter().map(|(_, r)| format!("-D {chain} {r}")));
        let others = now.len() - have.len();
        for (k, (before, r)) in want.iter().enumerate() {
            hook.push(format!("-I {chain} {} {r}", (*before).min(others) + k + 1));
        }
    }
    decls.extend(unhook);
    decls.extend(drop);
    decls.extend(fill);
    decls.extend(hook);
    decls
}
