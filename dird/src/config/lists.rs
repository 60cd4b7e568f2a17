//! The original daemon's list syntax: every list flag may be given several times, and each
//! value may hold several items separated by commas and/or white space.

use std::net::Ipv4Addr;

use super::error::ConfigError;

/// Splits repeated flag values into items: `["80,443", "8080 9090"]` → `80 443 8080 9090`.
pub fn split_items(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One entry of a port list: a single port or an inclusive range (`8000:8010`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortSpec {
    Single(u16),
    Range(u16, u16),
}

impl PortSpec {
    /// How many of `multiport`'s 15 slots this entry uses (a range takes two).
    pub fn slots(self) -> usize {
        match self {
            PortSpec::Single(_) => 1,
            PortSpec::Range(..) => 2,
        }
    }

    /// Whether `port` falls inside this entry.
    pub fn contains(self, port: u16) -> bool {
        match self {
            PortSpec::Single(p) => p == port,
            PortSpec::Range(lo, hi) => (lo..=hi).contains(&port),
        }
    }
}

impl std::fmt::Display for PortSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortSpec::Single(p) => write!(f, "{p}"),
            PortSpec::Range(lo, hi) => write!(f, "{lo}:{hi}"),
        }
    }
}

fn parse_port(flag: &'static str, whole: &str, s: &str) -> Result<u16, ConfigError> {
    let bad = || ConfigError::BadPort {
        flag,
        value: whole.to_owned(),
    };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match s.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => u16::try_from(p).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Parses one port item: `80`, `8000:8010` (iptables syntax) or `8000-8010`.
pub fn parse_port_spec(flag: &'static str, item: &str) -> Result<PortSpec, ConfigError> {
    match item.split_once([':', '-']) {
        None => Ok(PortSpec::Single(parse_port(flag, item, item)?)),
        Some((lo, hi)) => {
            let (lo, hi) = (parse_port(flag, item, lo)?, parse_port(flag, item, hi)?);
            match lo.cmp(&hi) {
                std::cmp::Ordering::Greater => Err(ConfigError::ReversedRange {
                    flag,
                    value: item.to_owned(),
                }),
                std::cmp::Ordering::Equal => Ok(PortSpec::Single(lo)),
                std::cmp::Ordering::Less => Ok(PortSpec::Range(lo, hi)),
            }
        }
    }
}

/// Parses a whole port flag. Order is kept and exact duplicates are dropped.
pub fn parse_ports(flag: &'static str, values: &[String]) -> Result<Vec<PortSpec>, ConfigError> {
    let mut out: Vec<PortSpec> = Vec::new();
    for item in split_items(values) {
        let spec = parse_port_spec(flag, &item)?;
        if !out.contains(&spec) {
            out.push(spec);
        }
    }
    Ok(out)
}

/// Parses a dotted-quad IPv4 address strictly (no leading zeros, no shorthand).
pub fn parse_ipv4(flag: &'static str, s: &str) -> Result<Ipv4Addr, ConfigError> {
    s.parse::<Ipv4Addr>().map_err(|_| ConfigError::BadIp {
        flag,
        value: s.to_owned(),
    })
}

/// Docker service names: letters, digits, `-`, `_`, `.`; at most 63 characters.
pub fn parse_services(values: &[String]) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::new();
    for item in split_items(values) {
        let ok = item.len() <= 63
            && item
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
            && item
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !ok {
            return Err(ConfigError::BadService { value: item });
        }
        if !out.contains(&item) {
            out.push(item);
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "lists_tests.rs"]
mod tests;
