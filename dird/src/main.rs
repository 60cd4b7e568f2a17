//! The `dird` binary: parse the command line, run one command (`dird::commands`), and turn
//! its outcome into an exit status (2 = bad input, nothing changed; 1 = runtime failure or
//! usage shown).

use std::process::ExitCode;

use clap::Parser;

use dird::commands::{self, Cli, Command, Failure};
use dird::config;

/// A command line clap refused (an unknown flag, a value that is not a number), as one line
/// naming it: bad input.
#[derive(Debug, thiserror::Error)]
#[error("{0} (see dird --help)")]
struct ArgsError(String);

impl Failure for ArgsError {
    fn bad_input(&self) -> bool {
        true
    }
}

/// `--help`/`--version` print as clap does and exit; any other parse error becomes an
/// [`ArgsError`] with the first line of clap's message.
fn parse_error(e: clap::Error) -> ArgsError {
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
    ArgsError(first.trim_start_matches("error: ").to_owned())
}

/// The only place that turns an outcome into an exit status: a failure is printed as one
/// `dird: ` line and exits 2 (bad input) or 1 (runtime).
fn exit_code<E: Failure>(outcome: Result<ExitCode, E>) -> ExitCode {
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dird: {e}");
            ExitCode::from(if e.bad_input() { 2 } else { 1 })
        }
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => return exit_code(Err(parse_error(e))),
    };
    dird::logging::init();
    let legacy_env = config::legacy_env();
    let env = legacy_env.as_deref();
    match cli.command {
        Some(Command::Plan(args)) => exit_code(commands::plan::exec(&args, env)),
        Some(Command::Lbs(args)) => exit_code(commands::lbs::exec(&args, env)),
        Some(Command::Doctor(args)) => exit_code(commands::doctor::exec(&args, env)),
        Some(Command::Status(args)) => exit_code(commands::status::exec(&args)),
        Some(Command::Health(args)) => exit_code(commands::health::exec(&args)),
        Some(Command::Man) => exit_code(commands::man::exec()),
        None => exit_code(commands::daemon::exec(argv, legacy_env)),
    }
}
