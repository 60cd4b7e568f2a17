//! `dird lbs`: the load balancers as this node sees them — every node's underlay IP and
//! ingress IP from the swarm, the ID each gets, and whether it is a load balancer under the
//! given flags (`--ingress-gateway-ips auto` or an explicit list), then the iptables backend
//! dird would write through and why.

use crate::apply::backend::{BackendError, Choice};
use crate::config::{ConfigError, RuleConfig};
use crate::discovery::SwarmNode;
use crate::docker::swarm_view::render_table;
use crate::plan::Ingress;

/// The heading (ingress, where the load balancers come from) and the table of every node of
/// `view` with the ID its source assigns.
pub fn render(
    rules: &RuleConfig,
    ingress: &Ingress,
    view: &[SwarmNode],
) -> Result<String, ConfigError> {
    let mut out = format!(
        "ingress subnet {}, this node's ingress IP {}\n",
        ingress.subnet, ingress.node_ip
    );
    let assigned = rules
        .lbs
        .assign(*ingress, view, rules.indexed_ids, rules.id_encoding)?;
    out.push_str(&format!("load balancers: {}\n", rules.lbs.describe()));
    out.push_str(&render_table(
        view,
        &assigned.lbs,
        &assigned.unmatched_hosts,
        Some(ingress.node_ip),
    ));
    Ok(out)
}

/// The line `dird lbs` prints under its table: the backend (see
/// [`crate::apply::backend::decide`]) and why, or why it cannot be told.
pub fn backend_line(detected: &Result<Choice, BackendError>) -> String {
    match detected {
        Ok(choice) => format!("iptables backend: {choice}\n"),
        Err(e) => format!("iptables backend: error: {e}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::{LbEntry, LbSource};
    use crate::docker::swarm_view::parse;

    #[test]
    fn auto_and_explicit_tables() {
        let view = parse(include_str!("../../tests/fixtures/ingress-verbose-a.json")).unwrap();
        let ingress = Ingress {
            subnet: "10.0.0.0/24".parse().unwrap(),
            node_ip: "10.0.0.2".parse().unwrap(),
        };
        let auto = RuleConfig {
            lbs: LbSource::Auto { hosts: Vec::new() },
            ..Default::default()
        };
        insta::assert_snapshot!("lbs_auto", render(&auto, &ingress, &view).unwrap());
        let explicit = RuleConfig {
            lbs: LbSource::Explicit(vec![LbEntry::Ip("10.0.0.3".parse().unwrap())]),
            ..Default::default()
        };
        insta::assert_snapshot!("lbs_explicit", render(&explicit, &ingress, &view).unwrap());
    }

    #[test]
    fn backend_line_says_which_and_why() {
        use crate::apply::backend::{decide, Evidence, Override, Seen};
        let nft = Seen {
            host_chains: vec!["DOCKER".into()],
            ..Seen::default()
        };
        let chosen = decide(
            &Override::default(),
            &Evidence {
                nft: nft.clone(),
                ..Evidence::default()
            },
        );
        assert_eq!(
            backend_line(&chosen),
            "iptables backend: nft (Docker's rules found in iptables-nft-save only: host chains DOCKER)\n"
        );
        let conflict = decide(
            &Override::default(),
            &Evidence {
                legacy: nft.clone(),
                nft,
                ..Evidence::default()
            },
        );
        let line = backend_line(&conflict);
        assert!(
            line.starts_with(
                "iptables backend: error: cannot tell which iptables backend dockerd uses: "
            ),
            "{line}"
        );
        assert_eq!(line.lines().count(), 1);
    }
}
