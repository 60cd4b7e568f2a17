//! Installed iptables state, parsed from `iptables-save` (counters stripped) — or obtained by
//! applying `iptables-restore --noflush` input to a state, which lets the tests run install and
//! uninstall on the model.
//!
//! `iptables-save` output comes from a namespace someone else controls, so [`IptablesState::parse`]
//! is strict and bounded: every line must be a table header, a chain declaration, an appended
//! rule, `COMMIT` or a comment, no quote may stay open at the end of a line (a comment holding
//! a newline makes `iptables-save` print a forged line of its own: the line before it leaves
//! its quote open), no control character, and at most [`MAX_SAVE_BYTES`], [`MAX_LINE`] bytes a
//! line, [`MAX_CHAINS`] chains and [`MAX_RULES`] rules.

use std::collections::BTreeMap;
use std::time::Instant;

use super::iptables::{own_chain_name, IptablesPlan, OwnChain};
use super::table::Table;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}: {text:?}")]
pub struct ParseError {
    pub line: usize,
    pub message: &'static str,
    pub text: String,
}

/// One table: every chain (built-in and user) with its rules in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableState {
    pub chains: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IptablesState {
    pub tables: BTreeMap<Table, TableState>,
}

/// `iptables-save` output reduced to what "identical before and after" means: comments and
/// counters stripped, and tables that hold nothing but empty built-in chains with ACCEPT
/// policy dropped (nf_tables creates those on first use).
pub fn comparable_save(save: &str) -> String {
    let mut out = String::new();
    let mut table: Vec<String> = Vec::new();
    for line in save.lines().filter(|l| !l.starts_with('#')) {
        let line = match line.rfind(" [") {
            Some(i) if line.starts_with(':') => line[..i].to_string(),
            _ => line.to_string(),
        };
        let done = line == "COMMIT";
        table.push(line);
        if done {
            let only_defaults = table.iter().all(|l| {
                l.starts_with('*')
                    || l == "COMMIT"
                    || (l.starts_with(':') && l.ends_with(" ACCEPT"))
            });
            if !only_defaults {
                out.push_str(&table.join("\n"));
                out.push('\n');
            }
            table.clear();
        }
    }
    out
}

