//! The checks of this host's kernel and tools: IPVS in the ingress sandbox, the `xt_ipvs`
//! match (`-m ipvs`, which the load balancer's nat ACCEPT uses), and whether dird would write
//! through the iptables backend Docker uses.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{DoctorInput, Line};
use crate::apply::backend::{self, decide, Backend, Evidence, Override};
use crate::apply::iptables::{RESTORE_ENV, SAVE_ENV, SYSTEM_RESTORE, SYSTEM_SAVE};
use crate::apply::IptablesTools;
use crate::netns::{self, child};

/// Where the kernel shows IPVS and `xt_ipvs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFiles {
    /// IPVS's connection table, read from a thread inside ingress_sbox: under
    /// `/proc/thread-self/net`, because `/proc/net` links to `/proc/self/net`, the namespace
    /// of the process's main thread, not of the thread that entered the sbox.
    pub ip_vs: PathBuf,
    /// The matches x_tables has registered (modules loaded now; the list is the kernel's,
    /// the same in every namespace).
    pub ip_tables_matches: PathBuf,
    /// Present while the `xt_ipvs` module is loaded.
    pub xt_ipvs_module: PathBuf,
    /// The running kernel's modules (`/lib/modules/<release>`): `modules.builtin` lists what
    /// is built in, `modules.dep` what can be loaded on demand (iptables-restore loads
    /// `xt_ipvs` when a rule uses it).
    pub modules_dir: PathBuf,
}

impl Default for KernelFiles {
    fn default() -> Self {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        KernelFiles {
            ip_vs: PathBuf::from("/proc/thread-self/net/ip_vs"),
            ip_tables_matches: PathBuf::from("/proc/net/ip_tables_matches"),
            xt_ipvs_module: PathBuf::from("/sys/module/xt_ipvs"),
            modules_dir: Path::new("/lib/modules").join(release.trim()),
        }
    }
}

/// How long one `--version` probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks 3 and 4 (blocking: enters the sbox, runs the save tools), and the iptables tools the
/// task checks read with; `firewall`: the Engine's firewall driver, if it says.
pub fn check(
    input: &DoctorInput,
    sbox: Option<&Path>,
    firewall: Option<String>,
) -> (Vec<Line>, IptablesTools) {
    let mut lines = vec![ipvs(&input.kernel, sbox), xt_ipvs(&input.kernel)];
    let (line, tools) = iptables_backend(&input.over, sbox, firewall);
    lines.push(line);
    (lines, tools)
}

/// Check 3, IPVS: its table in the sbox's `/proc/net`.
fn ipvs(files: &KernelFiles, sbox: Option<&Path>) -> Line {
    let Some(sbox) = sbox else {
        return Line::Skipped("IPVS in ingress_sbox: there is no ingress_sbox".into());
    };
    match netns::run_in(sbox, || files.ip_vs.exists()) {
        Ok(true) => Line::Ok("IPVS is loaded (ingress_sbox has /proc/net/ip_vs)".into()),
        Ok(false) => Line::finding(
            "IPVS is not available in ingress_sbox (it has no /proc/net/ip_vs): the routing mesh cannot balance on this node",
            "load it (`modprobe ip_vs`, and list ip_vs in /etc/modules-load.d/) and restart dockerd",
        ),
        Err(e) => Line::Skipped(format!("IPVS in ingress_sbox: {e}")),
    }
}

/// Check 3, `xt_ipvs`: registered, loaded, built in, or loadable.
fn xt_ipvs(files: &KernelFiles) -> Line {
    let read = |p: PathBuf| std::fs::read_to_string(p).ok();
    let found = xt_ipvs_evidence(
        read(files.ip_tables_matches.clone()).as_deref(),
        files.xt_ipvs_module.exists(),
        read(files.modules_dir.join("modules.builtin")).as_deref(),
        read(files.modules_dir.join("modules.dep")).as_deref(),
    );
    match found {
        Some(how) => Line::Ok(format!("the xt_ipvs match (-m ipvs) is {how}")),
        None => Line::finding(
            format!("the xt_ipvs match (-m ipvs) is not available: not registered ({}), not loaded, and neither built in nor loadable ({}): the load balancer's nat ACCEPT cannot be installed", files.ip_tables_matches.display(), files.modules_dir.display()),
            "install the kernel's extra netfilter modules (e.g. linux-modules-extra-$(uname -r)) and `modprobe xt_ipvs`",
        ),
    }
}

/// Whether the `xt_ipvs` match is there, and how it shows: `matches`, the text of
/// `/proc/net/ip_tables_matches` (one match name a line; `ipvs` once the module is loaded);
/// `loaded`, `/sys/module/xt_ipvs` exists; `builtin` and `dep`, the texts of the kernel's
/// `modules.builtin` and `modules.dep` (module paths, `kernel/net/netfilter/xt_ipvs.ko[.xz]`,
/// the latter followed by `:` and its dependencies). `None`: nowhere.
pub fn xt_ipvs_evidence(
    matches: Option<&str>,
    loaded: bool,
    builtin: Option<&str>,
    dep: Option<&str>,
) -> Option<&'static str> {
    let lists_module = |text: Option<&str>| {
        text.into_iter().flat_map(str::lines).any(|l| {
            let path = l.split(':').next().unwrap_or_default();
            let file = path.rsplit('/').next().unwrap_or_default();
            file.split('.').next() == Some("xt_ipvs")
        })
    };
    if matches.is_some_and(|m| m.lines().any(|l| l.trim() == "ipvs")) {
        Some("registered (/proc/net/ip_tables_matches lists ipvs)")
    } else if loaded {
        Some("loaded (/sys/module/xt_ipvs)")
    } else if lists_module(builtin) {
        Some("built into the kernel")
    } else if lists_module(dep) {
        Some("loadable on demand (modules.dep lists xt_ipvs)")
    } else {
        None
    }
}

