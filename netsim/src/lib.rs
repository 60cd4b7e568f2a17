//! netsim: Docker Swarm's ingress data path, rule for rule, in throwaway network namespaces,
//! driven by scenario files (see `netsim/README.md`).

pub mod bench;
pub mod counters;
pub mod dird_hook;
mod error;
pub mod http;
pub mod ipvs;
pub mod netns;
pub mod probe;
pub mod reference;
pub mod runner;
pub mod scenario;
pub mod snapshot;
pub mod topology;
pub mod vm;
pub mod whoami;

pub use error::Error;
