//! A fake Docker Engine for tests: HTTP/1.1 on a Unix socket in a fresh temp folder, answering
//! the requests dird makes the way Engine 29 (API 1.52, minimum 1.44) answers them: versioned
//! paths outside the Engine's range get a 400, unversioned paths are served in the Engine's own
//! API version (events without `id`, `status`, `from`; container inspect without
//! `GraphDriver`), and the `filters` of `/containers/json` and `/events` are applied.
//!
//! One swarm node (a manager, unless [`Spec::role`] says otherwise): the ingress of
//! `tests/fixtures`, a running `web` task, an exited `web` task, a running container outside any
//! service, and three running tasks dird must leave alone: a host-network task, a task sharing
//! another container's namespace, and a task whose sandbox key is outside Docker's netns folder.
//! [`Spec::containers`] replaces that list. While it runs, a test can remove containers, add
//! endpoints to the ingress network (as Docker 28 lists an endpoint made for a starting
//! container: `ep-<endpoint id>`, named after the container) and push events to open streams.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

/// The running task of service `web`.
pub const WEB_TASK: &str = "8dbf715e75e510931133c535cf8e5d941ed926c30f44bf9f0e54623377a120c2";
/// Its process, as `State.Pid` reports it.
pub const WEB_TASK_PID: i64 = 4242;
/// A task of service `web` that has exited.
pub const EXITED_TASK: &str = "8f0c7f962a633ec0073ba4be331df7beb19e0ea776e1df21c27750b81c884337";
/// A running container that no service owns (no swarm labels).
pub const PLAIN: &str = "3b1c0e5f8d2a4c6e9f7a1b3d5c7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d0e";
/// Its network namespace, as `NetworkSettings.SandboxKey` reports it.
pub const WEB_TASK_SANDBOX: &str = "/var/run/docker/netns/2f3c4d5e6f70";
/// A running task of a global service with `--network host` (node-exporter style).
pub const HOST_TASK: &str = "5e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f";
/// The sandbox key Docker reports for a host-network container.
pub const HOST_SANDBOX: &str = "/var/run/docker/netns/default";
/// A running task whose container joins `WEB_TASK`'s namespace (`NetworkMode container:<id>`).
pub const SHARED_TASK: &str = "6f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a";
/// A running task whose sandbox key is not a namespace Docker keeps in its netns folder.
pub const ODD_KEY_TASK: &str = "7a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b";
/// Its sandbox key.
pub const ODD_SANDBOX: &str = "/var/run/docker/netns/../../../proc/1/ns/net";
/// The id of the swarm's ingress network.
pub const INGRESS_NET: &str = "s0xbp07qmembfr7lt4o3skni4";
/// A user-defined overlay network.
pub const APP_NET: &str = "q1w2e3r4t5y6u7i8o9p0a1s2d";
/// The id of service `web`.
pub const WEB_SERVICE: &str = "9mnpnzenvg8p8tdbtq4wvbkcz";

const ONE_NODE: &str = include_str!("../fixtures/network-ingress-1node.json");
const VERBOSE: &str = include_str!("../fixtures/ingress-verbose-a.json");

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// What the fake Engine says it is.
#[derive(Debug, Clone)]
pub struct Spec {
    pub version: &'static str,
    /// `ApiVersion`: the newest version it serves, and the one of unversioned requests.
    pub api: (u32, u32),
    /// `MinAPIVersion`: older versioned requests get a 400.
    pub min_api: (u32, u32),
    /// Whether `/events` ends after the canned events (otherwise it stays open, as dockerd's).
    pub close_events: bool,
    /// What this node is in the swarm (`/info`, and whether `/services` answers).
    pub role: Role,
    /// The containers on this node.
    pub containers: Vec<Container>,
    /// What `/events` streams (`None`: [`canned_events`]).
    pub events: Option<Vec<Value>>,
    /// Endpoints in the ingress network's `Containers` besides the fixture's, by key.
    pub endpoints: Vec<(String, Value)>,
    /// `/info` `FirewallBackend.Driver` (Engine 28.1 and later; `None`: not reported).
    pub firewall: Option<&'static str>,
    /// Containers whose inspect never answers (Docker holds a container it is starting or
    /// stopping locked).
    pub locked: Vec<&'static str>,
}

/// This node's place in the swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Manager,
    Worker,
    /// A manager whose swarm has lost its quorum: `/services` answers 503, as on a worker.
    ManagerWithoutQuorum,
    /// Not in a swarm: `/info` says `LocalNodeState` `inactive`, there is no ingress network
    /// and `/services` answers 503.
    NotInSwarm,
}

impl Spec {
    /// This spec with what changed since the start (the same one when nothing did).
    fn now(self: &Arc<Spec>, live: &Live) -> Arc<Spec> {
        if live.removed.is_empty() && live.endpoints.is_empty() && live.started.is_empty() {
            return self.clone();
        }
        let mut now = Spec::clone(self);
        now.containers.retain(|c| !live.removed.contains(c.id));
        for c in &mut now.containers {
            c.running |= live.started.contains(c.id);
        }
        now.endpoints.extend(live.endpoints.iter().cloned());
        Arc::new(now)
    }

