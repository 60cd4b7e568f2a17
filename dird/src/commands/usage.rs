//! The screen the original daemon shows without `--install`/`--uninstall`: usage, then this
//! node's ingress subnet and ingress IP when they can be detected.

use std::net::Ipv4Addr;
use std::process::ExitCode;

use clap::CommandFactory;
use ipnet::Ipv4Net;

use super::{detect::detect, lbs, Cli};
use crate::config::RuleConfig;
use crate::discovery::LbSource;

/// The screen on stderr, with what Docker tells of this node; exit status 1, as the original
/// daemon.
pub async fn show() -> ExitCode {
    let help = Cli::command().render_help().to_string();
    let detected = match detect().await {
        Ok((i, view, _)) => {
            let auto = RuleConfig {
                lbs: LbSource::Auto { hosts: Vec::new() },
                ..Default::default()
            };
            let table = lbs::render(&auto, &i, &view)
                .ok()
                .filter(|_| !view.is_empty());
            Detected::Ingress {
                subnet: i.subnet,
                node_ip: i.node_ip,
                table,
            }
        }
        Err(why) => Detected::NotDetected(why.to_string()),
    };
    eprint!("{}", render(&help, &detected));
    ExitCode::from(1)
}

/// What could be detected about this node (from Docker).
#[derive(Debug, Clone)]
pub enum Detected {
    /// `table`: every node of the swarm (as `dird lbs --ingress-gateway-ips auto` prints it).
    Ingress {
        subnet: Ipv4Net,
        node_ip: Ipv4Addr,
        table: Option<String>,
    },
    NotDetected(String),
}

pub fn render(help: &str, detected: &Detected) -> String {
    let mut out = String::from(help.trim_end());
    out.push_str("\n\n");
    match detected {
        Detected::Ingress {
            subnet,
            node_ip,
            table,
        } => {
            out.push_str("Detected ingress subnet and node IP:\n");
            out.push_str(&format!("- Ingress subnet: {subnet}\n"));
            out.push_str(&format!("- This node's ingress network IP: {node_ip}\n"));
            if let Some(t) = table {
                out.push_str("\nEvery node of the swarm (what --ingress-gateway-ips auto uses):\n");
                out.push_str(t);
            }
        }
        Detected::NotDetected(why) => {
            out.push_str(&format!(
                "Could not detect this node's ingress network: {why}\n"
            ));
        }
    }
    out
}
