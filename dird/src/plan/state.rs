//! Installed iptables state, parsed from `iptables-save` (counters stripped) — or obtained by
//! applying `iptables-restore --noflush` input to a state, which lets the tests run install and
//! uninstall on the model.

use std::collections::BTreeMap;

use super::iptables::{own_chain_name, IptablesPlan, OwnChain, CHAIN_PREFIX};
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

impl IptablesState {
    /// Parses `iptables-save` output (with or without `-c` counters).
    pub fn parse(text: &str) -> Result<IptablesState, ParseError> {
        let mut state = IptablesState::default();
        state.replay(text)?;
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

    /// Names of user chains that look like dird's (`DIRD-…`), per table.
    pub fn own_chain_names(&self, table: Table) -> Vec<String> {
        self.tables
            .get(&table)
            .map(|t| {
                t.chains
                    .keys()
                    .filter(|c| c.starts_with(CHAIN_PREFIX) && !table.is_builtin(c))
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
