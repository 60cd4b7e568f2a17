//! `deploy/dird-stack.yml` against this build: its image tag is this version, its command and
//! healthcheck are flags this binary accepts, and the healthcheck asks the daemon's own
//! --metrics-addr. (The stack itself is deployed on a real two-node swarm by
//! tests/docker/2node-inner.)

use clap::Parser;
use dird::commands::{Cli, Command};

const STACK: &str = include_str!("../../deploy/dird-stack.yml");

/// The JSON array after `key:` on its line (the stack file writes argument lists that way).
fn array(key: &str) -> Vec<String> {
    let line = STACK
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} line in the stack file"));
    serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{key} {line}: {e}"))
}

fn parse(args: &[String]) -> Cli {
    Cli::try_parse_from(std::iter::once("dird".to_owned()).chain(args.iter().cloned()))
        .unwrap_or_else(|e| panic!("dird {args:?}: {e}"))
}

#[test]
fn the_stack_runs_this_version_with_flags_it_accepts() {
    let image = format!("image: dird:{}", env!("CARGO_PKG_VERSION"));
    assert!(
        STACK.lines().any(|l| l.trim() == image),
        "the stack file should say {image:?}"
    );
    let daemon = parse(&array("command:"));
    assert!(daemon.command.is_none() && daemon.daemon.install);
    assert_eq!(daemon.daemon.rules.ingress_gateway_ips, ["auto"]);
    let metrics = daemon
        .daemon
        .metrics_addr
        .expect("--metrics-addr for the healthcheck");

    let test = array("test:");
    assert_eq!(test[..2], ["CMD", "/usr/bin/dird"]);
    let Some(Command::Health(health)) = parse(&test[2..]).command else {
        panic!("the healthcheck should run dird health: {test:?}");
    };
    assert_eq!(health.metrics_addr, metrics);
}