    /// Docker Engine 29.0.
    pub fn engine_29() -> Spec {
        Spec {
            version: "29.0.0",
            api: (1, 52),
            min_api: (1, 44),
            close_events: false,
            role: Role::Manager,
            containers: CONTAINERS.to_vec(),
            events: None,
            endpoints: Vec::new(),
            firewall: None,
            locked: Vec::new(),
        }
    }

    /// Docker 20.10, as Debian 12 ships it.
    pub fn engine_20_10() -> Spec {
        Spec {
            version: "20.10.24+dfsg1",
            api: (1, 41),
            min_api: (1, 12),
            close_events: false,
            role: Role::Manager,
            containers: CONTAINERS.to_vec(),
            events: None,
            endpoints: Vec::new(),
            firewall: None,
            locked: Vec::new(),
        }
    }
}

/// What changed since the start.
#[derive(Debug, Default)]
struct Live {
    /// Containers removed (by id): no longer listed or inspected.
    removed: HashSet<String>,
    /// Endpoints added to the ingress network's `Containers`, by key.
    endpoints: Vec<(String, Value)>,
    /// Containers started (by id): running from now on.
    started: HashSet<String>,
}

/// A running fake Engine; stops and removes its folder on drop.
pub struct FakeEngine {
    dir: PathBuf,
    socket: PathBuf,
    requests: Arc<Mutex<Vec<String>>>,
    server: JoinHandle<()>,
    /// Ends the open event streams (as a dockerd that goes away).
    end_events: Arc<tokio::sync::Notify>,
    live: Arc<Mutex<Live>>,
    /// Events pushed to the open streams.
    pushed: tokio::sync::broadcast::Sender<Value>,
}

impl FakeEngine {
    /// Listens on `<temp>/dird-fake-engine-<pid>-<n>/docker.sock` (needs a tokio runtime).
    pub fn start(spec: Spec) -> FakeEngine {
        let dir = std::env::temp_dir().join(format!(
            "dird-fake-engine-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the fake Engine's folder");
        let socket = dir.join("docker.sock");
        let listener = UnixListener::bind(&socket).expect("bind the fake Engine's socket");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let spec = Arc::new(spec);
        let end_events = Arc::new(tokio::sync::Notify::new());
        let end = end_events.clone();
        let live = Arc::new(Mutex::new(Live::default()));
        let changes = live.clone();
        let (pushed, _) = tokio::sync::broadcast::channel(64);
        let push = pushed.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let now = spec.now(&changes.lock().expect("live state"));
                let ctx = Serving {
                    log: log.clone(),
                    end: end.clone(),
                    pushed: push.subscribe(),
                };
                tokio::spawn(serve(stream, now, ctx));
            }
        });
        FakeEngine {
            dir,
            socket,
            requests,
            server,
            end_events,
            live,
            pushed,
        }
    }

    /// The container `id` is gone: from now on it is neither listed nor inspected.
    pub fn remove_container(&self, id: &str) {
        self.live
            .lock()
            .expect("live state")
            .removed
            .insert(id.to_owned());
    }

    /// The container `id` runs from now on.
    pub fn start_container(&self, id: &str) {
        self.live
            .lock()
            .expect("live state")
            .started
            .insert(id.to_owned());
    }

    /// From now on the ingress network lists an endpoint under `key` (a container id, or
    /// `ep-<endpoint id>`) named `name`, with address `ip` (`10.0.0.6/24`).
    pub fn add_endpoint(&self, key: &str, name: &str, ip: &str) {
        self.live.lock().expect("live state").endpoints.push((
            key.to_owned(),
            json!({
                "Name": name,
                "EndpointID": format!("{:064x}", key.len()),
                "MacAddress": "02:42:0a:00:00:99",
                "IPv4Address": ip,
                "IPv6Address": ""
            }),
        ));
    }

    /// Sends `event` (a JSON object as `/events` streams it) to every open event stream.
    pub fn push_event(&self, event: Value) {
        let _ = self.pushed.send(event);
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Ends every event stream open now; later ones stay open.
    pub fn end_event_streams(&self) {
        self.end_events.notify_waiters();
    }

    /// Every request target received so far (path and query, as sent), oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("request log").clone()
    }
}

