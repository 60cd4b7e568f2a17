//! Recognising dird's own rules exactly. Text read from a namespace (`iptables-save`) is
//! written by whoever holds NET_ADMIN there; dird sends `iptables-restore` only text it
//! rendered itself, or a rule read back that has the exact form of one dird (or the original
//! daemon) writes: its keywords in place, every variable part (an address, a mark, a port
//! list, an interface name) of a strict form. Anything else is left alone.

use super::table::Table;

/// A variable part of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    /// `a.b.c.d/n`.
    Cidr,
    /// `0x` and 1–8 hex digits.
    Hex,
    /// `0xA/0xB`.
    HexMask,
    /// `tcp` or `udp`.
    Proto,
    /// multiport's list: ports or ranges `a:b`, comma-separated.
    Ports,
    /// An interface name: 1–15 of `A-Za-z0-9_.-`, not `.` or `..`.
    Iface,
}

/// One word of a rule form.
#[derive(Debug, Clone, Copy)]
enum Word {
    Key(&'static str),
    Var(Value),
    /// Nothing, or `-p PROTO -m multiport --dports PORTS` (dird's port filter).
    PortFilter,
    /// Nothing, dird's port filter, or `-p PROTO -m PROTO --dport PORT` (one port, as earlier
    /// versions of the original daemon wrote it).
    AnyPortFilter,
}

use Value::*;
use Word::*;

const PORT_FILTER: [Word; 6] = [
    Key("-p"),
    Var(Proto),
    Key("-m"),
    Key("multiport"),
    Key("--dports"),
    Var(Ports),
];

/// `-p tcp -m tcp --dport 80` (the protocol named twice, the same).
fn one_port_filter(words: &[&str]) -> bool {
    matches!(words, ["-p", p, "-m", m, "--dport", port]
        if p == m && value_matches(Proto, p) && is_decimal(port, 65535))
}

/// The forms of the rules dird writes into its chain `DIRD-<builtin>` of `table`.
fn own_forms(table: Table, builtin: &str) -> &'static [&'static [Word]] {
    match (table, builtin) {
        (Table::Raw, "PREROUTING") => &[&[PortFilter, Key("-j"), Key("CT"), Key("--notrack")]],
        (Table::Mangle, "POSTROUTING") => &[
            &[
                Key("-d"),
                Var(Cidr),
                PortFilter,
                Key("-j"),
                Key("TOS"),
                Key("--set-tos"),
                Var(HexMask),
            ],
            &[
                Key("-d"),
                Var(Cidr),
                PortFilter,
                Key("-j"),
                Key("DSCP"),
                Key("--set-dscp"),
                Var(Hex),
            ],
        ],
        (Table::Nat, "POSTROUTING") => &[&[
            Key("-d"),
            Var(Cidr),
            PortFilter,
            Key("-m"),
            Key("ipvs"),
            Key("--ipvs"),
            Key("-j"),
            Key("ACCEPT"),
        ]],
        (Table::Mangle, "OUTPUT") => &[&[
            Key("-p"),
            Var(Proto),
            Key("-j"),
            Key("CONNMARK"),
            Key("--restore-mark"),
            Key("--nfmask"),
            Var(Hex),
            Key("--ctmask"),
            Var(Hex),
        ]],
        (Table::Mangle, "PREROUTING") => &[
            &[
                Key("-m"),
                Key("conntrack"),
                Key("!"),
                Key("--ctstate"),
                Key("NEW"),
                Key("-j"),
                Key("RETURN"),
            ],
            &[Key("-s"), Var(Cidr), Key("-j"), Key("RETURN")],
            &[Key("!"), Key("-i"), Var(Iface), Key("-j"), Key("RETURN")],
            &[
                Key("-m"),
                Key("tos"),
                Key("--tos"),
                Var(HexMask),
                Key("-j"),
                Key("CONNMARK"),
                Key("--set-xmark"),
                Var(HexMask),
            ],
            &[
                Key("-j"),
                Key("CONNMARK"),
                Key("--restore-mark"),
                Key("--nfmask"),
                Var(Hex),
                Key("--ctmask"),
                Var(Hex),
            ],
        ],
        _ => &[],
    }
}

