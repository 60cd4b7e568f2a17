//! netsim's error type.

/// The cause of a failed step, kept as the error it was.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
    #[error("namespace {ns}: {step}: {source}")]
    Netns {
        ns: String,
        step: String,
        #[source]
        source: Cause,
    },
    #[error("netlink: {step}: {source}")]
    Netlink {
        step: String,
        #[source]
        source: Cause,
    },
    #[error("IPVS in {ns}: {step}: {source}")]
    Ipvs {
        ns: String,
        step: String,
        #[source]
        source: Cause,
    },
    #[error("{0}")]
    Dird(String),
    #[error("reference capture: {0}")]
    Reference(String),
    #[error("bench: {0}")]
    Bench(String),
    #[error("VM: {0}")]
    Vm(String),
}