/// Collapses runs of white space so that rules compare as strings.
pub fn normalize_spec(spec: &str) -> String {
    spec.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The most `iptables-save` output read from one namespace.
pub const MAX_SAVE_BYTES: usize = 16 << 20;
/// The longest line of it.
pub const MAX_LINE: usize = 64 << 10;
/// The most chains and rules (all tables together) in it.
pub const MAX_CHAINS: usize = 10_000;
pub const MAX_RULES: usize = 200_000;
/// How many lines are parsed between two looks at the deadline.
const DEADLINE_EVERY: usize = 4096;

impl IptablesState {
    /// Parses `iptables-save` output (with or without `-c` counters), strictly (see the
    /// module's documentation).
    pub fn parse(text: &str) -> Result<IptablesState, ParseError> {
        IptablesState::parse_until(text, None)
    }

    /// [`IptablesState::parse`], giving up at `deadline`.
    pub fn parse_until(text: &str, deadline: Option<Instant>) -> Result<IptablesState, ParseError> {
        let whole = |message| ParseError {
            line: 0,
            message,
            text: String::new(),
        };
        if text.len() > MAX_SAVE_BYTES {
            return Err(whole(
                "more iptables-save output than dird reads from a namespace",
            ));
        }
        let mut state = IptablesState::default();
        let mut table: Option<Option<Table>> = None;
        let (mut chains, mut rules) = (0usize, 0usize);
        // `split`, not `lines`: a `\r` before a newline is a character like any other here.
        let body = text.strip_suffix('\n').unwrap_or(text);
        for (i, raw) in body.split('\n').enumerate().filter(|_| !text.is_empty()) {
            if i % DEADLINE_EVERY == 0 && deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(whole("the deadline passed while parsing"));
            }
            let err = |message| ParseError {
                line: i + 1,
                message,
                text: raw.chars().take(200).collect(),
            };
            check_line(raw).map_err(err)?;
            if raw.starts_with('#') {
                continue;
            }
            if let Some(name) = raw.strip_prefix('*') {
                if table.is_some() {
                    return Err(err("a table header inside a table"));
                }
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase()) {
                    return Err(err("a malformed table name"));
                }
                let t = Table::from_name(name);
                if let Some(t) = t {
                    let ts = state.tables.entry(t).or_default();
                    for b in t.builtins() {
                        ts.chains.entry((*b).to_owned()).or_default();
                    }
                }
                table = Some(t);
                continue;
            }
            let Some(current) = table else {
                return Err(err("a line outside a table"));
            };
            if raw == "COMMIT" {
                table = None;
                continue;
            }
            if let Some(decl) = raw.strip_prefix(':') {
                let mut words = decl.split(' ');
                let (name, policy, counters) = (words.next(), words.next(), words.next());
                let name = name
                    .filter(|n| is_chain_name(n))
                    .ok_or_else(|| err("a malformed chain name"))?;
                if !policy.is_some_and(|p| matches!(p, "ACCEPT" | "DROP" | "-"))
                    || !counters.is_some_and(is_counters)
                    || words.next().is_some()
                {
                    return Err(err("a malformed chain declaration"));
                }
                chains += 1;
                if chains > MAX_CHAINS {
                    return Err(err("more chains than dird reads from a namespace"));
                }
                if let Some(t) = current {
                    state
                        .tables
                        .entry(t)
                        .or_default()
                        .chains
                        .entry(name.to_owned())
                        .or_default();
                }
                continue;
            }
            let line = match raw.split_once(' ') {
                Some((c, rest)) if is_counters(c) => rest,
                _ => raw,
            };
            let Some(rest) = line.strip_prefix("-A ") else {
                return Err(err("not a table, chain, rule or COMMIT"));
            };
            let (chain, spec) = rest.split_once(' ').unwrap_or((rest, ""));
            if !is_chain_name(chain) {
                return Err(err("a malformed chain name"));
            }
            rules += 1;
            if rules > MAX_RULES {
                return Err(err("more rules than dird reads from a namespace"));
            }
            if let Some(t) = current {
                let list = state
                    .tables
                    .entry(t)
                    .or_default()
                    .chains
                    .get_mut(chain)
                    .ok_or_else(|| err("a rule of an undeclared chain"))?;
                list.push(normalize_spec(spec));
            }
        }
        if table.is_some() {
            return Err(ParseError {
                line: text.lines().count(),
                message: "missing COMMIT",
                text: String::new(),
            });
        }
        Ok(state)
    }

    /// Replays `iptables-restore --noflush` input on this in-memory model (the kernel is not
    /// touched; that is [`crate::apply`]'s work): `*table`, `:chain`, `-A`, `-I`, `-D`, `-F`,
    /// `-N`, `-X`, `COMMIT`. Declaring an existing user chain flushes it, as iptables does.
    /// Tables other than [`Table::ALL`] (`security`, …) are skipped up to their `COMMIT`: dird
    /// never writes them, so they are neither modelled nor touched.
    pub fn replay(&mut self, text: &str) -> Result<(), ParseError> {
        let mut table: Option<Table> = None;
        let mut skipping = false;
        for (i, raw) in text.lines().enumerate() {
            let err = |message| ParseError {
                line: i + 1,
                message,
                text: raw.to_owned(),
            };
            let mut line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if skipping {
                skipping = line != "COMMIT";
                continue;
            }
            if line.starts_with('[') {
                // `iptables-save -c`: "[packets:bytes] -A ..."
                line = line
                    .split_once(']')
                    .map(|(_, rest)| rest.trim_start())
                    .ok_or_else(|| err("bad counters"))?;
            }
            if let Some(name) = Table::header_name(line) {
                if name.is_empty() {
                    return Err(err("missing table name"));
                }
                let Some(t) = Table::from_name(name) else {
                    skipping = true;
                    continue;
                };
                let ts = self.tables.entry(t).or_default();
                for b in t.builtins() {
                    ts.chains.entry((*b).to_owned()).or_default();
                }
                table = Some(t);
                continue;
            }
            if line == "COMMIT" {
                table.take().ok_or_else(|| err("COMMIT outside a table"))?;
                continue;
            }
            let t = table.ok_or_else(|| err("rule outside a table"))?;
            let chains = &mut self.tables.entry(t).or_default().chains;
            if let Some(decl) = line.strip_prefix(':') {
                let name = decl
                    .split_whitespace()
                    .next()
                    .ok_or_else(|| err("empty chain declaration"))?;
                let rules = chains.entry(name.to_owned()).or_default();
                if !t.is_builtin(name) {
                    rules.clear();
                }
                continue;
            }
            let (cmd, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim();
            let (chain, spec) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            if chain.is_empty() {
                return Err(err("missing chain"));
            }
            let spec = normalize_spec(spec);
            run_command(chains, t, cmd, chain, spec).map_err(err)?;
        }
        if table.is_some() || skipping {
            return Err(ParseError {
                line: text.lines().count(),
                message: "missing COMMIT",
                text: String::new(),
            });
        }
        Ok(())
    }

    pub fn rules(&self, table: Table, chain: &str) -> Option<&Vec<String>> {
        self.tables.get(&table).and_then(|t| t.chains.get(chain))
    }

    /// dird's chains as installed, as a plan (legacy removal and jumps not included).
    pub fn own_chains(&self) -> IptablesPlan {
        let mut chains = Vec::new();
        for (table, ts) in &self.tables {
            for builtin in table.builtins() {
                if let Some(rules) = ts.chains.get(&own_chain_name(builtin)) {
                    chains.push(OwnChain {
                        table: *table,
                        builtin,
                        rules: rules.clone(),
                    });
                }
            }
        }
        IptablesPlan::new(chains, Vec::new())
    }

    /// dird's chains in `table`: `DIRD-<one of the table's built-in chains>`, exactly (a
    /// `DIRD-X` someone else made is not dird's).
    pub fn own_chain_names(&self, table: Table) -> Vec<String> {
        self.tables
            .get(&table)
            .map(|t| {
                t.chains
                    .keys()
                    .filter(|c| table.is_own_chain(c))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The state with empty tables and empty built-in chains dropped, so that "nothing
    /// installed" compares equal however the tables were listed.
    pub fn canonical(&self) -> IptablesState {
        let mut out = self.clone();
        for (table, ts) in out.tables.iter_mut() {
            ts.chains
                .retain(|name, rules| !(table.is_builtin(name) && rules.is_empty()));
        }
        out.tables.retain(|_, ts| !ts.chains.is_empty());
        out
    }
}

/// A save line's own checks: length, no control character, no quote left open.
fn check_line(line: &str) -> Result<(), &'static str> {
    if line.len() > MAX_LINE {
        return Err("a line longer than dird reads");
    }
    if line.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("a control character");
    }
    let (mut quoted, mut escaped) = (false, false);
    for c in line.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ => {}
        }
    }
    if quoted {
        return Err("a quote left open at the end of the line");
    }
    Ok(())
}

