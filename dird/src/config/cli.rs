//! The daemon's flags (clap), and the rule flags it shares with subcommands. Flags mirror the
//! original bash daemon one for one; extensions are marked as such in their help text. The
//! whole command line, with the subcommands, is [`crate::commands::Cli`].

use clap::Args;

/// The daemon's flags (no subcommand); also read from `--config` files.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Install the rules and keep configuring service containers as they start.
    #[arg(long)]
    pub install: bool,
    /// Remove every rule dird (or the original daemon) installed — in ingress_sbox and in
    /// running service containers — then exit.
    #[arg(long)]
    pub uninstall: bool,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Also configure containers already running at start-up (dird always does; accepted for
    /// compatibility).
    #[arg(long)]
    pub preexisting: bool,
    /// Pass '--wait' to iptables (wait for the xtables lock; without either wait flag dird
    /// passes '--wait 10'). The --apply-timeout deadline still applies.
    #[arg(long)]
    pub iptables_wait: bool,
    /// Pass '--wait <N>' to iptables.
    #[arg(long, value_name = "N")]
    pub iptables_wait_seconds: Option<String>,
    /// (extension) Read more flags from FILE (same syntax as the command line, '#' comments);
    /// SIGHUP re-reads it and reconciles every running container.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// (extension) Seconds between full audits that repair drift (0 = never; at most 31536000,
    /// one year).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub resync_interval: u64,
    /// (extension) Seconds one namespace's apply may take (1 to 3600); then its iptables
    /// child processes are killed, the apply counts as failed and the container is retried
    /// with backoff.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub apply_timeout: u64,
    /// (extension) Serve Prometheus metrics on http://ADDR/metrics, health on /healthz (200
    /// once the first sync is done and Docker answered within 60 s) and the status on /status,
    /// e.g. 127.0.0.1:9477 (default: off).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,
    /// (extension) Serve /status (every task, its namespace and last error) to every client
    /// of --metrics-addr; without it, only to clients on loopback (/metrics and /healthz are
    /// served to all).
    #[arg(long)]
    pub public_status: bool,
    /// (extension) With --metrics-addr: also serve dird_task_connections, the connections
    /// tracked in each task by the load balancer that sent them (a conntrack dump per task,
    /// at most every 5 s while scraped; one series per task and load balancer).
    #[arg(long)]
    pub conntrack_metrics: bool,
    /// (extension) Where the daemon keeps its status for `dird status` ('none': nowhere).
    #[arg(long, value_name = "PATH", default_value = crate::telemetry::status::DEFAULT_STATUS_FILE)]
    pub status_file: String,
    /// (extension) Where the kernel's sysctl tree is mounted writable. In a container /proc/sys
    /// is read-only: bind-mount the host's /proc/sys elsewhere (the stack file uses
    /// /host/proc/sys) and name it here.
    #[arg(long, value_name = "DIR", default_value = crate::apply::sysctl::DEFAULT_ROOT)]
    pub sysctl_root: std::path::PathBuf,
}

/// Flags that shape the rules; shared by the daemon, `dird plan`, `dird lbs` and `dird doctor`.
#[derive(Debug, Args, Clone, Default)]
pub struct RuleArgs {
    /// Service names to disable masquerading for: only their containers get task rules and,
    /// without --tcp-ports/--udp-ports, only their published ports skip masquerading.
    #[arg(long, value_name = "SERVICES", action = clap::ArgAction::Append)]
    pub services: Vec<String>,
    /// TCP ports to disable masquerading for (published ports; ranges as 8000:8010).
    #[arg(long, value_name = "PORTS", action = clap::ArgAction::Append)]
    pub tcp_ports: Vec<String>,
    /// UDP ports to disable masquerading for (published ports; ranges as 8000:8010).
    #[arg(long, value_name = "PORTS", action = clap::ArgAction::Append)]
    pub udp_ports: Vec<String>,
    /// Ingress network IPs of the load-balancer nodes ('null' keeps a position), or 'auto'
    /// (extension): every swarm node is a load balancer, discovered from the swarm itself.
    #[arg(long, value_name = "IPS", action = clap::ArgAction::Append)]
    pub ingress_gateway_ips: Vec<String>,
    /// (extension) With 'auto': only nodes whose underlay (Host IP) is in these IPs/CIDRs are
    /// load balancers.
    #[arg(long, value_name = "CIDRS", action = clap::ArgAction::Append)]
    pub load_balancer_hosts: Vec<String>,
    /// Disable performance optimisations (IPVS sysctls in the ingress namespace).
    #[arg(long)]
    pub no_performance: bool,
    /// Use sequential IDs (list positions) for load balancers; forced when the ingress subnet
    /// is larger than /24.
    #[arg(long)]
    pub indexed_ids: bool,
    /// (extension) How the load-balancer ID is carried: 'tos' overwrites the whole TOS byte
    /// (compatible with the original); 'dscp' uses the 6 DSCP bits and keeps ECN (IDs 1-63).
    #[arg(long, value_enum, default_value_t = IdEncoding::Tos, value_name = "ENCODING")]
    pub id_encoding: IdEncoding,
}

/// How the ID is written into the IP header by the load balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum IdEncoding {
    /// The whole TOS byte (wire-compatible with the original daemon; clobbers ECN bits).
    #[default]
    Tos,
    /// The six DSCP bits; the two ECN bits are left alone (IDs 1-63).
    Dscp,
}

impl IdEncoding {
    pub fn max_id(self) -> u8 {
        match self {
            IdEncoding::Tos => 255,
            IdEncoding::Dscp => 63,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            IdEncoding::Tos => "tos",
            IdEncoding::Dscp => "dscp",
        }
    }

    /// The bits of the TOS byte that carry the ID.
    pub fn tos_mask(self) -> u8 {
        match self {
            IdEncoding::Tos => 0xff,
            IdEncoding::Dscp => 0xfc,
        }
    }

    /// Number of low bits of the TOS byte that are not part of the ID.
    pub fn tos_shift(self) -> u32 {
        match self {
            IdEncoding::Tos => 0,
            IdEncoding::Dscp => 2,
        }
    }
}
