//! The screen the original daemon shows without `--install`/`--uninstall`: usage, then this
//! node's ingress subnet and ingress IP when they can be detected.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

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
