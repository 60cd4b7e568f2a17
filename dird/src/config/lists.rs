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
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn comma_space_and_repeated_are_the_same_list() {
        let a = split_items(&v(&["80,443,8080"]));
        let b = split_items(&v(&["80 443  8080"]));
        let c = split_items(&v(&["80", "443", "8080"]));
        let d = split_items(&v(&["80, 443", "\t8080\n"]));
        assert_eq!(a, v(&["80", "443", "8080"]));
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a, d);
    }

    #[test]
    fn ports_and_ranges() {
        let p = parse_ports("--tcp-ports", &v(&["80,8000:8010", "9000-9001", "80"])).unwrap();
        assert_eq!(
            p,
            vec![
                PortSpec::Single(80),
                PortSpec::Range(8000, 8010),
                PortSpec::Range(9000, 9001)
            ]
        );
        assert_eq!(
            parse_port_spec("--tcp-ports", "7:7"),
            Ok(PortSpec::Single(7))
        );
    }

    #[test]
    fn bad_ports_name_the_value() {
        for bad in [
            "0",
            "65536",
            "-1",
            "http",
            "",
            "80:",
            ":80",
            "1:0",
            "99999:100000",
            "+80",
        ] {
            let err = parse_ports("--tcp-ports", &v(&[bad]));
            if bad.is_empty() {
                assert_eq!(err, Ok(vec![]));
                continue;
            }
            let err = err.unwrap_err();
            assert!(
                err.to_string().contains(&format!("{bad:?}")),
                "{err} should name {bad}"
            );
        }
        assert_eq!(
            parse_ports("--udp-ports", &v(&["9000:8000"])),
            Err(ConfigError::ReversedRange {
                flag: "--udp-ports",
                value: "9000:8000".into()
            })
        );
    }

    #[test]
    fn services_are_checked() {
        assert_eq!(
            parse_services(&v(&["web,api", "web"])).unwrap(),
            v(&["web", "api"])
        );
        for bad in ["-x", "a/b", "we b;rm", "a$(x)"] {
            assert!(
                parse_services(&v(&[bad])).is_err() || bad.contains(' '),
                "{bad}"
            );
        }
        assert_eq!(
            parse_services(&v(&["a$(x)"])),
            Err(ConfigError::BadService {
                value: "a$(x)".into()
            })
        );
    }
}