impl Drop for FakeEngine {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Response {
    status: u16,
    content_type: &'static str,
    body: String,
}

fn json_response(status: u16, body: Value) -> Response {
    Response {
        status,
        content_type: "application/json",
        body: format!("{body}\n"),
    }
}

fn error(status: u16, message: String) -> Response {
    json_response(status, json!({ "message": message }))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// What a connection's handler shares with the Engine.
struct Serving {
    log: Arc<Mutex<Vec<String>>>,
    end: Arc<tokio::sync::Notify>,
    pushed: tokio::sync::broadcast::Receiver<Value>,
}

async fn serve(mut stream: UnixStream, spec: Arc<Spec>, ctx: Serving) {
    let Serving { log, end, pushed } = ctx;
    // The request head; dird sends no request bodies.
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 65536 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut words = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, target, proto) = (
        words.next().unwrap_or_default().to_owned(),
        words.next().unwrap_or_default().to_owned(),
        words.next().unwrap_or("HTTP/1.1").to_owned(),
    );
    log.lock().expect("request log").push(target.clone());

    // Go's net/http answers in the request's protocol version.
    let proto = if proto == "HTTP/1.0" {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    };
    let api = format!("{}.{}", spec.api.0, spec.api.1);
    let common = format!(
        "Api-Version: {api}\r\nDocker-Experimental: false\r\nOstype: linux\r\n\
         Server: Docker/{} (linux)\r\n",
        spec.version
    );

    let path = match route_path(&target, &spec) {
        Ok(p) => p,
        Err(r) => return write(&mut stream, proto, &common, r).await,
    };
    let response = match (method.as_str(), path.as_str()) {
        ("GET", "/events") => match events(&target, &spec) {
            Ok(events) => {
                let head = Head {
                    proto,
                    common: &common,
                };
                return stream_events(stream, head, events, &spec, &end, pushed).await;
            }
            Err(r) => r,
        },
        ("GET", p)
            if spec
                .locked
                .iter()
                .any(|id| p == format!("/containers/{id}/json")) =>
        {
            return std::future::pending().await;
        }
        ("GET", _) => answer(&path, query(&target), &spec),
        _ => error(404, "page not found".into()),
    };
    write(&mut stream, proto, &common, response).await
}

/// A response's status line protocol and common headers.
struct Head<'a> {
    proto: &'a str,
    common: &'a str,
}

/// One event as a chunk of a chunked body: a JSON line.
fn chunk(e: &Value) -> String {
    let line = format!("{e}\n");
    format!("{:x}\r\n{line}\r\n", line.len())
}

