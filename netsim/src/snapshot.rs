//! What "uninstall removes exactly what dird added" is checked against: a namespace's
//! `iptables-save` (comments and counters stripped, tables holding nothing but empty built-in
//! chains with ACCEPT policy dropped — nf_tables creates those on first use), `ip rule` and
//! `ip -4 route show table all`.

use std::path::Path;

use crate::netns;
use crate::Error;

pub fn take(ns: &Path) -> Result<String, Error> {
    let save = netns::command(ns, "iptables-save", &[], None)?;
    // IPv4 only: dird touches nothing else, and IPv6 link-local routes of a task that just
    // started appear when their addresses leave DAD, in their own time.
    let rules = netns::command(ns, "ip", &["-4", "rule"], None)?;
    let routes = netns::command(ns, "ip", &["-4", "route", "show", "table", "all"], None)?;
    Ok(format!(
        "{}--- ip -4 rule\n{rules}--- ip -4 route show table all\n{routes}",
        normalize_save(&save)
    ))
}

pub fn normalize_save(save: &str) -> String {
    dird::plan::state::comparable_save(save)
}

/// The first line that differs, for a FAIL message.
pub fn first_difference(before: &str, after: &str) -> String {
    let (b, a): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    for i in 0..b.len().max(a.len()) {
        if b.get(i) != a.get(i) {
            return format!(
                "line {}: before {:?}, after {:?}",
                i + 1,
                b.get(i).unwrap_or(&"<none>"),
                a.get(i).unwrap_or(&"<none>")
            );
        }
    }
    "identical".into()
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
