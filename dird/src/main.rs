//! The `dird` binary: parse flags, run one command, map errors to exit statuses
//! (2 = bad input, nothing changed; 1 = runtime failure or usage shown).

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};

use dird::apply::backend::{detect as detect_backend, BackendError};
use dird::commands::{self, usage::Detected};
use dird::config::{self, Action, Cli, Command, LEGACY_GATEWAYS_ENV};
use dird::discovery::{LbSource, SwarmNode};
use dird::docker::{DockerClient, IngressState};
use dird::plan::Ingress;
use dird::reconcile::{self, DaemonError, Launch};

fn legacy_env() -> Option<String> {
    std::env::var(LEGACY_GATEWAYS_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// Why a command failed: the line printed on stderr and the kind of failure.
enum Failure {
    /// The flags, lists or files are wrong and nothing was changed.
    BadInput(String),
    /// Something went wrong while running.
    Runtime(String),
}

impl Failure {
    fn bad_input(e: impl std::fmt::Display) -> Failure {
        Failure::BadInput(e.to_string())
    }

    fn runtime(e: impl std::fmt::Display) -> Failure {
        Failure::Runtime(e.to_string())
    }
}

/// The only place that turns an outcome into an exit status: a failure is printed as one
/// `dird: ` line and exits 2 (bad input) or 1 (runtime).
fn exit_code(outcome: Result<ExitCode, Failure>) -> ExitCode {
    match outcome {
        Ok(code) => code,
        Err(Failure::BadInput(line)) => {
            eprintln!("dird: {line}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(line)) => {
            eprintln!("dird: {line}");
            ExitCode::from(1)
        }
    }
}

/// `--help`/`--version` print as clap does; any other parse error (unknown flag, a value that
/// is not a number) becomes one line naming it, a bad input.
fn clap_error(e: clap::Error) -> Failure {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid arguments");
    Failure::BadInput(format!(
        "{} (see dird --help)",
        first.trim_start_matches("error: ")
    ))
}

fn runtime_error(e: std::io::Error) -> Failure {
    Failure::Runtime(format!("cannot start the runtime: {e}"))
}

/// A runtime on this thread, for the commands that only ask and print.
fn current_thread() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(runtime_error)
}

fn main() -> ExitCode {
    exit_code(run())
}

fn run() -> Result<ExitCode, Failure> {
    let argv: Vec<String> = std::env::args().collect();
    let cli = Cli::try_parse_from(&argv).map_err(clap_error)?;
    dird::logging::init();
    match cli.command {
        Some(Command::Plan(args)) => plan(&args),
        Some(Command::Lbs(args)) => {
            let rules = config::RuleConfig::from_args(&args.rules, legacy_env().as_deref())
                .map_err(Failure::bad_input)?;
            current_thread()?.block_on(lbs(rules))
        }
        Some(Command::Status(args)) => status(&args),
        Some(Command::Health(args)) => health(&args),
        Some(Command::Doctor(args)) => {
            let input = commands::doctor::DoctorInput::from_args(&args, legacy_env().as_deref())
                .map_err(Failure::bad_input)?;
            current_thread()?.block_on(doctor(input))
        }
        Some(Command::Man) => man(),
        None => daemon(argv),
    }
}

/// No subcommand: the daemon itself, `--uninstall`, or the usage screen.
fn daemon(argv: Vec<String>) -> Result<ExitCode, Failure> {
    let cfg = config::load(&argv, legacy_env().as_deref()).map_err(Failure::bad_input)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(runtime_error)?;
    let launch = Launch::new(argv, legacy_env());
    let outcome = rt.block_on(async move {
        match cfg.action {
            Action::Usage => Ok(usage().await),
            Action::Uninstall => reconcile::uninstall_all(&launch, &cfg)
                .await
                .map(|()| ExitCode::SUCCESS)
                .map_err(Failure::runtime),
            Action::Install => match reconcile::run(launch, cfg).await {
                Ok(()) => {
                    tracing::info!("stopping; installed rules are left in place (dird --uninstall removes them)");
                    Ok(ExitCode::SUCCESS)
                }
                Err(DaemonError::Config(e)) => Err(Failure::bad_input(e)),
                Err(e) => Err(Failure::runtime(e)),
            },
        }
    });
    // An apply abandoned at its deadline may still hold a blocking thread: do not wait for it
    // (its iptables children were killed on the way out).
    rt.shutdown_timeout(Duration::from_millis(200));
    outcome
}

fn plan(args: &config::PlanArgs) -> Result<ExitCode, Failure> {
    let files =
        dird::sysctl_files::read_sbox_files(&args.sysctl_dir).map_err(Failure::bad_input)?;
    let input = commands::plan::PlanInput::from_args(args, legacy_env().as_deref(), files)
        .map_err(Failure::bad_input)?;
    let text = commands::plan::render(&input).map_err(Failure::bad_input)?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// This node's ingress and the swarm's view of every node, within 5 s.
/// This node's ingress, the swarm's view and the Engine's firewall driver.
async fn detect() -> Result<(Ingress, Vec<SwarmNode>, Option<String>), String> {
    let ask = async {
        let client = DockerClient::connect().await.map_err(|e| e.to_string())?;
        let ingress = match client.ingress().await.map_err(|e| e.to_string())? {
            IngressState::Ready(i) => i,
            IngressState::NotReady(why) => return Err(why),
        };
        let view = client.swarm_view().await.unwrap_or_default();
        let firewall = client.firewall_driver().await.unwrap_or_default();
        Ok((ingress, view, firewall))
    };
    match tokio::time::timeout(Duration::from_secs(5), ask).await {
        Ok(r) => r,
        Err(_) => Err("the Docker Engine did not answer within 5 s".into()),
    }
}

async fn usage() -> ExitCode {
    let help = Cli::command().render_help().to_string();
    let detected = match detect().await {
        Ok((i, view, _)) => {
            let auto = config::RuleConfig {
                lbs: LbSource::Auto { hosts: Vec::new() },
                ..Default::default()
            };
            let table = commands::lbs::render(&auto, &i, &view)
                .ok()
                .filter(|_| !view.is_empty());
            Detected::Ingress {
                subnet: i.subnet,
                node_ip: i.node_ip,
                table,
            }
        }
        Err(why) => Detected::NotDetected(why),
    };
    eprint!("{}", commands::usage::render(&help, &detected));
    ExitCode::from(1)
}

async fn lbs(rules: config::RuleConfig) -> Result<ExitCode, Failure> {
    let (ingress, view, firewall) = detect().await.map_err(|why| {
        Failure::Runtime(format!("cannot read the swarm's load balancers: {why}"))
    })?;
    let text = commands::lbs::render(&rules, &ingress, &view).map_err(Failure::bad_input)?;
    print!("{text}");
    let sbox = std::path::PathBuf::from(dird::docker::SBOX_NETNS);
    let backend = tokio::task::spawn_blocking(move || detect_backend(&sbox, firewall))
        .await
        .unwrap_or(Err(BackendError::Lost));
    print!("{}", commands::lbs::backend_line(&backend));
    Ok(ExitCode::SUCCESS)
}

/// `dird doctor`: the report on stdout; exit status 0 when healthy, 1 with findings.
async fn doctor(input: commands::doctor::DoctorInput) -> Result<ExitCode, Failure> {
    let client = commands::doctor::connect().await;
    let report = commands::doctor::run(&input, client).await;
    print!("{}", report.render());
    Ok(match report.findings() {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

/// `dird status`: the daemon's status file, and whether the overlay reaches each load balancer.
fn status(args: &config::StatusArgs) -> Result<ExitCode, Failure> {
    let status = dird::telemetry::status::read(&args.status_file).map_err(Failure::runtime)?;
    if args.json {
        let text = serde_json::to_string_pretty(&status).map_err(Failure::runtime)?;
        println!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let reach = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(runtime_error)?
        .block_on(overlay_reach());
    let now = dird::telemetry::status::now();
    print!("{}", commands::status::render(&status, &reach, now));
    Ok(ExitCode::SUCCESS)
}

/// Every remote endpoint of the ingress overlay (address -> node), within 5 s; `None` when it
/// cannot be read (no Docker, no root).
async fn overlay_reach() -> commands::status::Reach {
    let ask = async {
        let client = DockerClient::connect().await.ok()?;
        let ns = client.ingress_overlay_netns().await.ok()??;
        let peers = tokio::task::spawn_blocking(move || dird::apply::peers::overlay_peers(&ns))
            .await
            .ok()?
            .ok()?;
        Some(peers.into_iter().map(|p| (p.ip, Some(p.vtep))).collect())
    };
    tokio::time::timeout(Duration::from_secs(5), ask)
        .await
        .ok()
        .flatten()
}

/// `dird health`: one line on stdout; exit status 0 when the daemon says healthy.
fn health(args: &config::HealthArgs) -> Result<ExitCode, Failure> {
    let addr = args.metrics_addr.trim().parse().map_err(|_| {
        Failure::bad_input(config::ConfigError::BadAddress {
            flag: "--metrics-addr",
            value: args.metrics_addr.clone(),
        })
    })?;
    let answer = commands::health::ask(addr, Duration::from_secs(3)).map_err(Failure::runtime)?;
    print!("{}", answer.render());
    Ok(if answer.healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `dird man` (hidden): the manual page of the whole command line, as roff, on stdout.
fn man() -> Result<ExitCode, Failure> {
    use std::io::Write;
    let page = man_page().map_err(Failure::runtime)?;
    std::io::stdout()
        .lock()
        .write_all(page.as_bytes())
        .map_err(Failure::runtime)?;
    Ok(ExitCode::SUCCESS)
}

/// One page in section 8: the daemon's synopsis and flags, then under SUBCOMMANDS each visible
/// subcommand's description, synopsis and flags, then the help's epilogue as NOTES.
fn man_page() -> std::io::Result<String> {
    use clap_mangen::Man;
    // clap_mangen starts every rendered piece with this definition of \*(Aq; it is kept once.
    const AQ: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
    /// What `render` writes, less the \*(Aq definition and the `.SH` heading.
    fn body(render: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> std::io::Result<String> {
        let mut out = Vec::new();
        render(&mut out)?;
        let text = String::from_utf8_lossy(&out).replace(AQ, "");
        Ok(text
            .lines()
            .filter(|l| !l.starts_with(".SH "))
            .map(|l| format!("{l}\n"))
            .collect())
    }

    let mut cmd = Cli::command().disable_help_subcommand(true);
    // The about text starts with the program's name, which the NAME line already gives.
    if let Some(about) = cmd.get_about().map(|a| a.to_string()) {
        cmd = cmd.about(about.trim_start_matches("dird: ").to_owned());
    }
    cmd.build();
    let man = Man::new(cmd.clone())
        .section("8")
        .manual("System Administration Commands");
    let mut page = String::from(AQ);
    page += &body(|o| man.render_title(o))?;
    for (name, render) in [
        (
            "NAME",
            Man::render_name_section as fn(&Man, &mut dyn std::io::Write) -> _,
        ),
        ("SYNOPSIS", Man::render_synopsis_section),
        ("DESCRIPTION", Man::render_description_section),
        ("OPTIONS", Man::render_options_section),
    ] {
        page += &format!(".SH {name}\n");
        page += &body(|o| render(&man, o))?;
    }
    page += ".SH SUBCOMMANDS\n";
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub_man = Man::new(sub.clone());
        page += &format!(".SS \"dird {}\"\n", sub.get_name());
        page += &body(|o| sub_man.render_description_section(o))?;
        page += ".PP\n";
        page += &body(|o| sub_man.render_synopsis_section(o))?;
        page += &body(|o| sub_man.render_options_section(o))?;
    }
    page += ".SH NOTES\n";
    // The epilogue's blank line separates paragraphs, which roff spells .PP.
    for line in body(|o| man.render_extra_section(o))?.lines() {
        page += if line.is_empty() { ".PP" } else { line };
        page += "\n";
    }
    page += ".SH VERSION\n";
    page += &body(|o| man.render_version_section(o))?;
    // Characters beyond ASCII (the help's dashes) as groff escapes, readable without preconv.
    Ok(page
        .chars()
        .map(|c| match c.is_ascii() {
            true => c.to_string(),
            false => format!("\\[u{:04X}]", u32::from(c)),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn man_page_covers_the_daemon_flags_and_the_visible_subcommands() {
        let page = super::man_page().unwrap();
        assert!(page.contains(".TH dird 8 "), "{page}");
        for want in [
            "\\fB\\-\\-ingress\\-gateway\\-ips\\fR",
            "\\fB\\-\\-node\\-ip\\fR",
            ".SS \"dird plan\"",
            ".SS \"dird lbs\"",
            ".SS \"dird doctor\"",
            ".SS \"dird status\"",
            ".SH NOTES",
        ] {
            assert!(page.contains(want), "{want} missing from\n{page}");
        }
        assert!(!page.contains("dird man"), "the man subcommand is hidden");
        assert_eq!(page.matches(".ds Aq").count(), 2, "one \\*(Aq definition");
        assert!(page.is_ascii(), "non-ASCII characters are escaped");
    }
}
