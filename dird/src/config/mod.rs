//! Configuration: parsed once from flags and the legacy environment variable, validated, then
//! immutable. Errors here are the operator's to fix (exit status 2).

mod cli;
mod error;
mod lists;

pub use cli::{DaemonArgs, IdEncoding, RuleArgs};
pub use error::ConfigError;
pub use lists::{parse_ipv4, parse_ports, split_items, PortSpec};

use ipnet::Ipv4Net;

use crate::commands::Cli;
use crate::discovery::LbSource;

/// The longest `--resync-interval` accepted: one year.
pub const MAX_RESYNC_INTERVAL_SECS: u64 = 365 * 24 * 3600;
/// The xtables-lock wait when neither `--iptables-wait` flag is given: bounded, so that a
/// process holding `/run/xtables.lock` delays dird's batches rather than failing them.
pub const DEFAULT_IPTABLES_WAIT_SECS: u32 = 10;
/// `--apply-timeout` bounds: a namespace's apply is given up (its children killed) after it.
pub const MAX_APPLY_TIMEOUT_SECS: u64 = 3600;

/// The legacy environment variable of the bash daemon, read before `--ingress-gateway-ips`.
pub const LEGACY_GATEWAYS_ENV: &str = "INGRESS_NODE_GATEWAY_IPS";

/// The value of [`LEGACY_GATEWAYS_ENV`], unless it is unset or blank.
pub fn legacy_env() -> Option<String> {
    std::env::var(LEGACY_GATEWAYS_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// What shapes the rules (shared by the daemon and `dird plan`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleConfig {
    pub services: Vec<String>,
    pub tcp_ports: Vec<PortSpec>,
    pub udp_ports: Vec<PortSpec>,
    /// Where the load balancers come from (`--ingress-gateway-ips`, `--load-balancer-hosts`).
    pub lbs: LbSource,
    pub performance: bool,
    pub indexed_ids: bool,
    pub id_encoding: IdEncoding,
}

/// `--iptables-wait` / `--iptables-wait-seconds N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IptablesWait {
    Forever,
    Seconds(u32),
}

impl IptablesWait {
    /// Arguments for iptables / iptables-restore.
    pub fn args(self) -> Vec<String> {
        match self {
            IptablesWait::Forever => vec!["--wait".into()],
            IptablesWait::Seconds(n) => vec!["--wait".into(), n.to_string()],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Install,
    Uninstall,
    /// Neither flag: print usage and the detected ingress facts.
    Usage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub action: Action,
    pub rules: RuleConfig,
    pub preexisting: bool,
    pub iptables_wait: Option<IptablesWait>,
    /// `--config FILE`: more flags, re-read on SIGHUP.
    pub config_file: Option<std::path::PathBuf>,
    pub resync_interval: std::time::Duration,
    /// `--apply-timeout`: how long one namespace's apply may take.
    pub apply_timeout: std::time::Duration,
    /// `--metrics-addr`.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// `--public-status`: `/status` for clients beyond loopback too.
    pub public_status: bool,
    /// `--conntrack-metrics`: per-task connection counts in `/metrics`.
    pub conntrack_metrics: bool,
    /// `--status-file` (`None`: `none`).
    pub status_file: Option<std::path::PathBuf>,
    /// `--sysctl-root`: the sysctl tree the daemon writes.
    pub sysctl_root: std::path::PathBuf,
}

/// Why a configuration could not be loaded (all are the operator's to fix).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error("cannot read --config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("in --config file {path}: {message}")]
    File { path: String, message: String },
}

/// The most dird reads of a file it is given (`--config`, the sysctl.d files).
pub const MAX_FILE: u64 = 1 << 20;

/// The text of `path`, refused when larger than [`MAX_FILE`] bytes.
pub fn read_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE} bytes"),
        ));
    }
    Ok(text)
}

/// Flags in a `--config` file: white-space separated, `#` starts a comment.
pub fn file_args(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .flat_map(str::split_whitespace)
        .map(str::to_owned)
        .collect()
}

/// Parses `argv` (program name first) and, with `--config FILE`, the flags in that file
/// after the command line's, with the whole command line's parser ([`Cli`]), so that a file
/// is read as the command line is. Used at start-up and on SIGHUP.
pub fn load(argv: &[String], legacy_env: Option<&str>) -> Result<Config, LoadError> {
    use clap::Parser;
    let cli = Cli::try_parse_from(argv).map_err(|e| LoadError::File {
        path: "command line".into(),
        message: first_line(&e.to_string()),
    })?;
    let Some(path) = cli.daemon.config.clone() else {
        return Ok(Config::from_args(&cli.daemon, legacy_env)?);
    };
    let text = read_file(&path).map_err(|source| LoadError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let mut all = argv.to_vec();
    all.extend(file_args(&text));
    let cli = Cli::try_parse_from(&all).map_err(|e| LoadError::File {
        path: path.display().to_string(),
        message: first_line(&e.to_string()),
    })?;
    Ok(Config::from_args(&cli.daemon, legacy_env)?)
}

fn first_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_owned()
}

