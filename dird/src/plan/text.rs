//! A plan as readable text, for `dird plan` and for the plan snapshots: the
//! `iptables-restore --noflush` input that installs it in a namespace where nothing of dird is
//! installed (or that removes it again), the `ip` commands of its routing, and its sysctls.
//! Each part sits under a `###` heading, so that it can be cut out and used as is.

use std::fmt::Write as _;

use super::iptables::IptablesPlan;
use super::render::{render_sync, render_text};
use super::routing::{IpCommand, RoutingPlan, Verb};
use super::state::IptablesState;
use super::sysctl::Sysctl;

/// Installing a namespace's plan (`routing`: none for the sbox).
pub fn install_text(
    iptables: &IptablesPlan,
    routing: Option<&RoutingPlan>,
    sysctls: &[Sysctl],
) -> String {
    let mut out = String::from("### iptables-restore --noflush\n");
    out.push_str(&render_text(&render_sync(
        iptables,
        &IptablesState::default(),
    )));
    if let Some(r) = routing {
        out.push_str(&routing_text(r, Verb::Add));
    }
    out.push_str("### sysctls\n");
    for s in sysctls {
        let _ = writeln!(out, "{s}");
    }
    out
}

/// Removing, with `uninstall`, what installing `installed` put into an empty namespace
/// (`routing`: the routing to delete, none for the sbox).
pub fn removal_text(
    installed: &IptablesPlan,
    uninstall: &IptablesPlan,
    routing: Option<&RoutingPlan>,
) -> String {
    let mut out = String::new();
    let mut state = IptablesState::default();
    for b in render_sync(installed, &IptablesState::default()) {
        // Rendered against an empty state, the batches always replay on one.
        if let Err(e) = state.replay(&b.text) {
            let _ = writeln!(out, "# internal error: {e}");
        }
    }
    out.push_str("### iptables-restore --noflush (removes the rules above)\n");
    out.push_str(&render_text(&render_sync(uninstall, &state)));
    if let Some(r) = routing {
        out.push_str(&routing_text(r, Verb::Del));
    }
    out
}

/// The `ip` commands applying `verb` to each rule and route of `routing`.
pub fn routing_text(routing: &RoutingPlan, verb: Verb) -> String {
    let mut out = String::from("### routing\n");
    let commands = routing
        .rules
        .iter()
        .map(|r| r.command(verb).to_string())
        .chain(
            routing
                .udp_rules
                .iter()
                .map(|r| r.command(verb).to_string()),
        )
        .chain(routing.routes.iter().map(|r| r.command(verb).to_string()));
    for c in commands {
        let _ = writeln!(out, "{c}");
    }
    out
}
