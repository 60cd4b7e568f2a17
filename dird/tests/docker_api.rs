//! dird's Docker client against a fake Engine 29 (API 1.52, minimum 1.44) on a Unix socket:
//! version negotiation, the versioned raw request, the 1.52 event shape, task discovery, a
//! worker told from a manager without quorum.

mod common;
#[path = "common/fake_engine.rs"]
mod fake_engine;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use bollard::{ClientVersion, Docker};
use dird::config::PortSpec;
use dird::docker::raw::RawError;
use dird::docker::{DockerClient, DockerError, Event, IngressState};
use dird::node::TaskRef;
use dird::plan::Ingress;
use dird::reconcile::{build_node, view_changed, BackendLog, BuildError, Launch};
use fake_engine::{
    FakeEngine, Role, Spec, EXITED_TASK, HOST_TASK, ODD_KEY_TASK, PLAIN, SHARED_TASK, WEB_TASK,
    WEB_TASK_SANDBOX,
};
use futures::StreamExt;

const WAIT: Duration = Duration::from_secs(10);

async fn connect(engine: &FakeEngine) -> DockerClient {
    tokio::time::timeout(WAIT, DockerClient::connect_socket(engine.socket()))
        .await
        .expect("connect in time")
        .expect("connect and negotiate")
}

/// An Engine 29 that is `role` in its swarm, and a client connected to it.
async fn engine_as(role: Role) -> (FakeEngine, DockerClient) {
    let engine = FakeEngine::start(Spec {
        role,
        ..Spec::engine_29()
    });
    let client = connect(&engine).await;
    (engine, client)
}

/// `dird --install ARGS`: its configuration, and a launch whose sbox is `sbox` and whose
/// Docker chains are looked for in `host` (`None`: dird's own namespace).
fn install(args: &[&str], sbox: PathBuf, host: Option<PathBuf>) -> (dird::config::Config, Launch) {
    let argv: Vec<String> = ["dird", "--install"]
        .iter()
        .chain(args)
        .map(|a| a.to_string())
        .collect();
    let cfg = dird::config::load(&argv, None).expect("configuration");
    let mut launch = Launch::new(argv, None);
    launch.sbox = sbox;
    launch.host_netns = host;
    (cfg, launch)
}

/// This node's ingress in the fake Engine's swarm: 10.0.0.2 in 10.0.0.0/24.
fn this_ingress() -> Ingress {
    Ingress {
        subnet: "10.0.0.0/24".parse().expect("subnet"),
        node_ip: Ipv4Addr::new(10, 0, 0, 2),
    }
}

/// The `(major, minor)` of a `/v<major>.<minor>/…` request target.
fn version_of(target: &str) -> Option<(usize, usize)> {
    let v = target.strip_prefix("/v")?.split('/').next()?;
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[tokio::test]
async fn connects_and_negotiates_a_version_engine_29_accepts() {
    let engine = FakeEngine::start(Spec::engine_29());
    let client = connect(&engine).await;
    client.ping().await.expect("ping");
    let v = client.api_version();
    assert!(
        ((1, 44)..=(1, 52)).contains(&v),
        "negotiated {v:?}, outside Engine 29's 1.44..=1.52"
    );
    assert!(engine.requests().iter().any(|r| r == "/version"));
}

#[tokio::test]
async fn ingress_is_ready_with_the_swarm_subnet_and_this_nodes_address() {
    let engine = FakeEngine::start(Spec::engine_29());
    let client = connect(&engine).await;
    assert_eq!(
        client.ingress().await.expect("ingress"),
        IngressState::Ready(Ingress {
            subnet: "10.0.0.0/24".parse().expect("subnet"),
            node_ip: Ipv4Addr::new(10, 0, 0, 2),
        })
    );
}

#[tokio::test]
async fn swarm_view_is_asked_with_the_negotiated_version() {
    let engine = FakeEngine::start(Spec::engine_29());
    let client = connect(&engine).await;
    let view = client.swarm_view().await.expect("swarm view");
    let ips: Vec<Ipv4Addr> = view.iter().map(|n| n.ingress_ip).collect();
    assert_eq!(
        ips,
        [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)]
    );
    assert_eq!(view[0].host_ip, Some(Ipv4Addr::new(192, 0, 2, 1)));

    let requests = engine.requests();
    let raw = requests
        .iter()
        .find(|r| r.ends_with("/networks/ingress?verbose=true"))
        .expect("the verbose view was requested");
    let v = version_of(raw).expect("the raw request is versioned");
    assert!(v >= (1, 44), "{raw} would be refused by Engine 29");
    assert_eq!(v, client.api_version());
}

