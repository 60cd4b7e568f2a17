//! dird: makes the true client IP reach containers behind Docker Swarm's ingress routing mesh,
//! using only routing and firewall rules.
//!
//! One direction of flow: [`config`] (flags, validated once) → [`discovery`] (which nodes are
//! load balancers, with their [`ids`]: load-balancer IDs, tables, marks) → [`plan`] (pure
//! desired state, rendered and parsed) → appliers.

pub mod apply;
pub mod commands;
pub mod config;
pub mod discovery;
pub mod docker;
pub mod ids;
pub mod logging;
pub mod netns;
pub mod node;
pub mod plan;
pub mod reconcile;
pub mod sysctl_files;
pub mod telemetry;
pub mod traffic;
