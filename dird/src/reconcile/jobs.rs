//! The runner's units of work, as `'static` futures it keeps in flight: one namespace (a task
//! or the sbox) under a deadline, or one question to Docker (rebuild the node, list the
//! tasks, re-read the swarm's view). Blocking work runs on tokio's blocking pool; at the
//! deadline the future gives up and the namespace's iptables children are killed.

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use super::sync::{self, build_node, BuildError};
use super::work::Announce;
use super::Launch;
use crate::apply::{self, ApplyError, TaskOutcome};
use crate::config::Config;
use crate::docker::{sandbox, DockerClient, DockerError, IngressState, JoiningTask};
use crate::node::{Node, SboxOutcome, TaskRef};

/// How long one question to Docker about one container may take (an inspect waits while
/// Docker starts the container).
pub const DOCKER_STEP: Duration = Duration::from_secs(30);
/// How long past its deadline a namespace's apply may take to report (its children are
/// dead by then; netlink work is not interrupted).
const REPORT_GRACE: Duration = Duration::from_secs(1);
/// How long listing every task may take.
pub const DOCKER_LIST: Duration = Duration::from_secs(120);

/// What is known of a container when its job starts.
#[derive(Debug, Clone)]
pub enum Source {
    /// From the list of running tasks: configure it.
    Listed(TaskRef),
    /// From an event or a retry: ask Docker first.
    Announced(Announce),
    /// A joined container watched for its sandbox: what Docker said of it at the first look
    /// (its service does not change; Docker is asked again only while its address is unknown).
    Watched(JoiningTask),
}

/// How one container's job ended.
#[derive(Debug)]
pub enum TaskResult {
    Applied(TaskRef, TaskOutcome),
    /// Not a running service task in a namespace of its own.
    NotATask,
    /// A service task announced by its ingress `network connect` whose sandbox does not hold
    /// its ingress address yet: Docker connects a swarm task when it creates the container and
    /// makes the sandbox when it starts it.
    NotAttachedYet(JoiningTask),
    /// Its service is not in `--services`.
    NotWanted(TaskRef),
    Failed(String),
}

#[derive(Debug)]
pub enum Done {
    /// `took`: how long the job took once the task was known.
    Task {
        id: String,
        result: TaskResult,
        took: Duration,
    },
    Sbox {
        result: Result<SboxOutcome, String>,
        took: Duration,
    },
    /// No ingress_sbox namespace on this node (yet).
    NoSbox(PathBuf),
}

/// A question to Docker that shapes the whole node.
#[derive(Debug)]
pub enum Control {
    Rebuilt(Result<Node, BuildError>),
    Listed(Result<Vec<TaskRef>, DockerError>),
    ViewChanged(bool),
}

/// Runs `f` on the blocking pool with `node`'s children killed at the deadline; `Err` with the
/// reason (naming `target` when it does not end in time).
async fn in_time<T, F>(node: &Node, timeout: Duration, target: &str, f: F) -> Result<T, String>
where
    F: FnOnce(Node) -> Result<T, ApplyError> + Send + 'static,
    T: Send + 'static,
{
    let bounded = node.with_deadline(Instant::now() + timeout);
    // The children die at the deadline; the namespace's thread then has a moment to report
    // which step it was at, before the apply is abandoned.
    let work = tokio::task::spawn_blocking(move || f(bounded));
    match tokio::time::timeout(timeout + REPORT_GRACE, work).await {
        Ok(Ok(Ok(v))) => Ok(v),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Err(e)) => Err(format!("the worker stopped: {e}")),
        Err(_) => Err(format!(
            "{target}: timed out: the apply took longer than --apply-timeout {} s and was abandoned",
            timeout.as_secs()
        )),
    }
}

/// What Docker says about an announced container.
enum Resolved {
    Task(TaskRef),
    NotATask,
    NotAttachedYet(JoiningTask),
}

/// The ingress addresses of the sandboxes read so far, shared by every join watch.
static SANDBOXES: LazyLock<sandbox::AddressBook> = LazyLock::new(sandbox::AddressBook::default);

/// The container's task, as Docker tells it now (or as it told it for a watched one).
async fn resolve(
    client: &DockerClient,
    node: &Node,
    id: &str,
    source: Source,
) -> Result<Resolved, String> {
    let asked = async {
        match source {
            Source::Listed(t) => Ok(Resolved::Task(t)),
            Source::Announced(Announce::Started) => client
                .task(id)
                .await
                .map(|t| t.map_or(Resolved::NotATask, Resolved::Task))
                .map_err(|e| e.to_string()),
            Source::Announced(Announce::Joined) => joined(client, node, id, None).await,
            Source::Watched(j) => joined(client, node, id, Some(j)).await,
        }
    };
    tokio::time::timeout(DOCKER_STEP, asked)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "Docker did not answer within {} s",
                DOCKER_STEP.as_secs()
            ))
        })
}

