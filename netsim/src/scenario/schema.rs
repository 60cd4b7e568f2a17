//! The scenario file as written (serde view). Unknown keys are errors everywhere.
//!
//! This schema is a public interface (scenario files are written against it): keep it stable.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub description: Option<String>,
    pub ingress_subnet: Option<String>,
    #[serde(default)]
    pub node: Vec<RawNode>,
    #[serde(default)]
    pub service: Vec<RawService>,
    #[serde(default)]
    pub client: Vec<RawClient>,
    pub dird: Option<RawDird>,
    #[serde(default)]
    pub expect: Vec<RawExpect>,
    #[serde(default)]
    pub step: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub name: String,
    pub ingress_ip: Option<String>,
    #[serde(default)]
    pub load_balancer: bool,
    /// Whether the swarm's view lists this node from the start (default true); a step's
    /// `join` adds it later.
    pub in_swarm: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub name: String,
    pub publish: Vec<String>,
    #[serde(default)]
    pub tasks: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub name: String,
    pub ip: String,
    #[serde(default)]
    pub ecn: bool,
    #[serde(default)]
    pub tos: u8,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDird {
    #[serde(default)]
    pub args: Vec<String>,
    pub nodes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// The client that sends the request…
    #[serde(default)]
    pub client: Option<String>,
    /// …or a task (`service.slot`, e.g. `proxy.1`) that connects out to a published port
    /// through its own node's ingress, as a reverse proxy inside the swarm does.
    #[serde(default)]
    pub from_task: Option<String>,
    pub node: String,
    pub port: u16,
    pub proto: String,
    pub sees: String,
    pub reply_via: Option<String>,
    pub ecn: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub description: Option<String>,
    #[serde(default)]
    pub add_tasks: Vec<RawAddTask>,
    pub dird_args: Option<Vec<String>>,
    /// Nodes that join the swarm's view (for `--ingress-gateway-ips auto`).
    #[serde(default)]
    pub join: Vec<String>,
    /// Nodes that leave the swarm's view.
    #[serde(default)]
    pub leave: Vec<String>,
    #[serde(default)]
    pub expect: Vec<RawExpect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAddTask {
    pub service: String,
    pub node: String,
}