/// One event per chunk, each a JSON line, as dockerd streams them; then, unless the spec
/// closes the stream, the events pushed while it is open.
async fn stream_events(
    mut stream: UnixStream,
    head: Head<'_>,
    events: Vec<Value>,
    spec: &Spec,
    end: &tokio::sync::Notify,
    mut pushed: tokio::sync::broadcast::Receiver<Value>,
) {
    let Head { proto, common } = head;
    let mut out = format!(
        "{proto} 200 OK\r\n{common}Content-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    for e in &events {
        out.push_str(&chunk(e));
    }
    if stream.write_all(out.as_bytes()).await.is_err() {
        return;
    }
    if !spec.close_events {
        // dockerd keeps the stream open until the client goes away (or dockerd does).
        let ended = end.notified();
        tokio::pin!(ended);
        let mut buf = [0u8; 512];
        loop {
            tokio::select! {
                _ = &mut ended => break,
                r = stream.read(&mut buf) => if !matches!(r, Ok(n) if n > 0) { return },
                Ok(e) = pushed.recv() => {
                    if stream.write_all(chunk(&e).as_bytes()).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let _ = stream.shutdown().await;
}

async fn write(stream: &mut UnixStream, proto: &str, common: &str, r: Response) {
    let text = format!(
        "{proto} {} {}\r\n{common}Content-Type: {}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{}",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len(),
        r.body
    );
    let _ = stream.write_all(text.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The path without its query and its `/v1.N` prefix; a 400 for a version outside the
/// Engine's range, worded as dockerd words it.
fn route_path(target: &str, spec: &Spec) -> Result<String, Response> {
    let path = target.split('?').next().unwrap_or_default();
    let Some(rest) = path
        .strip_prefix("/v")
        .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
    else {
        return Ok(path.to_owned());
    };
    let (version, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let parsed = version
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    let Some(v) = parsed else {
        return Err(error(404, "page not found".into()));
    };
    let (min, max) = (spec.min_api, spec.api);
    if v < min {
        return Err(error(
            400,
            format!(
                "client version {version} is too old. Minimum supported API version is {}.{}, \
                 please upgrade your client to a newer version",
                min.0, min.1
            ),
        ));
    }
    if v > max {
        return Err(error(
            400,
            format!(
                "client version {version} is too new. Maximum supported API version is {}.{}",
                max.0, max.1
            ),
        ));
    }
    Ok(tail.to_owned())
}

/// The decoded query parameters of a request target.
fn query(target: &str) -> HashMap<String, String> {
    target
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `filters` as dockerd reads it: a JSON map of name → list of values. Names outside
/// `allowed` get dockerd's 400.
fn filters(
    q: &HashMap<String, String>,
    allowed: &[&str],
) -> Result<HashMap<String, Vec<String>>, Response> {
    let Some(raw) = q.get("filters").filter(|f| !f.is_empty()) else {
        return Ok(HashMap::new());
    };
    let map: HashMap<String, Vec<String>> =
        serde_json::from_str(raw).map_err(|e| error(400, format!("invalid filter: {e}")))?;
    if let Some(bad) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(error(400, format!("invalid filter '{bad}'")));
    }
    Ok(map)
}

fn answer(path: &str, q: HashMap<String, String>, spec: &Spec) -> Response {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["_ping"] => Response {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: "OK".into(),
        },
        ["version"] => json_response(200, version(spec)),
        ["networks", "ingress"] | ["networks", INGRESS_NET] if spec.role == Role::NotInSwarm => {
            error(404, "network ingress not found".into())
        }
        ["networks", "ingress"] | ["networks", INGRESS_NET] => {
            let verbose = matches!(q.get("verbose").map(String::as_str), Some("true" | "1"));
            json_response(200, ingress(verbose, &spec.endpoints))
        }
        ["networks", "docker_gwbridge"] => json_response(200, gwbridge()),
        ["networks", other] => error(404, format!("network {other} not found")),
        ["containers", "json"] => match filters(&q, &["label", "status", "id"]) {
            Err(r) => r,
            Ok(f) => {
                let all = matches!(q.get("all").map(String::as_str), Some("true" | "1"));
                json_response(200, list_containers(&spec.containers, &f, all))
            }
        },
        ["containers", id, "json"] => match find_container(&spec.containers, id) {
            Some(c) => json_response(200, inspect_container(c)),
            None => error(404, format!("No such container: {id}")),
        },
        ["info"] => json_response(200, info(spec)),
        ["services"] => match spec.role {
            Role::Manager => json_response(200, json!([web_service()])),
            Role::Worker | Role::NotInSwarm => error(503, NOT_A_MANAGER.into()),
            Role::ManagerWithoutQuorum => error(503, NO_LEADER.into()),
        },
        _ => error(404, "page not found".into()),
    }
}

fn version(spec: &Spec) -> Value {
    let api = format!("{}.{}", spec.api.0, spec.api.1);
    let min = format!("{}.{}", spec.min_api.0, spec.min_api.1);
    json!({
        "Platform": { "Name": "Docker Engine - Community" },
        "Components": [
            {
                "Name": "Engine",
                "Version": spec.version,
                "Details": {
                    "ApiVersion": api,
                    "Arch": "amd64",
                    "BuildTime": "2025-11-10T16:00:00.000000000+00:00",
                    "Experimental": "false",
                    "GitCommit": "0000000",
                    "GoVersion": "go1.25.4",
                    "KernelVersion": "6.1.0-41-amd64",
                    "MinAPIVersion": min,
                    "Os": "linux"
                }
            },
            { "Name": "containerd", "Version": "v2.1.5", "Details": { "GitCommit": "0000000" } },
            { "Name": "runc", "Version": "1.3.3", "Details": { "GitCommit": "v1.3.3-0-g0000000" } },
            { "Name": "docker-init", "Version": "0.19.0", "Details": { "GitCommit": "de40ad0" } }
        ],
        "Version": spec.version,
        "ApiVersion": api,
        "MinAPIVersion": min,
        "GitCommit": "0000000",
        "GoVersion": "go1.25.4",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": "6.1.0-41-amd64",
        "BuildTime": "2025-11-10T16:00:00.000000000+00:00"
    })
}

/// `GET /networks/ingress`: the captured fixtures (a `docker network inspect` array holds the
/// one object the API returns) with the `endpoints` added, plus fields newer Engines add.
fn ingress(verbose: bool, endpoints: &[(String, Value)]) -> Value {
    let text = if verbose { VERBOSE } else { ONE_NODE };
    let mut nets: Vec<Value> = serde_json::from_str(text).expect("fixture is JSON");
    let mut net = nets.remove(0);
    for (key, e) in endpoints {
        net["Containers"][key] = e.clone();
    }
    net["Id"] = json!(INGRESS_NET);
    net["EnableIPv4"] = json!(true);
    net["Status"] = json!({
        "IPAM": { "Subnets": { "10.0.0.0/24": { "IPsInUse": 8, "DynamicIPsAvailable": 248 } } }
    });
    net
}

/// `GET /networks/docker_gwbridge`: the local bridge every swarm node has, trimmed to what
/// describes its addresses.
fn gwbridge() -> Value {
    json!({
        "Name": "docker_gwbridge",
        "Id": "c4e2a0f8b6d4c2e0a8f6b4d2c0e8a6f4b2d0c8e6a4f2b0d8c6e4a2f0b8d6c4e2",
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv4": true,
        "EnableIPv6": false,
        "IPAM": {
            "Driver": "default",
            "Options": null,
            "Config": [{ "Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1" }]
        },
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "Containers": {},
        "Options": {
            "com.docker.network.bridge.enable_icc": "false",
            "com.docker.network.bridge.enable_ip_masquerade": "true",
            "com.docker.network.bridge.name": "docker_gwbridge"
        },
        "Labels": {}
    })
}

/// dockerd's answer to `/services` on a worker.
const NOT_A_MANAGER: &str = "This node is not a swarm manager. Worker nodes can't be used to \
view or modify cluster state. Please run this command on a manager node or promote the current \
node to a manager.";
/// dockerd's answer to `/services` on a manager whose swarm has no leader.
const NO_LEADER: &str = "rpc error: code = Unknown desc = The swarm does not have a leader. \
It's possible that too few managers are online. Make sure more than half of the managers are \
online.";

/// `GET /info`, trimmed to what describes this node's swarm membership (a worker reports no
/// `Nodes`, `Managers` or `Cluster`).
fn info(spec: &Spec) -> Value {
    let manager = !matches!(spec.role, Role::Worker | Role::NotInSwarm);
    let mut swarm = json!({
        "NodeID": "x7dklq8kd0c5x3u7ep2nyc0zx",
        "NodeAddr": "192.0.2.1",
        "LocalNodeState": "active",
        "ControlAvailable": manager,
        "Error": "",
        "RemoteManagers": [{ "NodeID": "x7dklq8kd0c5x3u7ep2nyc0zx", "Addr": "192.0.2.1:2377" }]
    });
    if spec.role == Role::NotInSwarm {
        swarm = json!({
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": false,
            "Error": "",
            "RemoteManagers": null
        });
    }
    if manager {
        swarm["Nodes"] = json!(2);
        swarm["Managers"] = json!(1);
    }
    let running = spec.containers.iter().filter(|c| c.running).count();
    let mut info = json!({
        "ID": "5b7c1e4a-9f3d-4c2e-8a6b-0d1f2e3c4b5a",
        "Containers": spec.containers.len(),
        "ContainersRunning": running,
        "ContainersPaused": 0,
        "ContainersStopped": spec.containers.len() - running,
        "Name": "node-1",
        "ServerVersion": spec.version,
        "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
        "OSType": "linux",
        "Architecture": "x86_64",
        "KernelVersion": "6.1.0-41-amd64",
        "CgroupDriver": "systemd",
        "CgroupVersion": "2",
        "NCPU": 2,
        "MemTotal": 3_221_225_472u64,
        "DockerRootDir": "/var/lib/docker",
        "Swarm": swarm
    });
    if let Some(driver) = spec.firewall {
        info["FirewallBackend"] = json!({ "Driver": driver, "Info": [] });
    }
    info
}

/// A container on the fake node.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: &'static str,
    pub name: &'static str,
    pub running: bool,
    pub pid: i64,
    /// (service name, task slot, task id) of a swarm task.
    pub task: Option<(&'static str, u32, &'static str)>,
    /// `HostConfig.NetworkMode`.
    pub network_mode: &'static str,
    /// `NetworkSettings.SandboxKey` (empty for a container that is not running).
    pub sandbox_key: &'static str,
}

const CONTAINERS: &[Container] = &[
    Container {
        id: WEB_TASK,
        name: "web.1.29dya3bwemnqaiwm32jsgvknp",
        running: true,
        pid: WEB_TASK_PID,
        task: Some(("web", 1, "29dya3bwemnqaiwm32jsgvknp")),
        network_mode: "default",
        sandbox_key: WEB_TASK_SANDBOX,
    },
    Container {
        id: EXITED_TASK,
        name: "web.1.oimpzcu2zae2d4c1aookc1r2m",
        running: false,
        pid: 0,
        task: Some(("web", 1, "oimpzcu2zae2d4c1aookc1r2m")),
        network_mode: "default",
        sandbox_key: "",
    },
    Container {
        id: PLAIN,
        name: "registry",
        running: true,
        pid: 3131,
        task: None,
        network_mode: "bridge",
        sandbox_key: "/var/run/docker/netns/a1b2c3d4e5f6",
    },
    host_task(4343),
    shared_task(4444),
    Container {
        id: ODD_KEY_TASK,
        name: "web.2.3kq8c0x5d2m7n4b1v6c9x2z5a",
        running: true,
        pid: 4545,
        task: Some(("web", 2, "3kq8c0x5d2m7n4b1v6c9x2z5a")),
        network_mode: "default",
        sandbox_key: ODD_SANDBOX,
    },
];

/// [`HOST_TASK`], its process `pid`.
pub const fn host_task(pid: i64) -> Container {
    Container {
        id: HOST_TASK,
        name: "node-exporter.x7dklq8kd0c5x3u7ep2nyc0zx.8h2k4m6n8p0r2t4v6x8z0b2d4",
        running: true,
        pid,
        task: Some(("node-exporter", 0, "8h2k4m6n8p0r2t4v6x8z0b2d4")),
        network_mode: "host",
        sandbox_key: HOST_SANDBOX,
    }
}

/// [`SHARED_TASK`], its process `pid`.
pub const fn shared_task(pid: i64) -> Container {
    Container {
        id: SHARED_TASK,
        name: "sidecar.1.5g7j9l1n3p5r7t9v1x3z5b7d9",
        running: true,
        pid,
        task: Some(("sidecar", 1, "5g7j9l1n3p5r7t9v1x3z5b7d9")),
        network_mode: "container:8dbf715e75e510931133c535cf8e5d941ed926c30f44bf9f0e54623377a120c2",
        sandbox_key: "",
    }
}

/// dockerd finds a container by full id, unique id prefix or name.
fn find_container<'a>(all: &'a [Container], key: &str) -> Option<&'a Container> {
    let key = key.trim_start_matches('/');
    let by_prefix: Vec<&Container> = all
        .iter()
        .filter(|c| !key.is_empty() && c.id.starts_with(key))
        .collect();
    match by_prefix.as_slice() {
        [one] => Some(one),
        _ => all.iter().find(|c| c.name == key),
    }
}

fn labels(c: &Container) -> Value {
    match c.task {
        Some((service, _, task_id)) => json!({
            "com.docker.swarm.node.id": "x7dklq8kd0c5x3u7ep2nyc0zx",
            "com.docker.swarm.service.id": WEB_SERVICE,
            "com.docker.swarm.service.name": service,
            "com.docker.swarm.task": "",
            "com.docker.swarm.task.id": task_id,
            "com.docker.swarm.task.name": c.name,
        }),
        None => json!({}),
    }
}

fn state_name(c: &Container) -> &'static str {
    if c.running {
        "running"
    } else {
        "exited"
    }
}

const IMAGE: &str =
    "nginx:alpine@sha256:61e01287e546aac28a3f56839c136b31f590273f3b41187a36f46f6a03bbfe22";
const IMAGE_ID: &str = "sha256:61e01287e546aac28a3f56839c136b31f590273f3b41187a36f46f6a03bbfe22";

fn manifest() -> Value {
    json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:b2c4e6f8a0b2c4d6e8f0a2b4c6d8e0f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4",
        "size": 2290,
        "platform": { "architecture": "amd64", "os": "linux" }
    })
}