impl RuleConfig {
    /// `legacy_env` is the value of [`LEGACY_GATEWAYS_ENV`], if set.
    pub fn from_args(args: &RuleArgs, legacy_env: Option<&str>) -> Result<RuleConfig, ConfigError> {
        Ok(RuleConfig {
            lbs: LbSource::parse(
                legacy_env,
                &args.ingress_gateway_ips,
                &args.load_balancer_hosts,
            )?,
            services: lists::parse_services(&args.services)?,
            tcp_ports: parse_ports("--tcp-ports", &args.tcp_ports)?,
            udp_ports: parse_ports("--udp-ports", &args.udp_ports)?,
            performance: !args.no_performance,
            indexed_ids: args.indexed_ids,
            id_encoding: args.id_encoding,
        })
    }

    /// Whether any port filter was given (otherwise all IPVS traffic is routed, not masqueraded).
    pub fn has_port_filter(&self) -> bool {
        !self.tcp_ports.is_empty() || !self.udp_ports.is_empty()
    }
}

impl Config {
    pub fn from_args(args: &DaemonArgs, legacy_env: Option<&str>) -> Result<Config, ConfigError> {
        let action = match (args.install, args.uninstall) {
            (true, true) => return Err(ConfigError::InstallAndUninstall),
            (true, false) => Action::Install,
            (false, true) => Action::Uninstall,
            (false, false) => Action::Usage,
        };
        let iptables_wait = match &args.iptables_wait_seconds {
            Some(s) => Some(IptablesWait::Seconds(s.trim().parse::<u32>().map_err(
                |_| ConfigError::BadNumber {
                    flag: "--iptables-wait-seconds",
                    value: s.clone(),
                },
            )?)),
            None if args.iptables_wait => Some(IptablesWait::Forever),
            None => Some(IptablesWait::Seconds(DEFAULT_IPTABLES_WAIT_SECS)),
        };
        Ok(Config {
            action,
            rules: RuleConfig::from_args(&args.rules, legacy_env)?,
            preexisting: args.preexisting,
            iptables_wait,
            config_file: args.config.clone(),
            resync_interval: resync_interval(args.resync_interval)?,
            apply_timeout: apply_timeout(args.apply_timeout)?,
            metrics_addr: args
                .metrics_addr
                .as_deref()
                .map(|a| {
                    a.trim().parse().map_err(|_| ConfigError::BadAddress {
                        flag: "--metrics-addr",
                        value: a.to_owned(),
                    })
                })
                .transpose()?,
            public_status: args.public_status,
            conntrack_metrics: args.conntrack_metrics,
            status_file: (args.status_file != "none")
                .then(|| std::path::PathBuf::from(&args.status_file)),
            sysctl_root: sysctl_root(&args.sysctl_root)?,
        })
    }
}

/// `--sysctl-root`: a directory that has the sysctls dird writes in every namespace.
fn sysctl_root(dir: &std::path::Path) -> Result<std::path::PathBuf, ConfigError> {
    if dir.join("net/ipv4/conf/all/rp_filter").is_file() {
        Ok(dir.to_path_buf())
    } else {
        Err(ConfigError::NotSysctlTree {
            value: dir.display().to_string(),
        })
    }
}

/// `--apply-timeout`: 1 to [`MAX_APPLY_TIMEOUT_SECS`] seconds.
fn apply_timeout(secs: u64) -> Result<std::time::Duration, ConfigError> {
    if !(1..=MAX_APPLY_TIMEOUT_SECS).contains(&secs) {
        return Err(ConfigError::OutOfRange {
            flag: "--apply-timeout",
            value: secs,
            min: 1,
            max: MAX_APPLY_TIMEOUT_SECS,
        });
    }
    Ok(std::time::Duration::from_secs(secs))
}

/// `--resync-interval`: at most [`MAX_RESYNC_INTERVAL_SECS`] (the daemon's audit timer cannot
/// be set 2^63 seconds or more ahead; 0 already means never).
fn resync_interval(secs: u64) -> Result<std::time::Duration, ConfigError> {
    if secs > MAX_RESYNC_INTERVAL_SECS {
        return Err(ConfigError::TooLong {
            flag: "--resync-interval",
            value: secs,
            max: MAX_RESYNC_INTERVAL_SECS,
        });
    }
    Ok(std::time::Duration::from_secs(secs))
}

/// Parses the ingress subnet given on the command line (for `dird plan`).
pub fn parse_subnet(flag: &'static str, s: &str) -> Result<Ipv4Net, ConfigError> {
    let net: Ipv4Net = s.parse().map_err(|_| ConfigError::BadCidr {
        flag,
        value: s.to_owned(),
    })?;
    if net.network() != net.addr() {
        return Err(ConfigError::BadCidr {
            flag,
            value: s.to_owned(),
        });
    }
    Ok(net)
}

#[cfg(test)]
mod tests;
