//! What a source reads from Docker: the swarm's view, and only for a source that
//! [needs it](LbSource::needs_view). Docker's client returns the raw view
//! ([`DockerClient::swarm_view`]); asking for it on behalf of a source goes through here.

use std::future::Future;

use super::{LbSource, SwarmNode};
use crate::docker::{DockerClient, DockerError};

impl LbSource {
    /// The swarm's view to assign from: `None` for a source that needs none (then `ask` is
    /// never called); `known` when the caller has read it already (the daemon's view poll);
    /// otherwise `ask`'s answer.
    pub async fn view<F, Fut, E>(
        &self,
        known: Option<Vec<SwarmNode>>,
        ask: F,
    ) -> Result<Option<Vec<SwarmNode>>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<SwarmNode>, E>>,
    {
        if !self.needs_view() {
            return Ok(None);
        }
        match known {
            Some(view) => Ok(Some(view)),
            None => ask().await.map(Some),
        }
    }
}

/// [`LbSource::view`] from the Engine `client`.
pub async fn swarm_view(
    source: &LbSource,
    known: Option<Vec<SwarmNode>>,
    client: &DockerClient,
) -> Result<Option<Vec<SwarmNode>>, DockerError> {
    source.view(known, || client.swarm_view()).await
}