fn list_containers(all: &[Container], f: &HashMap<String, Vec<String>>, every: bool) -> Value {
    let wanted = |c: &Container| {
        let labels = labels(c);
        let label_ok = f.get("label").into_iter().flatten().all(|l| {
            let (k, v) = l
                .split_once('=')
                .map_or((l.as_str(), None), |(k, v)| (k, Some(v)));
            match (labels.get(k), v) {
                (Some(have), Some(v)) => have.as_str() == Some(v),
                (Some(_), None) => true,
                (None, _) => false,
            }
        });
        // Without a status filter, only running containers are listed, unless `all=true`.
        let status_ok = match f.get("status") {
            Some(s) => s.iter().any(|s| s == state_name(c)),
            None => c.running || every,
        };
        // An id filter matches a prefix of the id.
        let id_ok = f
            .get("id")
            .is_none_or(|ids| ids.iter().any(|i| c.id.starts_with(i.as_str())));
        label_ok && status_ok && id_ok
    };
    Value::Array(
        all.iter()
            .filter(|c| wanted(c))
            .map(|c| {
                json!({
                    "Id": c.id,
                    "Names": [format!("/{}", c.name)],
                    "Image": IMAGE,
                    "ImageID": IMAGE_ID,
                    "ImageManifestDescriptor": manifest(),
                    "Command": "/docker-entrypoint.sh nginx -g 'daemon off;'",
                    "Created": 1763632801,
                    "Ports": [],
                    "Labels": labels(c),
                    "State": state_name(c),
                    "Status": if c.running { "Up 5 minutes" } else { "Exited (0) 5 minutes ago" },
                    "HostConfig": { "NetworkMode": c.network_mode },
                    "NetworkSettings": { "Networks": {} },
                    "Mounts": []
                })
            })
            .collect(),
    )
}

