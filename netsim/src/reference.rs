//! Comparing netsim's rule sets with captures of real Docker swarms
//! (`tests/reference/docker-<engine>-swarm-1node`), after normalising addresses, fwmarks and the
//! random ports of Docker's DNS resolver. Rules are compared per table and chain as sets
//! (Docker inserts some at the top, so only their order differs).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::scenario::Scenario;
use crate::Error;

/// The scenario describing the captured swarm.
pub const REFERENCE_SCENARIO: &str = include_str!("../tests/fixtures/reference-1node.toml");

/// A capture's address/mark roles, from its `roles.txt` (`ADDRESS-or-MARK ROLE` a line, e.g.
/// `10.0.0.2 SBOX`, `10.0.0.3 VIP:web`, `10.0.0.4 TASK:web.1`, `0x101 MARK:web`), written by
/// the capture script from `docker inspect` and the sbox's MARK rules.
pub fn capture_roles(dir: &Path) -> Result<Vec<(String, String)>, Error> {
    let text = read(dir, "roles.txt")?;
    let mut roles = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        match line.split_whitespace().collect::<Vec<_>>()[..] {
            [from, role] => roles.push((from.to_string(), role.to_string())),
            _ => {
                return Err(Error::Reference(format!(
                    "{}/roles.txt line {}: want `ADDRESS ROLE`, got {line:?}",
                    dir.display(),
                    n + 1
                )))
            }
        }
    }
    Ok(roles)
}

/// The capture's task files (`05-task-*.txt`) with the netsim task each one is: the `TASK:`
/// role whose address the file's interfaces hold.
pub fn capture_tasks(
    dir: &Path,
    roles: &[(String, String)],
) -> Result<Vec<(String, String)>, Error> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| Error::Reference(format!("{}: {e}", dir.display())))?;
    let mut files: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.starts_with("05-task-") && f.ends_with(".txt"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = read(dir, &file)?;
        let task = roles.iter().find_map(|(addr, role)| {
            let name = role.strip_prefix("TASK:")?;
            text.contains(&format!("inet {addr}/"))
                .then(|| name.to_string())
        });
        let task = task.ok_or_else(|| {
            Error::Reference(format!("{file}: no address of a TASK role in roles.txt"))
        })?;
        out.push((file, task));
    }
    Ok(out)
}

/// The same roles for a netsim scenario (node 0's sandbox).
pub fn scenario_roles(sc: &Scenario) -> Vec<(String, String)> {
    let mut v = vec![(sc.nodes[0].ingress_ip.to_string(), "SBOX".to_string())];
    for s in &sc.services {
        v.push((s.vip.to_string(), format!("VIP:{}", s.name)));
        v.push((format!("{:#x}", s.fwmark), format!("MARK:{}", s.name)));
    }
    for i in 0..sc.tasks.len() {
        v.push((
            sc.tasks[i].ingress_ip.to_string(),
            format!("TASK:{}", sc.task_name(i)),
        ));
    }
    v
}

/// Table → (chain declarations, chain → sorted rules).
pub type Normalised = BTreeMap<String, (BTreeSet<String>, BTreeMap<String, Vec<String>>)>;

fn map_token(tok: &str, roles: &[(String, String)], dns_chain: bool) -> String {
    // Split on '/' and ':' so `10.0.0.2/32`, `127.0.0.11:41067`, `0x101/0xffffffff` map piecewise.
    let mut out = String::new();
    let mut piece = String::new();
    let flush = |piece: &mut String, out: &mut String| {
        let mapped = roles
            .iter()
            .find(|(from, _)| from == piece)
            .map(|(_, to)| to.clone());
        match mapped {
            Some(m) => out.push_str(&m),
            None if dns_chain && piece.parse::<u32>().is_ok_and(|n| n > 1023) => {
                out.push_str("DNSPORT")
            }
            None => out.push_str(piece),
        }
        piece.clear();
    };
    for c in tok.chars() {
        if c == '/' || c == ':' {
            flush(&mut piece, &mut out);
            out.push(c);
        } else {
            piece.push(c);
        }
    }
    flush(&mut piece, &mut out);
    out
}

