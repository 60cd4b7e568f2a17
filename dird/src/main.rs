//! The `dird` binary: parse flags, run one command, map errors to exit statuses
//! (2 = bad input, nothing changed; 1 = runtime failure or usage shown).

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};

use dird::apply::backend::{detect as detect_backend, BackendError};
use dird::commands::{self, usage::Detected};
use dird::config::{self, Action, Cli, Command, LEGACY_GATEWAYS_ENV};
use dird::docker::{DockerClient, IngressState};
use dird::ids::auto::SwarmNode;
use dird::plan::Ingress;
use dird::reconcile::{self, DaemonError, Launch};

fn legacy_env() -> Option<String> {
    std::env::var(LEGACY_GATEWAYS_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
}

fn bad_input(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("dird: {e}");
    ExitCode::from(2)
}

/// `--help`/`--version` print as clap does; any other parse error (unknown flag, a value that
/// is not a number) becomes one line naming it, exit status 2.
fn clap_error(e: clap::Error) -> ExitCode {
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
    bad_input(format!(
        "{} (see dird --help)",
        first.trim_start_matches("error: ")
    ))
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => return clap_error(e),
    };
    dird::logging::init();
    match cli.command {
        Some(Command::Plan(args)) => plan(&args),
        Some(Command::Lbs(args)) => {
            let rules = match config::RuleConfig::from_args(&args.rules, legacy_env().as_deref()) {
                Ok(r) => r,
                Err(e) => return bad_input(e),
            };
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(lbs(rules)),
                Err(e) => {
                    eprintln!("dird: cannot start the runtime: {e}");
                    ExitCode::from(1)
                }
            }
        }
        None => {
            let cfg = match config::load(&argv, legacy_env().as_deref()) {
                Ok(c) => c,
                Err(e) => return bad_input(e),
            };
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("dird: cannot start the runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            let launch = Launch::new(argv, legacy_env());
            rt.block_on(async move {
                match cfg.action {
                    Action::Usage => usage().await,
                    Action::Uninstall => match reconcile::uninstall_all(&launch, &cfg).await {
                        Ok(()) => ExitCode::SUCCESS,
                        Err(e) => {
                            eprintln!("dird: {e}");
                            ExitCode::from(1)
                        }
                    },
                    Action::Install => match reconcile::run(launch, cfg).await {
                        Ok(()) => {
                            tracing::info!("stopping; installed rules are left in place (dird --uninstall removes them)");
                            ExitCode::SUCCESS
                        }
                        Err(DaemonError::Config(e)) => bad_input(e),
                        Err(e) => {
                            eprintln!("dird: {e}");
                            ExitCode::from(1)
                        }
                    },
                }
            })
        }
    }
}

fn plan(args: &config::PlanArgs) -> ExitCode {
    let files = match config::sysctl_conf::read_sbox_files(&args.sysctl_dir) {
        Ok(f) => f,
        Err(e) => return bad_input(e),
    };
    let input = match commands::plan::PlanInput::from_args(args, legacy_env().as_deref(), files) {
        Ok(i) => i,
        Err(e) => return bad_input(e),
    };
    match commands::plan::render(&input) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => bad_input(e),
    }
}

/// This node's ingress and the swarm's view of every node, within 5 s.
async fn detect() -> Result<(Ingress, Vec<SwarmNode>), String> {
    let ask = async {
        let client = DockerClient::connect().await.map_err(|e| e.to_string())?;
        let ingress = match client.ingress().await.map_err(|e| e.to_string())? {
            IngressState::Ready(i) => i,
            IngressState::NotReady(why) => return Err(why),
        };
        let view = client.swarm_view().await.unwrap_or_default();
        Ok((ingress, view))
    };
    match tokio::time::timeout(Duration::from_secs(5), ask).await {
        Ok(r) => r,
        Err(_) => Err("the Docker Engine did not answer within 5 s".into()),
    }
}

async fn usage() -> ExitCode {
    let help = Cli::command().render_help().to_string();
    let detected = match detect().await {
        Ok((i, view)) => {
            let auto = config::RuleConfig {
                auto_gateways: true,
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

async fn lbs(rules: config::RuleConfig) -> ExitCode {
    match detect().await {
        Ok((ingress, view)) => match commands::lbs::render(&rules, &ingress, &view) {
            Ok(text) => {
                print!("{text}");
                let sbox = std::path::PathBuf::from(dird::docker::SBOX_NETNS);
                let backend = tokio::task::spawn_blocking(move || detect_backend(&sbox))
                    .await
                    .unwrap_or(Err(BackendError::Lost));
                print!("{}", commands::lbs::backend_line(&backend));
                ExitCode::SUCCESS
            }
            Err(e) => bad_input(e),
        },
        Err(why) => {
            eprintln!("dird: cannot read the swarm's load balancers: {why}");
            ExitCode::from(1)
        }
    }
}
