//! Which published ports a service has, as any node — worker included — can tell: Docker's
//! ingress `MARK` rules in the sbox's `mangle PREROUTING` map each published port (and its
//! protocol) to the fwmark of a service's load balancer on this node, and the verbose ingress
//! view gives that fwmark by service name (`LocalLBIndex`, read by [`crate::docker`]). What the
//! Swarm API's service list gives a manager, without the Swarm API.
//!
//! Pure: the rules come parsed ([`IptablesState`], strict and bounded), the indexes as Docker
//! lists them. The rules were read from a namespace, so only the exact form Docker writes
//! counts (`-p tcp -m tcp --dport 8080 -j MARK --set-xmark 0x100/0xffffffff`: the protocol
//! `tcp` or `udp` named twice the same, a decimal port 1–65535, a hex mark under the full mask,
//! each as `iptables-save` prints it); anything else is ignored, and nothing read is ever
//! handed back to a tool: only the port numbers leave, as numbers.

use std::collections::BTreeMap;

use super::{IptablesState, Table};
use crate::config::PortSpec;

/// The chain Docker's ingress MARK rules are in (in the sbox's `mangle` table).
const CHAIN: &str = "PREROUTING";
/// The mask of Docker's `--set-mark <index>` as `iptables-save` prints it.
const FULL_MASK: &str = "0xffffffff";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    fn from_name(name: &str) -> Option<Protocol> {
        match name {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            _ => None,
        }
    }
}

/// One of Docker's ingress MARK rules: packets to published `port` over `protocol` get the
/// fwmark `mark`, the `LocalLBIndex` of the service publishing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IngressMark {
    pub protocol: Protocol,
    pub port: u16,
    pub mark: u32,
}

impl IngressMark {
    /// The rule as `iptables-save` prints it after `-A PREROUTING `.
    pub fn spec(&self) -> String {
        let p = self.protocol.name();
        format!(
            "-p {p} -m {p} --dport {} -j MARK --set-xmark {:#x}/{FULL_MASK}",
            self.port, self.mark
        )
    }

    /// A rule of `mangle PREROUTING` (as [`IptablesState`] keeps it: after the chain's name,
    /// white space collapsed) when it has exactly the form Docker's are printed in: then it is
    /// [`IngressMark::spec`] of the result, character for character.
    pub fn parse(spec: &str) -> Option<IngressMark> {
        let words: Vec<&str> = spec.split(' ').collect();
        let ["-p", p, "-m", m, "--dport", port, "-j", "MARK", "--set-xmark", xmark] = words[..]
        else {
            return None;
        };
        if p != m {
            return None;
        }
        let (mark, mask) = xmark.split_once('/')?;
        if mask != FULL_MASK {
            return None;
        }
        Some(IngressMark {
            protocol: Protocol::from_name(p)?,
            port: decimal_port(port)?,
            mark: hex_mark(mark)?,
        })
    }
}

/// A port as `iptables-save` prints it: 1–65535 in decimal, no sign, no leading zero.
fn decimal_port(text: &str) -> Option<u16> {
    let port: u16 = text.parse().ok().filter(|p| *p > 0)?;
    (port.to_string() == text).then_some(port)
}

/// A mark as `iptables-save` prints it: `0x` and lowercase hex digits, no leading zero, not 0.
fn hex_mark(text: &str) -> Option<u32> {
    let digits = text.strip_prefix("0x")?;
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let mark = u32::from_str_radix(digits, 16).ok().filter(|m| *m > 0)?;
    (format!("{mark:#x}") == text).then_some(mark)
}

/// Docker's ingress MARK rules in `state` (its `mangle PREROUTING`); every other rule is
/// ignored.
pub fn ingress_marks(state: &IptablesState) -> Vec<IngressMark> {
    state
        .rules(Table::Mangle, CHAIN)
        .into_iter()
        .flatten()
        .filter_map(|r| IngressMark::parse(r))
        .collect()
}

/// The published ports (tcp, udp), sorted and each once, of the services in `names`: the ports
/// of `state`'s ingress MARK rules whose mark is such a service's `LocalLBIndex` in `indexes`
/// (by service name). A service that is not in `indexes`, or whose rules are not there (yet),
/// adds none.
pub fn published_ports(
    state: &IptablesState,
    indexes: &BTreeMap<String, u32>,
    names: &[String],
) -> (Vec<PortSpec>, Vec<PortSpec>) {
    let marks: Vec<u32> = names
        .iter()
        .filter_map(|n| indexes.get(n).copied())
        .filter(|i| *i > 0)
        .collect();
    let (mut tcp, mut udp) = (Vec::new(), Vec::new());
    for m in ingress_marks(state)
        .into_iter()
        .filter(|m| marks.contains(&m.mark))
    {
        let list = match m.protocol {
            Protocol::Tcp => &mut tcp,
            Protocol::Udp => &mut udp,
        };
        list.push(PortSpec::Single(m.port));
    }
    for list in [&mut tcp, &mut udp] {
        list.sort();
        list.dedup();
    }
    (tcp, udp)
}

#[cfg(test)]
#[path = "lb_ports_tests.rs"]
mod tests;