/// A container that has joined the ingress but may not run yet: its sandbox is the one that
/// holds its ingress address. `known`: Docker's answer at an earlier look; a sandbox found
/// from it is confirmed with Docker (the container may be gone, its address reused).
async fn joined(
    client: &DockerClient,
    node: &Node,
    id: &str,
    known: Option<JoiningTask>,
) -> Result<Resolved, String> {
    let (j, cached) = match known {
        Some(j) if j.ip.is_some() => (j, true),
        _ => match ask_joining(client, id).await? {
            Some(j) => (j, false),
            None => return Ok(Resolved::NotATask),
        },
    };
    let Some(ip) = j.ip else {
        return Ok(Resolved::NotAttachedYet(j));
    };
    let subnet = node.ingress.subnet;
    let found = tokio::task::spawn_blocking(move || {
        let list = sandbox::sandboxes();
        SANDBOXES.find(&list, ip, Instant::now(), |p| {
            apply::address_in(p, subnet).ok().flatten()
        })
    })
    .await
    .map_err(|e| format!("the worker stopped: {e}"))?;
    let Some(netns) = found else {
        return Ok(Resolved::NotAttachedYet(j));
    };
    let j = if cached {
        match ask_joining(client, id).await? {
            Some(now) if now.ip == Some(ip) => now,
            Some(now) => return Ok(Resolved::NotAttachedYet(now)),
            None => return Ok(Resolved::NotATask),
        }
    } else {
        j
    };
    Ok(Resolved::Task(TaskRef {
        id: j.id,
        service: j.service,
        netns,
    }))
}

/// Docker's answer about a joining container (`None`: not a service task, or gone).
async fn ask_joining(client: &DockerClient, id: &str) -> Result<Option<JoiningTask>, String> {
    let j = client.joining_task(id).await.map_err(|e| e.to_string())?;
    if j.is_none() {
        tracing::debug!(container = %id, "joined the ingress: not a service task (or gone)");
    }
    Ok(j)
}

/// One container: find it (unless listed), then configure it within `timeout`.
pub async fn task(
    client: DockerClient,
    node: Node,
    id: String,
    source: Source,
    timeout: Duration,
) -> Done {
    let found = resolve(&client, &node, &id, source).await;
    let started = Instant::now();
    let result = match found {
        Err(e) => TaskResult::Failed(format!("container {id}: {e}")),
        Ok(Resolved::NotATask) => TaskResult::NotATask,
        Ok(Resolved::NotAttachedYet(j)) => TaskResult::NotAttachedYet(j),
        Ok(Resolved::Task(t)) if !node.wants_service(&t.service) => TaskResult::NotWanted(t),
        Ok(Resolved::Task(t)) => {
            let task = t.clone();
            let target = crate::node::task_target(&t);
            match in_time(&node, timeout, &target, move |n| n.sync_task(&task)).await {
                Ok(outcome) => TaskResult::Applied(t, outcome),
                Err(e) => TaskResult::Failed(e),
            }
        }
    };
    Done::Task {
        id,
        result,
        took: started.elapsed(),
    }
}

/// The sbox, within `timeout`.
pub async fn sbox(node: Node, path: PathBuf, timeout: Duration) -> Done {
    if !path.exists() {
        return Done::NoSbox(path);
    }
    let target = format!("ingress_sbox {}", path.display());
    let started = Instant::now();
    let result = in_time(&node, timeout, &target, move |n| n.sync_sbox(&path)).await;
    Done::Sbox {
        result,
        took: started.elapsed(),
    }
}

/// This node's configuration from Docker's facts now: the ingress, then [`build_node`].
pub async fn rebuild(client: DockerClient, launch: Launch, cfg: Config) -> Control {
    let built = async {
        match client.ingress().await? {
            IngressState::Ready(i) => build_node(&client, &launch, &cfg, i).await,
            IngressState::NotReady(why) => Err(BuildError::Waiting(format!(
                "waiting for the swarm ingress: {why}"
            ))),
        }
    };
    Control::Rebuilt(built.await)
}

/// Every running service task.
pub async fn list(client: DockerClient) -> Control {
    let listed = tokio::time::timeout(DOCKER_LIST, client.service_tasks()).await;
    Control::Listed(listed.unwrap_or_else(|_| {
        Err(DockerError::Slow {
            what: "listing the service tasks",
            secs: DOCKER_LIST.as_secs(),
        })
    }))
}

/// With `auto`: whether the swarm's view gives another set of load balancers.
pub async fn view(client: DockerClient, node: Node) -> Control {
    Control::ViewChanged(sync::view_changed(&client, &node).await)
}
