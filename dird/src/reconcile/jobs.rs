//! The runner's units of work, as `'static` futures it keeps in flight: one namespace (a task
//! or the sbox) under a deadline, or one question to Docker (rebuild the node, list the
//! tasks, re-read the swarm's view, whose address arrived in a new namespace). Blocking work
//! runs on tokio's blocking pool; at the deadline the future gives up and the namespace's
//! iptables children are killed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::sync::{self, build_node, BackendLog, BuildError};
use super::unit::{JobError, Unit};
use super::Launch;
use crate::apply::{ApplyError, TaskOutcome};
use crate::config::Config;
use crate::discovery::SwarmNode;
use crate::docker::{DockerClient, DockerError, IngressState};
use crate::netns::arrivals::Arrival;
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
    /// From the list of running tasks, or a new namespace Docker's endpoint names: configure
    /// it.
    Known(TaskRef),
    /// From its start event or a retry: ask Docker first (its inspect gives its sandbox).
    Announced,
}

/// How one container's job ended.
#[derive(Debug)]
pub enum TaskResult {
    Applied(TaskRef, TaskOutcome),
    /// Not a running service task in a namespace of its own.
    NotATask,
    /// Its service is not in `--services`.
    NotWanted(TaskRef),
    Failed(JobError),
}

/// A namespace's worker that was abandoned at its deadline and still runs (netlink work or a
/// parse is not interrupted): its namespace stays busy until it ends, so that no new apply
/// runs beside it there.
pub type Lingering = Option<tokio::task::JoinHandle<()>>;

#[derive(Debug)]
pub enum Done {
    /// `took`: how long the job took once the task was known.
    Task {
        id: String,
        result: TaskResult,
        took: Duration,
        lingering: Lingering,
    },
    Sbox {
        result: Result<SboxOutcome, JobError>,
        took: Duration,
        lingering: Lingering,
    },
    /// The abandoned worker of `unit`'s job has ended.
    Released { unit: Unit },
    /// No ingress_sbox namespace on this node (yet).
    NoSbox(PathBuf),
    /// Whose a new namespace's first ingress address is, as Docker says: a service task's
    /// (to configure in that namespace), or `None` (no task's: the namespace is left alone).
    Resolved {
        arrival: Arrival,
        result: Result<Option<TaskRef>, JobError>,
    },
}

/// A question to Docker that shapes the whole node.
#[derive(Debug)]
pub enum Control {
    /// Boxed: a node is several times larger than the other answers.
    Rebuilt(Box<Result<Node, BuildError>>),
    Listed(Result<Vec<TaskRef>, DockerError>),
    /// The swarm's view, when it gives other load balancers (the rebuild builds from it).
    ViewChanged(Option<Vec<SwarmNode>>),
}

/// Runs `f` on the blocking pool with `node`'s children killed at the deadline; `Err` with the
/// reason (naming `target` when it does not end in time), and the worker if it was abandoned.
async fn in_time<T, F>(
    node: &Node,
    timeout: Duration,
    target: &str,
    f: F,
) -> (Result<T, JobError>, Lingering)
where
    F: FnOnce(Node) -> Result<T, ApplyError> + Send + 'static,
    T: Send + 'static,
{
    let bounded = node.with_deadline(Instant::now() + timeout);
    // The children die at the deadline; the namespace's thread then has a moment to report
    // which step it was at, before the apply is abandoned.
    let mut work = tokio::task::spawn_blocking(move || f(bounded));
    match tokio::time::timeout(timeout + REPORT_GRACE, &mut work).await {
        Ok(Ok(Ok(v))) => (Ok(v), None),
        Ok(Ok(Err(e))) => (Err(JobError::Apply(e)), None),
        Ok(Err(e)) => (Err(JobError::WorkerLost(e)), None),
        Err(_) => (
            Err(JobError::TimedOut {
                target: target.to_owned(),
                secs: timeout.as_secs(),
            }),
            Some(tokio::spawn(async move {
                let _ = work.await;
            })),
        ),
    }
}