/// `HostConfig` of a task container as Engine 29 reports it.
const HOST_CONFIG: &str = r#"{
    "Binds": null,
    "ContainerIDFile": "",
    "LogConfig": { "Type": "json-file", "Config": {} },
    "NetworkMode": "bridge",
    "PortBindings": {},
    "RestartPolicy": { "Name": "no", "MaximumRetryCount": 0 },
    "AutoRemove": false,
    "VolumeDriver": "",
    "VolumesFrom": null,
    "ConsoleSize": [0, 0],
    "CapAdd": null,
    "CapDrop": null,
    "CgroupnsMode": "private",
    "Dns": null,
    "DnsOptions": null,
    "DnsSearch": null,
    "ExtraHosts": null,
    "GroupAdd": null,
    "IpcMode": "private",
    "Cgroup": "",
    "Links": null,
    "OomScoreAdj": 0,
    "PidMode": "",
    "Privileged": false,
    "PublishAllPorts": false,
    "ReadonlyRootfs": false,
    "SecurityOpt": null,
    "UTSMode": "",
    "UsernsMode": "",
    "ShmSize": 67108864,
    "Runtime": "runc",
    "Isolation": "",
    "CpuShares": 0,
    "Memory": 0,
    "NanoCpus": 0,
    "CgroupParent": "",
    "BlkioWeight": 0,
    "BlkioWeightDevice": null,
    "BlkioDeviceReadBps": null,
    "BlkioDeviceWriteBps": null,
    "BlkioDeviceReadIOps": null,
    "BlkioDeviceWriteIOps": null,
    "CpuPeriod": 0,
    "CpuQuota": 0,
    "CpuRealtimePeriod": 0,
    "CpuRealtimeRuntime": 0,
    "CpusetCpus": "",
    "CpusetMems": "",
    "Devices": null,
    "DeviceCgroupRules": null,
    "DeviceRequests": null,
    "MemoryReservation": 0,
    "MemorySwap": 0,
    "MemorySwappiness": null,
    "OomKillDisable": null,
    "PidsLimit": null,
    "Ulimits": [],
    "CpuCount": 0,
    "CpuPercent": 0,
    "IOMaximumIOps": 0,
    "IOMaximumBandwidth": 0,
    "MaskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/sys/firmware"],
    "ReadonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"]
}"#;