/// Whether `spec` has the form of a rule dird writes into its chain `DIRD-<builtin>` of `table`.
pub fn is_own_rule(table: Table, builtin: &str, spec: &str) -> bool {
    let words: Vec<&str> = spec.split(' ').collect();
    own_forms(table, builtin).iter().any(|f| matches(f, &words))
}

/// The forms of the original daemon's rules in `ingress_sbox`'s built-in chain `builtin` of
/// `table` (its own uninstall removes these): dird's forms of the same chains (the TOS stamp
/// only), with either port filter.
fn original_sbox_forms(table: Table, builtin: &str) -> &'static [&'static [Word]] {
    match (table, builtin) {
        (Table::Raw, "PREROUTING") => &[&[AnyPortFilter, Key("-j"), Key("CT"), Key("--notrack")]],
        (Table::Mangle, "POSTROUTING") => &[&[
            Key("-d"),
            Var(Cidr),
            AnyPortFilter,
            Key("-j"),
            Key("TOS"),
            Key("--set-tos"),
            Var(HexMask),
        ]],
        (Table::Nat, "POSTROUTING") => &[&[
            Key("-d"),
            Var(Cidr),
            AnyPortFilter,
            Key("-m"),
            Key("ipvs"),
            Key("--ipvs"),
            Key("-j"),
            Key("ACCEPT"),
        ]],
        _ => &[],
    }
}

/// Whether `spec` has the form of a rule the original daemon writes into `ingress_sbox`'s
/// built-in chain `builtin` of `table`.
pub fn is_original_sbox_rule(table: Table, builtin: &str, spec: &str) -> bool {
    let words: Vec<&str> = spec.split(' ').collect();
    original_sbox_forms(table, builtin)
        .iter()
        .any(|f| matches(f, &words))
}

fn matches(form: &[Word], words: &[&str]) -> bool {
    match form.split_first() {
        None => words.is_empty(),
        Some((PortFilter, rest)) => {
            matches(rest, words)
                || (words.len() >= PORT_FILTER.len()
                    && matches(&PORT_FILTER, &words[..PORT_FILTER.len()])
                    && matches(rest, &words[PORT_FILTER.len()..]))
        }
        Some((AnyPortFilter, rest)) => {
            matches(&[[PortFilter].as_slice(), rest].concat(), words)
                || (words.len() >= 6 && one_port_filter(&words[..6]) && matches(rest, &words[6..]))
        }
        Some((w, rest)) => match words.split_first() {
            Some((first, others)) => word_matches(*w, first) && matches(rest, others),
            None => false,
        },
    }
}

fn word_matches(w: Word, text: &str) -> bool {
    match w {
        Key(k) => text == k,
        Var(v) => value_matches(v, text),
        PortFilter | AnyPortFilter => false,
    }
}

fn value_matches(v: Value, text: &str) -> bool {
    match v {
        Cidr => text
            .split_once('/')
            .is_some_and(|(a, n)| a.parse::<std::net::Ipv4Addr>().is_ok() && is_decimal(n, 32)),
        Hex => is_hex(text),
        HexMask => text
            .split_once('/')
            .is_some_and(|(a, b)| is_hex(a) && is_hex(b)),
        Proto => matches!(text, "tcp" | "udp"),
        Ports => {
            !text.is_empty()
                && text.split(',').all(|p| {
                    p.split(':').count() <= 2 && p.split(':').all(|n| is_decimal(n, 65535))
                })
        }
        Iface => is_interface_name(text),
    }
}

/// `0x` and 1 to 8 lowercase hex digits (as iptables-save prints marks and TOS values).
fn is_hex(text: &str) -> bool {
    text.strip_prefix("0x").is_some_and(|h| {
        (1..=8).contains(&h.len())
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// A decimal number from 0 to `max` without leading zeros.
fn is_decimal(text: &str, max: u32) -> bool {
    !text.is_empty()
        && text.len() <= 5
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'))
        && text.parse::<u32>().is_ok_and(|n| n <= max)
}

/// An interface name dird accepts (from a namespace, or in a rule): 1–15 bytes of
/// `A-Za-z0-9_.-`, not `.` or `..`. Docker names a task's interfaces `eth0`, `eth1`, …
pub fn is_interface_name(text: &str) -> bool {
    (1..=15).contains(&text.len())
        && text != "."
        && text != ".."
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
#[path = "own_rules_tests.rs"]
mod tests;
