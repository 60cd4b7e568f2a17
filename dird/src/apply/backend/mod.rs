//! Which iptables backend dird writes through. dockerd runs whichever `iptables` comes first on
//! its PATH (iptables-nft or iptables-legacy); a nat ACCEPT written through the other backend
//! sits in another ruleset than Docker's SNAT and does nothing. [`gather`] reads Docker's own
//! rules through both `iptables-nft-save` and `iptables-legacy-save` (without `-t`, which could
//! create a table), [`decide`] turns that evidence into a [`Choice`] without side effects.

use std::fmt;
use std::io::ErrorKind;
use std::path::Path;
use std::time::{Duration, Instant};

use super::iptables::{
    IptablesError, IptablesTools, RESTORE_ENV, SAVE_ENV, SYSTEM_RESTORE, SYSTEM_SAVE,
};
use crate::config::IptablesWait;
use crate::netns::child::{self, ChildError};
use crate::netns::{self, NetnsError};

/// How long one save or `--version` probe of the detection may run.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Nft,
    Legacy,
}

impl Backend {
    pub const ALL: [Backend; 2] = [Backend::Nft, Backend::Legacy];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Nft => "nft",
            Backend::Legacy => "legacy",
        }
    }

    pub fn save_program(self) -> &'static str {
        match self {
            Backend::Nft => "iptables-nft-save",
            Backend::Legacy => "iptables-legacy-save",
        }
    }

    pub fn restore_program(self) -> &'static str {
        match self {
            Backend::Nft => "iptables-nft-restore",
            Backend::Legacy => "iptables-legacy-restore",
        }
    }

    fn other(self) -> Backend {
        match self {
            Backend::Nft => Backend::Legacy,
            Backend::Legacy => Backend::Nft,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Docker's rules as one backend's save tool shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// Docker's chains (`DOCKER`, `DOCKER-*`) declared in the host namespace's `nat` or
    /// `filter` table.
    pub host_chains: Vec<String>,
    /// Docker's ingress `-j MARK --set-xmark` rules in the sbox's `mangle` table.
    pub sbox_mark: bool,
    /// Docker's `-m ipvs --ipvs -j SNAT` in the sbox's `nat` table.
    pub sbox_snat: bool,
    /// Saves that ran but failed. A save tool that is not installed is not recorded: it is
    /// simply no evidence.
    pub save_failures: Vec<String>,
    /// Why this backend's restore tool could not be started, if it could not.
    pub restore_missing: Option<String>,
}

impl Seen {
    fn in_sbox(&self) -> bool {
        self.sbox_mark || self.sbox_snat
    }

    fn in_host(&self) -> bool {
        !self.host_chains.is_empty()
    }

    /// `ingress_sbox MARK rules in mangle, host chains DOCKER/DOCKER-USER`, or `nothing`.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.sbox_mark {
            parts.push("ingress_sbox MARK rules in mangle".to_string());
        }
        if self.sbox_snat {
            parts.push("ingress_sbox ipvs SNAT in nat".to_string());
        }
        if self.in_host() {
            parts.push(format!("host chains {}", self.host_chains.join("/")));
        }
        if parts.is_empty() {
            return "nothing".into();
        }
        parts.join(", ")
    }
}

/// What both backends showed, and the firewall backend the Engine reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    pub nft: Seen,
    pub legacy: Seen,
    /// `/info` `FirewallBackend.Driver` (Engine 28.1 and later): `iptables`, `nftables`, with
    /// `+firewalld` when firewalld runs; `None` when the Engine does not say.
    pub engine_firewall: Option<String>,
}

/// Whether the Engine's firewall driver is nftables (with or without firewalld).
fn is_nftables(driver: &str) -> bool {
    driver.split('+').next() == Some("nftables")
}

impl Evidence {
    pub fn of(&self, b: Backend) -> &Seen {
        match b {
            Backend::Nft => &self.nft,
            Backend::Legacy => &self.legacy,
        }
    }

    fn of_mut(&mut self, b: Backend) -> &mut Seen {
        match b {
            Backend::Nft => &mut self.nft,
            Backend::Legacy => &mut self.legacy,
        }
    }
}