/// Normalise `iptables-save` text.
pub fn normalise(text: &str, roles: &[(String, String)]) -> Normalised {
    let mut out = Normalised::new();
    let mut table = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line == "COMMIT" {
            continue;
        }
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
            out.entry(table.clone()).or_default();
        } else if let Some(decl) = line.strip_prefix(':') {
            let mut it = decl.split_whitespace();
            let chain = it.next().unwrap_or_default();
            let policy = it.next().unwrap_or_default();
            out.entry(table.clone())
                .or_default()
                .0
                .insert(format!("{chain} {policy}"));
        } else if let Some(rule) = line.strip_prefix("-A ") {
            let (chain, rest) = rule.split_once(' ').unwrap_or((rule, ""));
            let dns = chain.starts_with("DOCKER_OUTPUT") || chain.starts_with("DOCKER_POSTROUTING");
            let rest: Vec<String> = rest
                .split_whitespace()
                .map(|t| map_token(t, roles, dns))
                .collect();
            out.entry(table.clone())
                .or_default()
                .1
                .entry(chain.to_string())
                .or_default()
                .push(rest.join(" "));
        }
    }
    for (_, chains) in out.values_mut() {
        for rules in chains.values_mut() {
            rules.sort();
        }
    }
    out
}

/// Differences between two normalised rule sets, one line each ("missing"/"extra" from `ours`'s
/// point of view).
pub fn diff(ours: &Normalised, reference: &Normalised) -> Vec<String> {
    let mut d = Vec::new();
    let tables: BTreeSet<&String> = ours.keys().chain(reference.keys()).collect();
    let empty = (BTreeSet::new(), BTreeMap::new());
    for t in tables {
        let (od, oc) = ours.get(t).unwrap_or(&empty);
        let (rd, rc) = reference.get(t).unwrap_or(&empty);
        for c in rd.difference(od) {
            d.push(format!("*{t}: missing chain :{c}"));
        }
        for c in od.difference(rd) {
            d.push(format!("*{t}: extra chain :{c}"));
        }
        let chains: BTreeSet<&String> = oc.keys().chain(rc.keys()).collect();
        for c in chains {
            let o: BTreeSet<&String> = oc.get(c).map(|v| v.iter().collect()).unwrap_or_default();
            let r: BTreeSet<&String> = rc.get(c).map(|v| v.iter().collect()).unwrap_or_default();
            for rule in r.difference(&o) {
                d.push(format!("*{t}: missing -A {c} {rule}"));
            }
            for rule in o.difference(&r) {
                d.push(format!("*{t}: extra -A {c} {rule}"));
            }
        }
    }
    d
}