/// `GET /containers/<id>/json` in API 1.52 with the containerd image store: `Storage` instead
/// of `GraphDriver`, no deprecated top-level `NetworkSettings` addresses.
fn inspect_container(c: &Container) -> Value {
    let networks = if c.network_mode == "host" {
        json!({
            "host": {
                "NetworkID": "b1e6f4a2c3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f2a3b5c7d9e1f3",
                "EndpointID": "",
                "LbEntry": "",
                "IPAddress": "",
                "IPPrefixLen": 0,
                "MacAddress": ""
            }
        })
    } else if c.task.is_some() && c.network_mode == "default" {
        json!({
            "ingress": {
                "IPAMConfig": { "IPv4Address": "10.0.0.4" },
                "Links": null,
                "Aliases": null,
                "MacAddress": "02:42:0a:00:00:04",
                "DriverOpts": null,
                "GwPriority": 0,
                "NetworkID": INGRESS_NET,
                "EndpointID": "983e11c8b80bd402eb418fc3b6b117e98def21add3aab8b3e14e53d5c73ee4eb",
                "LbEntry": "",
                "IPAddress": "10.0.0.4",
                "IPPrefixLen": 24,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "DNSNames": null
            }
        })
    } else {
        json!({})
    };
    let state = json!({
        "Status": state_name(c),
        "Running": c.running,
        "Paused": false,
        "Restarting": false,
        "OOMKilled": false,
        "Dead": false,
        "Pid": c.pid,
        "ExitCode": 0,
        "Error": "",
        "StartedAt": "2025-11-20T10:00:02.345678901Z",
        "FinishedAt": if c.running { "0001-01-01T00:00:00Z" } else { "2025-11-20T10:05:00.000000001Z" }
    });
    let config = json!({
        "Hostname": &c.id[..12],
        "Domainname": "",
        "User": "",
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
        "ExposedPorts": { "80/tcp": {} },
        "Tty": false,
        "OpenStdin": false,
        "StdinOnce": false,
        "Env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "NGINX_VERSION=1.29.3"
        ],
        "Cmd": ["nginx", "-g", "daemon off;"],
        "Image": IMAGE,
        "Volumes": null,
        "WorkingDir": "",
        "Entrypoint": ["/docker-entrypoint.sh"],
        "OnBuild": null,
        "Labels": labels(c),
        "StopSignal": "SIGQUIT"
    });
    let network_settings = json!({
        "SandboxID": "2f3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a",
        "SandboxKey": c.sandbox_key,
        "Ports": { "80/tcp": null },
        "Networks": networks
    });
    let mut host_config: Value = serde_json::from_str(HOST_CONFIG).expect("HostConfig is JSON");
    host_config["NetworkMode"] = json!(c.network_mode);
    let dir = format!("/var/lib/docker/containers/{}", c.id);
    json!({
        "Id": c.id,
        "Created": "2025-11-20T10:00:01.234567890Z",
        "Path": "/docker-entrypoint.sh",
        "Args": ["nginx", "-g", "daemon off;"],
        "State": state,
        "Image": IMAGE_ID,
        "ResolvConfPath": format!("{dir}/resolv.conf"),
        "HostnamePath": format!("{dir}/hostname"),
        "HostsPath": format!("{dir}/hosts"),
        "LogPath": format!("{dir}/{}-json.log", c.id),
        "Name": format!("/{}", c.name),
        "RestartCount": 0,
        "Driver": "overlayfs",
        "Platform": "linux",
        "ImageManifestDescriptor": manifest(),
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "docker-default",
        "ExecIDs": null,
        "HostConfig": host_config,
        "Storage": { "RootFS": { "Snapshot": { "Name": "overlayfs" } } },
        "Mounts": [],
        "Config": config,
        "NetworkSettings": network_settings
    })
}

