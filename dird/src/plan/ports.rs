//! Port filters: `-p <proto> -m multiport --dports …`, split so that no rule exceeds
//! multiport's 15 slots (a range takes two).

use crate::config::{PortSpec, RuleConfig};

/// multiport accepts at most this many ports per rule (a range counts as two).
pub const MULTIPORT_MAX_SLOTS: usize = 15;

/// The match prefixes for a rule: `[""]` (everything) without port flags, otherwise one
/// `-p tcp -m multiport --dports …` per chunk of each protocol's list.
pub fn port_filters(cfg: &RuleConfig) -> Vec<String> {
    if !cfg.has_port_filter() {
        return vec![String::new()];
    }
    let mut out = Vec::new();
    for (proto, ports) in [("tcp", &cfg.tcp_ports), ("udp", &cfg.udp_ports)] {
        for chunk in chunks(ports) {
            let list: Vec<String> = chunk.iter().map(ToString::to_string).collect();
            out.push(format!(
                "-p {proto} -m multiport --dports {}",
                list.join(",")
            ));
        }
    }
    out
}

/// Splits a port list into chunks of at most [`MULTIPORT_MAX_SLOTS`] slots, keeping order.
pub fn chunks(ports: &[PortSpec]) -> Vec<Vec<PortSpec>> {
    let mut out: Vec<Vec<PortSpec>> = Vec::new();
    let mut used = 0;
    for &p in ports {
        if out.is_empty() || used + p.slots() > MULTIPORT_MAX_SLOTS {
            out.push(Vec::new());
            used = 0;
        }
        used += p.slots();
        if let Some(last) = out.last_mut() {
            last.push(p);
        }
    }
    out
}

/// `a b` joined with one space, leaving out empty parts.
pub fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}