/// `DIRD_IPTABLES_SAVE` / `DIRD_IPTABLES_RESTORE`. Either one set skips detection; the one not
/// set stays the system's tool (as [`IptablesTools::default`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Override {
    pub save: Option<String>,
    pub restore: Option<String>,
}

impl Override {
    pub fn from_env() -> Override {
        Override {
            save: std::env::var(SAVE_ENV).ok(),
            restore: std::env::var(RESTORE_ENV).ok(),
        }
    }

    pub fn is_set(&self) -> bool {
        self.save.is_some() || self.restore.is_some()
    }
}

/// Where the deciding evidence was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Docker's ingress rules in `ingress_sbox`: where dird's nat ACCEPT must sit.
    Sbox,
    /// Docker's chains in the namespace dird runs in.
    Host,
}

/// The tools dird uses, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Override {
        save: String,
        restore: String,
    },
    /// Docker's rules were found through `backend` only (at the `basis` level).
    Found {
        backend: Backend,
        basis: Basis,
        evidence: Evidence,
    },
    /// No Docker rules through either backend: the system's `iptables-save`/`iptables-restore`.
    SystemDefault {
        evidence: Evidence,
    },
}

impl Choice {
    pub fn backend(&self) -> Option<Backend> {
        match self {
            Choice::Found { backend, .. } => Some(*backend),
            _ => None,
        }
    }

