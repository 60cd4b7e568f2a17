//! The `dird` binary: parse flags, run one command, map errors to exit statuses
//! (2 = bad input, nothing changed; 1 = runtime failure or usage shown).

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};

use dird::commands::{self, usage::Detected};
use dird::config::{self, Action, Cli, Command, LEGACY_GATEWAYS_ENV};
use dird::docker::{DockerClient, IngressState};
use dird::reconcile::{self, DaemonError, Launch};

fn legacy_env() -> Option<String> {
    std::env::var(LEGACY_GATEWAYS_ENV).ok().filter(|v| !v.trim().is_empty())
}

fn bad_input(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("dird: {e}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let cli = Cli::parse_from(&argv);
    dird::logging::init();
    match cli.command {
        Some(Command::Plan(args)) => plan(&args),
        None => {
            let cfg = match config::load(&argv, legacy_env().as_deref()) {
                Ok(c) => c,
                Err(e) => return bad_input(e),
            };
            let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
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

async fn detect() -> Detected {
    let ask = async {
        let client = DockerClient::connect().await.map_err(|e| e.to_string())?;
        client.ingress().await.map_err(|e| e.to_string())
    };
    match tokio::time::timeout(Duration::from_secs(5), ask).await {
        Ok(Ok(IngressState::Ready(i))) => Detected::Ingress { subnet: i.subnet, node_ip: i.node_ip },
        Ok(Ok(IngressState::NotReady(why))) => Detected::NotDetected(why),
        Ok(Err(e)) => Detected::NotDetected(e),
        Err(_) => Detected::NotDetected("the Docker Engine did not answer within 5 s".into()),
    }
}

async fn usage() -> ExitCode {
    let help = Cli::command().render_help().to_string();
    eprint!("{}", commands::usage::render(&help, &detect().await));
    ExitCode::from(1)
}