#[tokio::test]
async fn a_client_pinned_to_1_41_is_refused_by_engine_29() {
    let engine = FakeEngine::start(Spec::engine_29());
    let path = engine.socket().to_str().expect("UTF-8 temp path");
    let pinned = Docker::connect_with_unix(
        path,
        120,
        &ClientVersion {
            major_version: 1,
            minor_version: 41,
        },
    )
    .expect("bollard client");
    let client = DockerClient::with_docker(pinned, engine.socket());
    assert_eq!(client.api_version(), (1, 41));

    let err = client.swarm_view().await.expect_err("1.41 is refused");
    match &err {
        DockerError::Raw(RawError::Status {
            request,
            status,
            message,
        }) => {
            assert_eq!(request, "/v1.41/networks/ingress?verbose=true");
            assert!(status.contains(" 400 "), "{status}");
            assert!(
                message.starts_with(
                    "client version 1.41 is too old. Minimum supported API version is 1.44"
                ),
                "{message}"
            );
        }
        other => panic!("expected the Engine's 400, got {other:?}"),
    }
    assert!(err.to_string().contains("client version 1.41 is too old"));

    // bollard's typed requests carry no version prefix, so the pin does not reach them.
    assert!(matches!(
        client.ingress().await.expect("ingress"),
        IngressState::Ready(_)
    ));
    assert!(engine
        .requests()
        .iter()
        .any(|r| r.starts_with("/networks/ingress?")));
}

#[tokio::test]
async fn negotiation_follows_an_older_engine_down() {
    let engine = FakeEngine::start(Spec::engine_20_10());
    let client = connect(&engine).await;
    assert_eq!(client.api_version(), (1, 41));
    assert_eq!(client.swarm_view().await.expect("swarm view").len(), 2);
    assert!(engine
        .requests()
        .iter()
        .any(|r| r == "/v1.41/networks/ingress?verbose=true"));
}

#[tokio::test]
async fn events_in_the_1_52_shape_are_mapped() {
    // The fake's events really are the 1.52 shape.
    for e in fake_engine::canned_events() {
        for gone in ["id", "status", "from"] {
            assert!(e.get(gone).is_none(), "{e}");
        }
    }

    let engine = FakeEngine::start(Spec::engine_29());
    let client = connect(&engine).await;
    let mut events = Box::pin(client.events());
    let mut got = Vec::new();
    for _ in 0..6 {
        let ev = tokio::time::timeout(WAIT, events.next())
            .await
            .expect("an event in time")
            .expect("the stream is open")
            .expect("a decodable event");
        got.push(ev);
    }
    assert_eq!(
        got,
        vec![
            Some(Event::IngressJoined {
                container: WEB_TASK.to_string()
            }),
            Some(Event::ContainerStart {
                id: WEB_TASK.to_string()
            }),
            None, // container health_status: healthy
            Some(Event::ContainerGone {
                id: EXITED_TASK.to_string()
            }),
            Some(Event::ServiceChanged),
            None, // network create of another network than the ingress: nothing to redo
        ]
    );
    // The ingress re-created: that one counts.
    engine.push_event(serde_json::json!({
        "Type": "network", "Action": "create", "scope": "swarm",
        "Actor": { "ID": fake_engine::INGRESS_NET, "Attributes": { "name": "ingress", "type": "overlay" } },
        "time": 1763632900, "timeNano": 1763632900123456789i64
    }));
    let ev = tokio::time::timeout(WAIT, events.next())
        .await
        .expect("an event in time")
        .expect("the stream is open")
        .expect("a decodable event");
    assert_eq!(ev, Some(Event::NetworkChanged));
    // The image event was filtered out by the Engine; the stream stays open.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), events.next())
            .await
            .is_err(),
        "nothing more until dockerd sends something"
    );
    let requests = engine.requests();
    let ev = requests
        .iter()
        .find(|r| r.starts_with("/events?"))
        .expect("events requested");
    assert!(version_of(ev).is_none(), "{ev}");
}