/// The container's task, as Docker tells it now (or as it was known already).
async fn resolve(
    client: &DockerClient,
    id: &str,
    source: Source,
) -> Result<Option<TaskRef>, JobError> {
    match source {
        Source::Known(t) => Ok(Some(t)),
        Source::Announced => asked(client.task(id)).await,
    }
}

/// Docker's answer within [`DOCKER_STEP`].
async fn asked<T>(
    f: impl std::future::Future<Output = Result<T, DockerError>>,
) -> Result<T, JobError> {
    match tokio::time::timeout(DOCKER_STEP, f).await {
        Ok(r) => r.map_err(JobError::Docker),
        Err(_) => Err(JobError::DockerSlow {
            secs: DOCKER_STEP.as_secs(),
        }),
    }
}

/// Whose the address that arrived in a new namespace is: the task Docker gave it to, in that
/// namespace.
pub async fn arrival(client: DockerClient, arrival: Arrival) -> Done {
    let result = asked(client.ingress_holder(arrival.ip))
        .await
        .map(|holder| {
            holder.map(|(id, service)| TaskRef {
                id,
                service,
                netns: arrival.netns.clone(),
            })
        });
    Done::Resolved { arrival, result }
}

/// One container: find it (unless listed), then configure it within `timeout`.
pub async fn task(
    client: DockerClient,
    node: Node,
    id: String,
    source: Source,
    timeout: Duration,
) -> Done {
    let found = resolve(&client, &id, source).await;
    let started = Instant::now();
    let mut lingering = None;
    let result = match found {
        Err(e) => TaskResult::Failed(e),
        Ok(None) => TaskResult::NotATask,
        Ok(Some(t)) if !node.wants_service(&t.service) => TaskResult::NotWanted(t),
        Ok(Some(t)) => {
            let task = t.clone();
            let target = crate::node::task_target(&t);
            let (r, l) = in_time(&node, timeout, &target, move |n| n.sync_task(&task)).await;
            lingering = l;
            match r {
                Ok(outcome) => TaskResult::Applied(t, outcome),
                Err(e) => TaskResult::Failed(e),
            }
        }
    };
    Done::Task {
        id,
        result,
        took: started.elapsed(),
        lingering,
    }
}

/// The sbox, within `timeout`.
pub async fn sbox(node: Node, path: PathBuf, timeout: Duration) -> Done {
    if !path.exists() {
        return Done::NoSbox(path);
    }
    let target = format!("ingress_sbox {}", path.display());
    let started = Instant::now();
    let (result, lingering) = in_time(&node, timeout, &target, move |n| n.sync_sbox(&path)).await;
    Done::Sbox {
        result,
        took: started.elapsed(),
        lingering,
    }
}

/// This node's configuration from Docker's facts now: the ingress, then [`build_node`] (from
/// `view` when the swarm's view was read already; the backend logged through `backend_log`).
pub async fn rebuild(
    client: DockerClient,
    launch: Launch,
    cfg: Config,
    view: Option<Vec<SwarmNode>>,
    backend_log: BackendLog,
) -> Control {
    let built = async {
        match client.ingress().await? {
            IngressState::Ready(i) => {
                build_node(&client, &launch, &cfg, i, view, &backend_log).await
            }
            IngressState::NotReady(why) => Err(BuildError::Waiting(format!(
                "waiting for the swarm ingress: {why}"
            ))),
        }
    };
    Control::Rebuilt(Box::new(built.await))
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

/// With `auto`: the swarm's view, when it gives another set of load balancers; on a node whose
/// ports come from the sbox at `sbox`: a view to rebuild from when they changed
/// ([`sync::view_changed`]).
pub async fn view(client: DockerClient, sbox: PathBuf, node: Node) -> Control {
    Control::ViewChanged(sync::view_changed(&client, &sbox, &node).await)
}
