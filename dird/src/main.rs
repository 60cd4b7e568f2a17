//! The `dird` binary: parse flags, run one command, map errors to exit statuses
//! (2 = bad input, nothing changed; 1 = runtime failure or usage shown).

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use dird::commands;
use dird::config::{self, Cli, Command, Config, LEGACY_GATEWAYS_ENV};

fn legacy_env() -> Option<String> {
    std::env::var(LEGACY_GATEWAYS_ENV).ok().filter(|v| !v.trim().is_empty())
}

fn bad_input(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("dird: {e}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    dird::logging::init();
    match cli.command {
        Some(Command::Plan(args)) => {
            let files = match config::sysctl_conf::read_sbox_files(&args.sysctl_dir) {
                Ok(f) => f,
                Err(e) => return bad_input(e),
            };
            let input = match commands::plan::PlanInput::from_args(&args, legacy_env().as_deref(), files) {
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
        None => {
            let cfg = match Config::from_args(&cli.daemon, legacy_env().as_deref()) {
                Ok(c) => c,
                Err(e) => return bad_input(e),
            };
            run_daemon(cfg)
        }
    }
}

fn run_daemon(cfg: Config) -> ExitCode {
    match cfg.action {
        config::Action::Usage => {
            let help = Cli::command().render_help().to_string();
            let detected = commands::usage::Detected::NotDetected("Docker discovery is not available in this build".into());
            eprint!("{}", commands::usage::render(&help, &detected));
            ExitCode::from(1)
        }
        config::Action::Install | config::Action::Uninstall => {
            eprintln!("dird: the daemon cannot run yet: applying rules is not implemented in this build");
            ExitCode::from(1)
        }
    }
}
