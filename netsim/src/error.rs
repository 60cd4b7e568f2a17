//! netsim's error type.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
    #[error("namespace {ns}: {step}: {detail}")]
    Netns {
        ns: String,
        step: String,
        detail: String,
    },
    #[error("netlink: {step}: {detail}")]
    Netlink { step: String, detail: String },
    #[error("IPVS in {ns}: {step}: {detail}")]
    Ipvs {
        ns: String,
        step: String,
        detail: String,
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