/// A chain name as iptables allows it (at most 28 bytes) and prints it unquoted.
fn is_chain_name(name: &str) -> bool {
    (1..=28).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// `[packets:bytes]`.
fn is_counters(text: &str) -> bool {
    text.strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .and_then(|t| t.split_once(':'))
        .is_some_and(|(p, b)| {
            !p.is_empty()
                && !b.is_empty()
                && (p.bytes().chain(b.bytes())).all(|c| c.is_ascii_digit())
        })
}

/// Applies one `iptables-restore` command (`-A`, `-I`, `-D`, `-F`, `-N`, `-X`) to a table's
/// chains; the error is the message for the line.
fn run_command(
    chains: &mut BTreeMap<String, Vec<String>>,
    t: Table,
    cmd: &str,
    chain: &str,
    spec: String,
) -> Result<(), &'static str> {
    match cmd {
        "-A" | "--append" => chains.get_mut(chain).ok_or("no such chain")?.push(spec),
        "-I" | "--insert" => {
            let rules = chains.get_mut(chain).ok_or("no such chain")?;
            let (pos, spec) = insert_position(spec)?;
            if pos == 0 || pos > rules.len() + 1 {
                return Err("bad position");
            }
            rules.insert(pos - 1, spec);
        }
        "-D" | "--delete" => {
            let rules = chains.get_mut(chain).ok_or("no such chain")?;
            let at = rules
                .iter()
                .position(|r| *r == spec)
                .ok_or("no such rule")?;
            rules.remove(at);
        }
        "-F" | "--flush" => chains.get_mut(chain).ok_or("no such chain")?.clear(),
        "-N" | "--new-chain" => {
            if chains.contains_key(chain) {
                return Err("chain exists");
            }
            chains.insert(chain.to_owned(), Vec::new());
        }
        "-X" | "--delete-chain" => {
            if t.is_builtin(chain) {
                return Err("cannot delete a built-in chain");
            }
            match chains.get(chain) {
                None => return Err("no such chain"),
                Some(rules) if !rules.is_empty() => return Err("chain not empty"),
                Some(_) => {}
            }
            let target = format!("-j {chain}");
            if chains
                .values()
                .flatten()
                .any(|r| r.ends_with(&target) || r.contains(&format!("{target} ")))
            {
                return Err("chain still referenced");
            }
            chains.remove(chain);
        }
        _ => return Err("unknown command"),
    }
    Ok(())
}

/// The position (default 1) and the rule of an `-I` command's `[N] RULE`.
fn insert_position(spec: String) -> Result<(usize, String), &'static str> {
    match spec.split_once(' ') {
        Some((n, s)) if n.bytes().all(|b| b.is_ascii_digit()) => Ok((
            n.parse::<usize>().map_err(|_| "bad position")?,
            s.to_owned(),
        )),
        _ if !spec.is_empty() && spec.bytes().all(|b| b.is_ascii_digit()) => {
            Err("insert without rule")
        }
        _ => Ok((1, spec)),
    }
}