fn web_service() -> Value {
    let endpoint_spec = json!({
        "Mode": "vip",
        "Ports": [
            { "Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress" },
            { "Protocol": "udp", "TargetPort": 53, "PublishedPort": 5353, "PublishMode": "ingress" }
        ]
    });
    json!({
        "ID": WEB_SERVICE,
        "Version": { "Index": 27 },
        "CreatedAt": "2025-11-20T09:59:58.123456789Z",
        "UpdatedAt": "2025-11-20T09:59:58.125678901Z",
        "Spec": {
            "Name": "web",
            "Labels": {},
            "TaskTemplate": {
                "ContainerSpec": {
                    "Image": IMAGE,
                    "Init": false,
                    "StopGracePeriod": 10000000000u64,
                    "DNSConfig": {},
                    "Isolation": "default"
                },
                "Resources": { "Limits": {}, "Reservations": {} },
                "RestartPolicy": { "Condition": "any", "Delay": 5000000000u64, "MaxAttempts": 0 },
                "Placement": { "Platforms": [{ "Architecture": "amd64", "OS": "linux" }] },
                "ForceUpdate": 0,
                "Runtime": "container"
            },
            "Mode": { "Replicated": { "Replicas": 1 } },
            "UpdateConfig": {
                "Parallelism": 1,
                "FailureAction": "pause",
                "Monitor": 5000000000u64,
                "MaxFailureRatio": 0,
                "Order": "stop-first"
            },
            "RollbackConfig": {
                "Parallelism": 1,
                "FailureAction": "pause",
                "Monitor": 5000000000u64,
                "MaxFailureRatio": 0,
                "Order": "stop-first"
            },
            "EndpointSpec": endpoint_spec
        },
        "Endpoint": {
            "Spec": endpoint_spec,
            "Ports": endpoint_spec["Ports"],
            "VirtualIPs": [{ "NetworkID": INGRESS_NET, "Addr": "10.0.0.3/24" }]
        }
    })
}

/// `GET /events`: the canned events of the `type` filter, in the API 1.52 shape (`Type`,
/// `Action`, `Actor`, `scope`, `time`, `timeNano`; no `id`, `status`, `from`).
fn events(target: &str, spec: &Spec) -> Result<Vec<Value>, Response> {
    let f = filters(
        &query(target),
        &["type", "container", "event", "label", "network"],
    )?;
    let types = f.get("type").cloned().unwrap_or_default();
    Ok(spec
        .events
        .clone()
        .unwrap_or_else(canned_events)
        .into_iter()
        .filter(|e| {
            types.is_empty() || types.iter().any(|t| Some(t.as_str()) == e["Type"].as_str())
        })
        .collect())
}

pub fn canned_events() -> Vec<Value> {
    let task_attrs = |c: &Container| {
        let mut a = labels(c);
        a["image"] = json!(
            "nginx:alpine@sha256:61e01287e546aac28a3f56839c136b31f590273f3b41187a36f46f6a03bbfe22"
        );
        a["name"] = json!(c.name);
        a
    };
    let web = &CONTAINERS[0];
    let exited = &CONTAINERS[1];
    let mut died = task_attrs(exited);
    died["exitCode"] = json!("0");
    let mut t = 1_763_632_800i64;
    let mut ev = |typ: &str, action: &str, id: &str, attrs: Value, scope: &str| {
        t += 1;
        json!({
            "Type": typ,
            "Action": action,
            "Actor": { "ID": id, "Attributes": attrs },
            "scope": scope,
            "time": t,
            "timeNano": t * 1_000_000_000 + 123_456_789
        })
    };
    vec![
        ev(
            "image",
            "pull",
            "nginx:alpine",
            json!({ "name": "nginx" }),
            "local",
        ),
        ev(
            "network",
            "connect",
            INGRESS_NET,
            json!({ "container": WEB_TASK, "name": "ingress", "type": "overlay" }),
            "local",
        ),
        ev("container", "start", WEB_TASK, task_attrs(web), "local"),
        ev(
            "container",
            "health_status: healthy",
            WEB_TASK,
            task_attrs(web),
            "local",
        ),
        ev("container", "die", EXITED_TASK, died, "local"),
        ev(
            "service",
            "update",
            WEB_SERVICE,
            json!({ "name": "web", "updatestate.new": "updating" }),
            "swarm",
        ),
        ev(
            "network",
            "create",
            APP_NET,
            json!({ "name": "app", "type": "overlay" }),
            "swarm",
        ),
    ]
}