#[tokio::test]
async fn the_event_stream_ends_when_the_engine_closes_it() {
    let engine = FakeEngine::start(Spec {
        close_events: true,
        ..Spec::engine_29()
    });
    let client = connect(&engine).await;
    let all: Vec<_> = tokio::time::timeout(WAIT, client.events().collect::<Vec<_>>())
        .await
        .expect("the stream ends");
    assert_eq!(all.len(), 6);
    assert!(all.iter().all(Result::is_ok));
}

#[tokio::test]
async fn task_of_a_running_service_container() {
    let engine = FakeEngine::start(Spec::engine_29());
    let client = connect(&engine).await;
    assert_eq!(
        client.task(WEB_TASK).await.expect("inspect"),
        Some(TaskRef {
            id: WEB_TASK[..12].to_string(),
            service: "web".into(),
            netns: PathBuf::from(WEB_TASK_SANDBOX),
        })
    );
    assert_eq!(client.task(EXITED_TASK).await.expect("inspect"), None);
    assert_eq!(client.task(PLAIN).await.expect("inspect"), None);
    // 404: gone between the event and the inspect.
    assert_eq!(
        client
            .task("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
            .await
            .expect("inspect"),
        None
    );
    let before = engine.requests().len();
    assert_eq!(client.task("../../version").await.expect("refused"), None);
    assert_eq!(engine.requests().len(), before, "no request for a bad id");
}

#[tokio::test]
async fn tasks_outside_a_namespace_of_their_own_are_refused() {
    let engine = FakeEngine::start(Spec::engine_29());
    let client = connect(&engine).await;
    // NetworkMode host, SandboxKey /var/run/docker/netns/default: the host's namespace.
    assert_eq!(client.task(HOST_TASK).await.expect("inspect"), None);
    // NetworkMode container:<web task>: another container's namespace.
    assert_eq!(client.task(SHARED_TASK).await.expect("inspect"), None);
    // A SandboxKey that leaves /var/run/docker/netns.
    assert_eq!(client.task(ODD_KEY_TASK).await.expect("inspect"), None);
}

#[tokio::test]
async fn service_tasks_are_the_running_labelled_containers() {
    let engine = FakeEngine::start(Spec::engine_29());
    let client = connect(&engine).await;
    let tasks = client.service_tasks().await.expect("service tasks");
    assert_eq!(
        tasks,
        vec![TaskRef {
            id: WEB_TASK[..12].to_string(),
            service: "web".into(),
            netns: PathBuf::from(WEB_TASK_SANDBOX),
        }]
    );
    assert!(engine
        .requests()
        .iter()
        .any(|r| r.starts_with("/containers/json?") && r.contains("filters=")));
}

#[tokio::test]
async fn a_worker_has_no_published_ports_to_read() {
    let (engine, client) = engine_as(Role::Worker).await;
    let ports = client.published_ports(&["web".to_string()]).await;
    assert_eq!(ports.expect("a worker is no error"), None);
    assert!(engine.requests().iter().any(|r| r == "/info"));
}

#[tokio::test]
async fn a_manager_without_quorum_is_not_taken_for_a_worker() {
    let (_engine, client) = engine_as(Role::ManagerWithoutQuorum).await;
    let err = client
        .published_ports(&["web".to_string()])
        .await
        .expect_err("a manager that cannot list services");
    assert!(
        matches!(err, DockerError::ManagerUnavailable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("does not have a leader"), "{err}");
}

/// [`build_node`] as a first rebuild makes it: no swarm view read yet, no backend logged yet.
async fn build(
    client: &DockerClient,
    launch: &Launch,
    cfg: &dird::config::Config,
    ingress: Ingress,
) -> Result<dird::node::Node, BuildError> {
    build_node(client, launch, cfg, ingress, None, &BackendLog::default()).await
}

#[tokio::test]
async fn a_manager_without_quorum_keeps_the_previous_load_balancers() {
    let (_engine, client) = engine_as(Role::ManagerWithoutQuorum).await;
    let (cfg, launch) = install(
        &["--services", "web"],
        PathBuf::from("/nonexistent/ingress_sbox"),
        None,
    );
    let ingress = this_ingress();
    // Waiting is what the daemon loop answers with "keeping the previous load balancers".
    match build(&client, &launch, &cfg, ingress).await {
        Err(BuildError::Waiting(why)) => assert!(why.contains("leader"), "{why}"),
        Err(e) => panic!("expected Waiting, got {e:?}"),
        Ok(node) => panic!("a node was built (load balancer on: {})", node.lb_enabled),
    }
}

/// `iptables ARGS` in `ns` (as Docker writes its rules: `--set-mark`, which `iptables-save`
/// prints as `--set-xmark <mark>/0xffffffff`).
fn iptables(ns: &common::Netns, args: &str) {
    let mut v = vec!["iptables", "-w"];
    v.extend(args.split(' '));
    ns.exec(&v);
}

/// `--services web` without port flags on a worker that is a load balancer (root): the Swarm API
/// refuses the service list, so the ports come from the verbose ingress view (`web`'s
/// `LocalLBIndex`: 256) and the sbox's MARK rules for that mark. Another service's mark, a
/// virtual IP's mark and a near miss give none; a port Docker publishes later is seen by the
/// poll; without an sbox there are none.
#[tokio::test]
async fn a_worker_reads_the_published_ports_from_the_ingress_view_and_its_sbox() {
    let (engine, client) = engine_as(Role::Worker).await;
    let sbox = common::Netns::new("worker-sbox");
    let host = common::Netns::new("worker-host");
    for rule in [
        "-t mangle -A PREROUTING -p tcp --dport 8080 -j MARK --set-mark 256",
        "-t mangle -A PREROUTING -p udp --dport 5353 -j MARK --set-mark 256",
        "-t mangle -A PREROUTING -p tcp --dport 9090 -j MARK --set-mark 257",
        "-t mangle -A INPUT -d 10.0.0.4/32 -j MARK --set-mark 256",
        "-t mangle -A PREROUTING -p tcp --dport 7070 -m comment --comment x -j MARK --set-mark 256",
        "-t nat -A PREROUTING -p tcp --dport 6060 -j ACCEPT",
    ] {
        iptables(&sbox, rule);
    }
    let (cfg, mut launch) = install(
        &["--services", "web", "--ingress-gateway-ips", "10.0.0.2"],
        sbox.path(),
        Some(host.path()),
    );
    let ingress = this_ingress();
    let ports = |n: &dird::node::Node| (n.rules.tcp_ports.clone(), n.rules.udp_ports.clone());
    let node = build(&client, &launch, &cfg, ingress).await.expect("built");
    assert_eq!(
        ports(&node),
        (vec![PortSpec::Single(8080)], vec![PortSpec::Single(5353)])
    );
    assert!(node.ports_from_sbox);
    assert_eq!(node.lb_id().map(|id| id.to_string()).as_deref(), Some("2"));
    assert!(engine
        .requests()
        .iter()
        .any(|r| r.ends_with("/networks/ingress?verbose=true")));

    // The poll: nothing changed, then Docker publishes another port of web.
    assert_eq!(view_changed(&client, &launch.sbox, &node).await, None);
    iptables(
        &sbox,
        "-t mangle -A PREROUTING -p tcp --dport 8081 -j MARK --set-mark 256",
    );
    assert_eq!(
        view_changed(&client, &launch.sbox, &node).await,
        Some(Vec::new()),
        "a rebuild (an explicit list assigns from no view)"
    );
    let node = build(&client, &launch, &cfg, ingress)
        .await
        .expect("rebuilt");
    assert_eq!(
        ports(&node),
        (
            vec![PortSpec::Single(8080), PortSpec::Single(8081)],
            vec![PortSpec::Single(5353)]
        )
    );

    // No sbox (not a load balancer yet): no ports, no load-balancer rules.
    launch.sbox = PathBuf::from("/nonexistent/ingress_sbox");
    let node = build(&client, &launch, &cfg, ingress).await.expect("built");
    assert_eq!(ports(&node), (vec![], vec![]));
    assert!(!node.lb_enabled && node.ports_from_sbox);
    assert_eq!(view_changed(&client, &launch.sbox, &node).await, None);
}

#[tokio::test]
async fn published_ports_of_a_service() {
    let engine = FakeEngine::start(Spec::engine_29());
    let client = connect(&engine).await;
    assert_eq!(
        client
            .published_ports(&["web".to_string()])
            .await
            .expect("services"),
        Some((vec![PortSpec::Single(8080)], vec![PortSpec::Single(5353)]))
    );
}

#[tokio::test]
async fn whose_an_ingress_address_is_is_asked_without_an_inspect() {
    let engine = FakeEngine::start(Spec::engine_29());
    // Docker 28: the endpoint of a starting container, listed under its endpoint, named
    // after the container.
    engine.add_endpoint(
        "ep-27a102abb023",
        "web.1.oimpzcu2zae2d4c1aookc1r2m",
        "10.0.0.6/24",
    );
    let client = connect(&engine).await;
    let ip = |d| Ipv4Addr::new(10, 0, 0, d);
    // By container id (a running task's endpoint, and Docker 20.10's for a starting one).
    assert_eq!(
        client.ingress_holder(ip(4)).await.expect("asked"),
        Some((WEB_TASK[..12].to_string(), "web".to_string()))
    );
    // By name: the exited task of the fixture stands for a container being started.
    assert_eq!(
        client.ingress_holder(ip(6)).await.expect("asked"),
        Some((EXITED_TASK[..12].to_string(), "web".to_string()))
    );
    // The sbox's address, an address nobody holds, a removed container's: nobody's.
    assert_eq!(client.ingress_holder(ip(2)).await.expect("asked"), None);
    assert_eq!(client.ingress_holder(ip(99)).await.expect("asked"), None);
    engine.remove_container(WEB_TASK);
    assert_eq!(client.ingress_holder(ip(4)).await.expect("asked"), None);
    // Docker holds a starting container locked: no container was inspected.
    assert!(
        !engine
            .requests()
            .iter()
            .any(|r| r.contains("/containers/") && !r.contains("/containers/json")),
        "{:?}",
        engine.requests()
    );
}

/// Engine 29 on its native nftables firewall backend (moby's main branch lets such an Engine
/// join a swarm behind `swarm-nftables`): none of Docker's rules are in iptables, so nothing
/// is built, and the one error line says why and what to set.
#[tokio::test]
async fn an_engine_on_native_nftables_gets_nothing_installed() {
    let engine = FakeEngine::start(Spec {
        firewall: Some("nftables"),
        ..Spec::engine_29()
    });
    let client = connect(&engine).await;
    assert_eq!(
        client.firewall_driver().await.expect("asked").as_deref(),
        Some("nftables")
    );
    // Docker's rules are looked for in an empty namespace (no Docker chain in either backend)
    // and in no sbox.
    let host = common::Netns::new("nft-host");
    let (cfg, launch) = install(
        &["--ingress-gateway-ips", "10.0.0.2"],
        PathBuf::from("/nonexistent/ingress_sbox"),
        Some(host.path()),
    );
    let ingress = this_ingress();
    match build(&client, &launch, &cfg, ingress).await {
        Err(BuildError::Backend(e)) => {
            let line = e.to_string();
            assert!(!line.contains('\n'), "{line}");
            assert!(line.contains("firewall backend is nftables"), "{line}");
            assert!(line.contains(r#""firewall-backend": "iptables""#), "{line}");
        }
        Err(e) => panic!("expected a backend error, got {e:?}"),
        Ok(node) => panic!("a node was built with {:?}", node.tools),
    }
    // The same Engine on iptables: built, with the system's tools.
    let engine = FakeEngine::start(Spec {
        firewall: Some("iptables"),
        ..Spec::engine_29()
    });
    let client = connect(&engine).await;
    let node = build(&client, &launch, &cfg, ingress).await.expect("built");
    assert_eq!(node.tools.save, "iptables-save");
}

/// A container Docker holds locked (it is stopping) does not hold up the listing of the
/// others: inspects run side by side, each with its own timeout.
#[tokio::test]
async fn a_locked_container_does_not_hold_up_the_listing() {
    let engine = FakeEngine::start(Spec {
        locked: vec![ODD_KEY_TASK],
        ..Spec::engine_29()
    });
    let client = connect(&engine).await;
    let tasks = tokio::time::timeout(Duration::from_secs(60), client.service_tasks())
        .await
        .expect("listed before bollard's own 120 s request timeout")
        .expect("listed");
    let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, [&WEB_TASK[..12]]);
}
