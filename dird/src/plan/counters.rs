//! The packet and byte counters of the rules with which a load balancer's `ingress_sbox`
//! stamps its load-balancer ID (`iptables-save -c -t mangle` there): dird's own rules of its
//! chain `DIRD-POSTROUTING`, recognised exactly ([`is_own_rule`]). Every other line is skipped;
//! the text is bounded as [`super::state`] bounds it.

use super::iptables::CHAIN_PREFIX;
use super::own_rules::is_own_rule;
use super::state::{MAX_LINE, MAX_RULES, MAX_SAVE_BYTES};
use super::table::Table;

/// The counters of one stamping rule (summed when two rules have the same filter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StampCounter {
    /// `tcp`, `udp`, or `all` (a rule without a port filter).
    pub protocol: String,
    /// multiport's list as the rule has it (`8080,9000:9010`), or `all`.
    pub ports: String,
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CountersError {
    #[error("iptables-save printed more than {MAX_SAVE_BYTES} bytes")]
    TooLong,
    #[error("iptables-save printed a line longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("iptables-save printed more than {MAX_RULES} rules")]
    TooManyRules,
}

/// The counters of dird's stamping rules in `save` (the text of `iptables-save -c -t mangle`).
pub fn stamp_counters(save: &str) -> Result<Vec<StampCounter>, CountersError> {
    if save.len() > MAX_SAVE_BYTES {
        return Err(CountersError::TooLong);
    }
    let chain = format!("-A {CHAIN_PREFIX}POSTROUTING ");
    let mut out: Vec<StampCounter> = Vec::new();
    let mut rules = 0usize;
    for line in save.lines() {
        if line.len() > MAX_LINE {
            return Err(CountersError::LineTooLong);
        }
        let Some((packets, bytes, rule)) = counted_rule(line) else {
            continue;
        };
        rules += 1;
        if rules > MAX_RULES {
            return Err(CountersError::TooManyRules);
        }
        let Some(spec) = rule.strip_prefix(&chain) else {
            continue;
        };
        if !is_own_rule(Table::Mangle, "POSTROUTING", spec) {
            continue;
        }
        let (protocol, ports) = filter_of(spec);
        match out
            .iter_mut()
            .find(|c| c.protocol == protocol && c.ports == ports)
        {
            Some(c) => {
                c.packets = c.packets.saturating_add(packets);
                c.bytes = c.bytes.saturating_add(bytes);
            }
            None => out.push(StampCounter {
                protocol: protocol.to_owned(),
                ports: ports.to_owned(),
                packets,
                bytes,
            }),
        }
    }
    Ok(out)
}

/// `[PACKETS:BYTES] RULE` (decimal counters of at most 20 digits) as its parts.
fn counted_rule(line: &str) -> Option<(u64, u64, &str)> {
    let rest = line.strip_prefix('[')?;
    let (counters, rule) = rest.split_once("] ")?;
    let (p, b) = counters.split_once(':')?;
    Some((decimal(p)?, decimal(b)?, rule))
}

fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The protocol and port list of an own stamping rule (`-d CIDR [-p P -m multiport --dports
/// PORTS] -j ...`), `all` for each when it has no port filter.
fn filter_of(spec: &str) -> (&str, &str) {
    let words: Vec<&str> = spec.split(' ').collect();
    match words.as_slice() {
        ["-d", _, "-p", proto, "-m", "multiport", "--dports", ports, ..] => (proto, ports),
        _ => ("all", "all"),
    }
}

#[cfg(test)]
#[path = "counters_tests.rs"]
mod tests;
