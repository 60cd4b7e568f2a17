//! Command-line surface (clap). Flags mirror the original bash daemon one for one; extensions
//! are marked as such in their help text.

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Lists (<SERVICES>, <PORTS>, <IPS>) may be comma-separated, space-separated, or the flag may be
given several times. An IP of 'null' is skipped but keeps its index, so old load balancers can
be retired without renumbering the others. INGRESS_NODE_GATEWAY_IPS (legacy) is read as a first
--ingress-gateway-ips value.

Without --install or --uninstall, dird prints this help and, when Docker is reachable, this
node's ingress subnet and ingress IP (exit status 1, as the original daemon).";

/// dird: make the true client IP reach containers behind Docker Swarm's ingress routing mesh.
#[derive(Debug, Parser)]
#[command(name = "dird", version, after_help = AFTER_HELP, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(flatten)]
    pub daemon: DaemonArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// (extension) Print the exact rules the daemon would install for these flags, without root
    /// or Docker.
    Plan(PlanArgs),
    /// (extension) Print every swarm node's underlay IP, ingress IP, ID, and whether it is a
    /// load balancer under the given flags (asks the local Docker Engine).
    Lbs(LbsArgs),
    /// (extension) Diagnose this node (any node, worker included) for the misconfigurations
    /// that keep client IPs from reaching tasks; changes nothing and needs no running daemon.
    /// Prints one line per check ('ok:', 'FINDING: ...; fix: ...', 'skipped:') and a summary;
    /// exit status 0 when healthy, 1 with findings.
    Doctor(DoctorArgs),
    /// (extension) Print what the running daemon did: every service task on this node
    /// (configured or not, its load-balancer tables, its last apply and error) and every load
    /// balancer (ID, IP, table, reachable through the ingress overlay). Reads --status-file.
    Status(StatusArgs),
    /// (extension) Ask a running daemon's /healthz (its --metrics-addr): exit status 0 when
    /// healthy, 1 when not or when it does not answer within 3 s. For container healthchecks.
    Health(HealthArgs),
    /// Print the manual page of the whole command line (roff, section 8) on stdout; the
    /// Debian package's dird.8 is made from it.
    #[command(hide = true)]
    Man,
}

/// `dird status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON (for scripts) instead of tables.
    #[arg(long)]
    pub json: bool,
    /// The daemon's --status-file.
    #[arg(long, value_name = "PATH", default_value = crate::telemetry::status::DEFAULT_STATUS_FILE)]
    pub status_file: std::path::PathBuf,
}

/// `dird health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The daemon's --metrics-addr.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9477")]
    pub metrics_addr: String,
}

/// `dird doctor`: the rule flags the daemon is (or would be) started with.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
}

#[derive(Debug, Args)]
pub struct LbsArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
}

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
    /// (extension) Where the daemon keeps its status for `dird status` ('none': nowhere).
    #[arg(long, value_name = "PATH", default_value = crate::telemetry::status::DEFAULT_STATUS_FILE)]
    pub status_file: String,
    /// (extension) Where the kernel's sysctl tree is mounted writable. In a container /proc/sys
    /// is read-only: bind-mount the host's /proc/sys elsewhere (the stack file uses
    /// /host/proc/sys) and name it here.
    #[arg(long, value_name = "DIR", default_value = crate::apply::sysctl::DEFAULT_ROOT)]
    pub sysctl_root: std::path::PathBuf,
}

/// Flags that shape the rules; shared by the daemon and `dird plan`.
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

/// `dird plan`: the ingress facts that Docker would give are taken from the command line.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
    /// The ingress network's subnet.
    #[arg(long, value_name = "CIDR", default_value = "10.0.0.0/24")]
    pub ingress_subnet: String,
    /// This node's ingress IP (its ingress_sbox address).
    #[arg(long, value_name = "IP")]
    pub node_ip: String,
    /// Name of a task container's ingress interface, for the task part of the plan.
    #[arg(long, value_name = "NAME", default_value = "eth0")]
    pub task_interface: String,
    /// The task's address on the ingress network (default: host 100 of the subnet).
    #[arg(long, value_name = "IP")]
    pub task_ip: Option<String>,
    /// UDP ports the task's servers listen on (its service's published UDP target ports).
    #[arg(long, value_name = "PORTS", action = clap::ArgAction::Append)]
    pub task_udp_ports: Vec<String>,
    /// Where conntrack.conf and ipvs.conf are read from.
    #[arg(long, value_name = "DIR", default_value = "/etc/sysctl.d")]
    pub sysctl_dir: std::path::PathBuf,
    /// Print the uninstall plan instead (what `--uninstall` removes after this install).
    #[arg(long)]
    pub uninstall: bool,
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
