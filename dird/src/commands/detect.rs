//! What `dird lbs` and the usage screen ask the local Docker Engine: this node's ingress, the
//! swarm's view of every node and the Engine's firewall driver, within 5 s.

use std::time::Duration;

use crate::discovery::SwarmNode;
use crate::docker::{DockerClient, DockerError, IngressState};
use crate::plan::Ingress;

/// How long the Engine has to answer every question.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Why this node's ingress could not be detected.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// The swarm's ingress network is not ready, and why.
    #[error("{0}")]
    NotReady(String),
    #[error("the Docker Engine did not answer within {} s", TIMEOUT.as_secs())]
    Slow,
}

/// This node's ingress, the swarm's view (empty when it cannot be read) and the Engine's
/// firewall driver (`None` when not known), within [`TIMEOUT`].
pub async fn detect() -> Result<(Ingress, Vec<SwarmNode>, Option<String>), DetectError> {
    let ask = async {
        let client = DockerClient::connect().await?;
        let ingress = match client.ingress().await? {
            IngressState::Ready(i) => i,
            IngressState::NotReady(why) => return Err(DetectError::NotReady(why)),
        };
        let view = client.swarm_view().await.unwrap_or_default();
        let firewall = client.firewall_driver().await.unwrap_or_default();
        Ok((ingress, view, firewall))
    };
    tokio::time::timeout(TIMEOUT, ask)
        .await
        .unwrap_or(Err(DetectError::Slow))
}