    pub fn tools(&self, wait: Option<IptablesWait>) -> IptablesTools {
        let (save, restore) = match self {
            Choice::Override { save, restore } => (save.clone(), restore.clone()),
            Choice::Found { backend, .. } => (
                backend.save_program().to_string(),
                backend.restore_program().to_string(),
            ),
            Choice::SystemDefault { .. } => (SYSTEM_SAVE.to_string(), SYSTEM_RESTORE.to_string()),
        };
        IptablesTools {
            save,
            restore,
            wait,
            deadline: None,
        }
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Choice::Override { save, restore } => {
                write!(f, "{save}/{restore} (set by {SAVE_ENV}/{RESTORE_ENV})")
            }
            Choice::Found {
                backend,
                basis,
                evidence,
            } => {
                write!(
                    f,
                    "{backend} (Docker's rules found in {} only: {}",
                    backend.save_program(),
                    evidence.of(*backend).describe()
                )?;
                let other = evidence.of(backend.other());
                if *basis == Basis::Sbox && other.in_host() {
                    write!(
                        f,
                        "; {} shows {}: the ingress_sbox decides",
                        backend.other().save_program(),
                        other.describe()
                    )?;
                }
                f.write_str(")")
            }
            Choice::SystemDefault { evidence } => {
                write!(
                    f,
                    "system default {SYSTEM_SAVE}/{SYSTEM_RESTORE} (no Docker rules found through {} or {}",
                    Backend::Nft.save_program(),
                    Backend::Legacy.save_program()
                )?;
                for b in Backend::ALL {
                    for failure in &evidence.of(b).save_failures {
                        write!(f, "; {failure}")?;
                    }
                }
                f.write_str(")")
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Docker's rules at the deciding level are in both backends.
    #[error("{}", conflict_text(*.basis, .evidence))]
    Conflict {
        basis: Basis,
        evidence: Box<Evidence>,
    },
    #[error("Docker's rules are in {} but {} cannot be started ({reason}), so dird cannot use the {backend} iptables backend; install it, or set {SAVE_ENV}/{RESTORE_ENV}", .backend.save_program(), .backend.restore_program())]
    RestoreMissing { backend: Backend, reason: String },
    /// The Engine writes its rules with nftables and none are in iptables: dird's iptables
    /// rules would meet none of Docker's.
    #[error("Docker Engine's firewall backend is {driver} (/info FirewallBackend) and none of Docker's rules are in iptables, where dird works: dird installs nothing; set \"firewall-backend\": \"iptables\" in /etc/docker/daemon.json and restart dockerd")]
    NativeNftables { driver: String },
    #[error("cannot read Docker's iptables rules: {0}")]
    Namespace(#[from] NetnsError),
    #[error("detecting the iptables backend stopped before finishing")]
    Lost,
}

fn conflict_text(basis: Basis, ev: &Evidence) -> String {
    let what = match basis {
        Basis::Sbox => "ingress_sbox rules",
        Basis::Host => "chains",
    };
    format!(
        "cannot tell which iptables backend dockerd uses: Docker's {what} are in both {} ({}) and {} ({}); \
         point `iptables` at the one dockerd should use (`update-alternatives --set iptables /usr/sbin/iptables-legacy` or `/usr/sbin/iptables-nft`), \
         restart dockerd and remove the other's leftover rules (or reboot), \
         or set {SAVE_ENV}/{RESTORE_ENV} (e.g. iptables-legacy-save/iptables-legacy-restore)",
        Backend::Nft.save_program(),
        ev.nft.describe(),
        Backend::Legacy.save_program(),
        ev.legacy.describe()
    )
}

/// The decision. An override wins. Otherwise the `ingress_sbox` evidence decides when exactly
/// one backend has it (that is where dird's nat ACCEPT must meet Docker's SNAT, so host chains
/// in the other backend do not matter); when neither has it, the host's chains decide when
/// exactly one backend has them; Docker's rules in neither backend fall back to the system's
/// tools, unless the Engine says its firewall backend is nftables: then there is nothing for
/// dird to meet ([`BackendError::NativeNftables`]; Docker 28's experimental nftables backend
/// still writes the ingress rules through iptables, and those decide). Docker's rules in both
/// backends at the deciding level (sbox in both, or no sbox evidence and host chains in both)
/// is a [`BackendError::Conflict`]; a chosen backend whose restore tool cannot be started is a
/// [`BackendError::RestoreMissing`].
pub fn decide(over: &Override, ev: &Evidence) -> Result<Choice, BackendError> {
    if over.is_set() {
        return Ok(Choice::Override {
            save: over.save.clone().unwrap_or_else(|| SYSTEM_SAVE.into()),
            restore: over
                .restore
                .clone()
                .unwrap_or_else(|| SYSTEM_RESTORE.into()),
        });
    }
    let sole = |nft: bool, legacy: bool| match (nft, legacy) {
        (true, false) => Some(Ok(Backend::Nft)),
        (false, true) => Some(Ok(Backend::Legacy)),
        (true, true) => Some(Err(())),
        (false, false) => None,
    };
    let (basis, verdict) = match sole(ev.nft.in_sbox(), ev.legacy.in_sbox()) {
        Some(v) => (Basis::Sbox, Some(v)),
        None => (Basis::Host, sole(ev.nft.in_host(), ev.legacy.in_host())),
    };
    let backend = match verdict {
        None => {
            if let Some(driver) = ev.engine_firewall.as_deref().filter(|d| is_nftables(d)) {
                return Err(BackendError::NativeNftables {
                    driver: driver.to_owned(),
                });
            }
            return Ok(Choice::SystemDefault {
                evidence: ev.clone(),
            });
        }
        Some(Err(())) => {
            return Err(BackendError::Conflict {
                basis,
                evidence: Box::new(ev.clone()),
            })
        }
        Some(Ok(b)) => b,
    };
    if let Some(reason) = &ev.of(backend).restore_missing {
        return Err(BackendError::RestoreMissing {
            backend,
            reason: reason.clone(),
        });
    }
    Ok(Choice::Found {
        backend,
        basis,
        evidence: ev.clone(),
    })
}

/// Detection as the daemon runs it: the override from the environment, else Docker's rules in
/// this namespace and in the sbox at `sbox` (when it exists), and the Engine's own firewall
/// driver (`/info`, when it says).
pub fn detect(sbox: &Path, engine_firewall: Option<String>) -> Result<Choice, BackendError> {
    detect_with(
        &Override::from_env(),
        None,
        Some(sbox).filter(|p| p.exists()),
        engine_firewall,
    )
}

/// [`detect`] with the override given, `host` the namespace to read Docker's chains in (`None`:
/// the calling thread's) and `sbox` the sbox (`None`: no sbox). Nothing is run when overridden.
pub fn detect_with(
    over: &Override,
    host: Option<&Path>,
    sbox: Option<&Path>,
    engine_firewall: Option<String>,
) -> Result<Choice, BackendError> {
    if over.is_set() {
        return decide(over, &Evidence::default());
    }
    let mut ev = gather(host, sbox)?;
    ev.engine_firewall = engine_firewall;
    decide(over, &ev)
}

/// Runs both save tools in `host` (`None`: here) and in `sbox`, and checks that both restore
/// tools can be started.
pub fn gather(host: Option<&Path>, sbox: Option<&Path>) -> Result<Evidence, BackendError> {
    let host_saves = match host {
        Some(p) => netns::run_in(p, save_both)?,
        None => save_both(),
    };
    let sbox_saves = match sbox {
        Some(p) => netns::run_in(p, save_both)?,
        None => [Ok(None), Ok(None)],
    };
    let mut ev = Evidence::default();
    for ((b, host), sbox) in Backend::ALL.into_iter().zip(host_saves).zip(sbox_saves) {
        let seen = ev.of_mut(b);
        match host {
            Ok(text) => seen.host_chains = host_chains(text.as_deref().unwrap_or("")),
            Err(e) => seen.save_failures.push(format!("host: {e}")),
        }
        match sbox {
            Ok(text) => {
                (seen.sbox_mark, seen.sbox_snat) = sbox_rules(text.as_deref().unwrap_or(""))
            }
            Err(e) => seen.save_failures.push(format!("ingress_sbox: {e}")),
        }
        let deadline = Some(Instant::now() + PROBE_TIMEOUT);
        seen.restore_missing =
            child::run(b.restore_program(), &["--version".into()], None, deadline)
                .err()
                .map(|e| e.to_string());
    }
    Ok(ev)
}

type SaveResult = Result<Option<String>, IptablesError>;

/// Both backends' full save in the calling thread's namespace; `Ok(None)`: tool not installed.
fn save_both() -> [SaveResult; 2] {
    Backend::ALL.map(|b| {
        let tools = IptablesTools {
            save: b.save_program().into(),
            restore: b.restore_program().into(),
            wait: None,
            deadline: Some(Instant::now() + PROBE_TIMEOUT),
        };
        match tools.save_all() {
            Ok(text) => Ok(Some(text)),
            Err(IptablesError::Run(ChildError::Spawn { source, .. }))
                if source.kind() == ErrorKind::NotFound =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    })
}

/// Each line of a save with the table it belongs to.
fn lines_by_table(save: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut table = "";
    save.lines().filter_map(move |line| {
        if let Some(t) = line.strip_prefix('*') {
            table = t.trim();
            return None;
        }
        Some((table, line))
    })
}

/// Docker's chains (`DOCKER` and every `DOCKER-*`: no one of them is relied on, as Docker
/// renames and adds chains, e.g. `DOCKER-FORWARD` in 28.0) declared in `nat` or `filter`,
/// sorted, once each.
pub fn host_chains(save: &str) -> Vec<String> {
    let mut found: Vec<String> = lines_by_table(save)
        .filter(|(t, _)| matches!(*t, "nat" | "filter"))
        .filter_map(|(_, line)| line.strip_prefix(':')?.split_whitespace().next())
        .filter(|c| *c == "DOCKER" || c.starts_with("DOCKER-"))
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// (Docker's ingress MARK rule in `mangle`, its ipvs SNAT in `nat`).
pub fn sbox_rules(save: &str) -> (bool, bool) {
    let mut seen = (false, false);
    for (table, line) in lines_by_table(save).filter(|(_, l)| l.starts_with("-A ")) {
        match table {
            "mangle" if line.contains(" -j MARK --set-xmark ") => seen.0 = true,
            "nat" if line.contains(" -m ipvs --ipvs ") && line.contains(" -j SNAT") => {
                seen.1 = true
            }
            _ => {}
        }
    }
    seen
}

#[cfg(test)]
mod tests;