/// The `iptables-save` section of a capture file (`### <label>: iptables-save`).
pub fn section(file_text: &str, label: &str) -> Option<String> {
    let head = format!("### {label}: iptables-save");
    let start = file_text.find(&head)? + head.len();
    let rest = &file_text[start..];
    let end = rest.find("\n###").unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

fn read(dir: &Path, file: &str) -> Result<String, Error> {
    let p = dir.join(file);
    std::fs::read_to_string(&p).map_err(|e| Error::Reference(format!("{}: {e}", p.display())))
}

/// The capture's sandbox and task rule sets: `(what, iptables-save text)`, tasks by netsim name.
pub fn reference_rule_sets(dir: &Path) -> Result<Vec<(String, String)>, Error> {
    let mut v = Vec::new();
    let sbox = read(dir, "03-sbox.txt")?;
    v.push((
        "sbox".to_string(),
        section(&sbox, "sbox")
            .ok_or_else(|| Error::Reference("03-sbox.txt: no iptables-save".into()))?,
    ));
    let roles = capture_roles(dir)?;
    for (file, task) in capture_tasks(dir, &roles)? {
        let text = read(dir, &file)?;
        let s = section(&text, "task")
            .ok_or_else(|| Error::Reference(format!("{file}: no iptables-save")))?;
        v.push((task.to_string(), s));
    }
    Ok(v)
}

/// Every rule set of a capture, normalised with its own roles: the sbox's and each task's (by
/// netsim task name), the host's and the overlay namespace's.
fn all_rule_sets(dir: &Path) -> Result<Vec<(String, Normalised)>, Error> {
    let roles = capture_roles(dir)?;
    let mut sets = reference_rule_sets(dir)?;
    for (what, file) in [("host", "02-host.txt"), ("overlay", "04-overlay.txt")] {
        let text = read(dir, file)?;
        let s = section(&text, what)
            .ok_or_else(|| Error::Reference(format!("{file}: no iptables-save")))?;
        sets.push((what.to_string(), s));
    }
    Ok(sets
        .into_iter()
        .map(|(what, text)| (what, normalise(&text, &roles)))
        .collect())
}

/// The differences between two captures (e.g. two Docker engines), one line each, from `b`'s
/// point of view: `extra` is in `b` only, `missing` in `a` only. Addresses, marks and DNS
/// ports are normalised to their roles first, so only real rule differences remain.
pub fn capture_differences(a: &Path, b: &Path) -> Result<Vec<String>, Error> {
    let (sa, sb) = (all_rule_sets(a)?, all_rule_sets(b)?);
    let mut out = Vec::new();
    for (what, nb) in &sb {
        match sa.iter().find(|(w, _)| w == what) {
            Some((_, na)) => out.extend(diff(nb, na).into_iter().map(|l| format!("{what}: {l}"))),
            None => out.push(format!("{what}: only in {}", b.display())),
        }
    }
    for (what, _) in sa.iter().filter(|(w, _)| !sb.iter().any(|(x, _)| x == w)) {
        out.push(format!("{what}: only in {}", a.display()));
    }
    Ok(out)
}

/// Compare rule sets netsim produced (`what` → iptables-save text) with the capture in `dir`.
/// Returns one line per difference (empty = identical after normalisation).
pub fn compare_with(
    dir: &Path,
    sc: &Scenario,
    ours: &[(String, String)],
) -> Result<Vec<String>, Error> {
    let (rr, sr) = (capture_roles(dir)?, scenario_roles(sc));
    let mut out = Vec::new();
    for (what, reference) in reference_rule_sets(dir)? {
        let Some((_, mine)) = ours.iter().find(|(w, _)| *w == what) else {
            out.push(format!("{what}: netsim has no such rule set"));
            continue;
        };
        for line in diff(&normalise(mine, &sr), &normalise(&reference, &rr)) {
            out.push(format!("{what}: {line}"));
        }
    }
    Ok(out)
}

/// Build the reference swarm in namespaces (as run `run`) and read the live `iptables-save` of
/// its sandbox and of each task (by netsim task name), for [`check_capture`]. Needs root and
/// IPVS.
pub fn live_rule_sets(run: usize) -> Result<(Scenario, Vec<(String, String)>), Error> {
    let sc = crate::scenario::parse_str(Path::new("reference-1node.toml"), REFERENCE_SCENARIO)?;
    let topo = crate::topology::Topology::build(&sc, run)?;
    let mut ours = vec![(
        "sbox".to_string(),
        crate::netns::command(&topo.nodes[0].sbox, "iptables-save", &[], None)?,
    )];
    for (i, t) in topo.tasks.iter().enumerate() {
        if let Some(ns) = t {
            ours.push((
                sc.task_name(i),
                crate::netns::command(ns, "iptables-save", &[], None)?,
            ));
        }
    }
    drop(topo);
    Ok((sc, ours))
}

/// Compare the live rule sets of [`live_rule_sets`] with the capture in `dir`: one PASS line,
/// or one FAIL line per difference. Returns whether they match.
pub fn check_capture(
    dir: &Path,
    sc: &Scenario,
    ours: &[(String, String)],
    out: &mut dyn std::io::Write,
) -> Result<bool, Error> {
    let diffs = compare_with(dir, sc, ours)?;
    for d in &diffs {
        let _ = writeln!(out, "FAIL reference {}: {d}", dir.display());
    }
    if diffs.is_empty() {
        let _ = writeln!(
            out,
            "PASS reference {}: live sbox and task rules match the capture",
            dir.display()
        );
    }
    Ok(diffs.is_empty())
}