/// Check 4: dird's iptables backend is Docker's; and the tools the task checks read with.
fn iptables_backend(
    over: &Override,
    sbox: Option<&Path>,
    firewall: Option<String>,
) -> (Line, IptablesTools) {
    if over.is_set() {
        return overridden(over, sbox);
    }
    match backend::detect_with(over, None, sbox, firewall) {
        Ok(choice) => (
            Line::Ok(format!("iptables backend: {choice}")),
            choice.tools(None),
        ),
        Err(e) => (
            Line::finding(
                format!("dird cannot use Docker's iptables backend: {e}"),
                match e {
                    backend::BackendError::NativeNftables { .. } => r#"set "firewall-backend": "iptables" in /etc/docker/daemon.json and restart dockerd"#.to_string(),
                    _ => format!("leave Docker's rules in one backend only, or set {SAVE_ENV}/{RESTORE_ENV} to the tools of the one dockerd uses"),
                },
            ),
            IptablesTools {
                save: SYSTEM_SAVE.into(),
                restore: SYSTEM_RESTORE.into(),
                wait: None,
                deadline: None,
            },
        ),
    }
}

/// Check 4 with `DIRD_IPTABLES_SAVE`/`RESTORE` set: the backend each overriding tool is
/// (from its `--version`) against the one holding Docker's rules.
fn overridden(over: &Override, sbox: Option<&Path>) -> (Line, IptablesTools) {
    let tools = decide(over, &Evidence::default())
        .map(|c| c.tools(None))
        .unwrap_or_default();
    let docker = match backend::gather(None, sbox) {
        Ok(ev) => decide(&Override::default(), &ev)
            .ok()
            .and_then(|c| c.backend()),
        Err(e) => {
            let why =
                format!("{SAVE_ENV}/{RESTORE_ENV}: cannot read Docker's rules to compare: {e}");
            return (Line::Skipped(why), tools);
        }
    };
    let label = |var: &str, set: &Option<String>, program: &str| match set {
        Some(_) => format!("{var}={program}"),
        None => format!("the system's {program} ({var} unset)"),
    };
    let programs = [
        (label(SAVE_ENV, &over.save, &tools.save), &tools.save),
        (
            label(RESTORE_ENV, &over.restore, &tools.restore),
            &tools.restore,
        ),
    ]
    .map(|(label, p)| (label, program_backend(p)));
    (judge_override(&programs, docker), tools)
}

/// The backend `program` is, from `program --version`.
fn program_backend(program: &str) -> Option<Backend> {
    let deadline = Some(Instant::now() + PROBE_TIMEOUT);
    let out = child::run(program, &["--version".into()], None, deadline).ok()?;
    backend_of_version(&String::from_utf8_lossy(&out.stdout))
}

/// The backend an iptables tool's `--version` names: `iptables-save v1.8.9 (nf_tables)` or
/// `(legacy)`.
pub fn backend_of_version(text: &str) -> Option<Backend> {
    if text.contains("(nf_tables)") {
        Some(Backend::Nft)
    } else if text.contains("(legacy)") {
        Some(Backend::Legacy)
    } else {
        None
    }
}

/// Check 4 with the override set: `programs` are the save and restore tools dird would run
/// (as `VARIABLE=program`, or the system's when unset) with their backends, if known; `docker`
/// is the backend holding Docker's rules, if exactly one does.
pub fn judge_override(programs: &[(String, Option<Backend>)], docker: Option<Backend>) -> Line {
    let set: Vec<&str> = programs.iter().map(|(l, _)| l.as_str()).collect();
    let set = set.join(", ");
    let Some(docker) = docker else {
        return Line::Skipped(format!("{set}: Docker's rules are in neither backend or in both, so the override cannot be compared with them"));
    };
    let wrong: Vec<String> = programs
        .iter()
        .filter_map(|(label, b)| {
            b.filter(|b| *b != docker)
                .map(|b| format!("{label} is {b}"))
        })
        .collect();
    if wrong.is_empty() {
        return Line::Ok(format!(
            "{set}: no tool of the other backend than Docker's ({docker})"
        ));
    }
    Line::finding(
        format!("{}, but Docker's rules are in {} only: dird's rules would sit where Docker's SNAT never meets them", wrong.join(" and "), docker.save_program()),
        format!("set {SAVE_ENV}={} and {RESTORE_ENV}={}, or unset both (dird then detects the backend)", docker.save_program(), docker.restore_program()),
    )
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
