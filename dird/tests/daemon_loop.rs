//! The daemon loop (root), in-process against a fake Engine, with real throwaway namespaces
//! bind-mounted where Docker keeps its sandboxes: an ingress_sbox, a task, and a task in which
//! `iptables-restore` hangs (a wrapper given through `DIRD_IPTABLES_RESTORE`). It shows that:
//! - a task started after dird is configured before Docker says anything of it, in Docker 28's
//!   order: its namespace appears, Docker lists its endpoint by name (`ep-…`), its ingress
//!   address arrives in the namespace, and only then come `network connect` and `start`
//!   (which the Engine may send at once, as a fast machine does); its start then finds it in
//!   place. A running container that puts that address on its `lo`, a new namespace whose
//!   first address Docker gave nobody, and a new namespace that held the address before it
//!   could be seen arriving are never taken for the task;
//! - the hung namespace does not stall the others: the other task is configured, and the sbox
//!   is tried (on this kernel, which has no IPVS, its `net.ipv4.vs` sysctls fail);
//! - the hung one is abandoned at `--apply-timeout` and retried on its own;
//! - a SIGHUP with a configuration that does not fit the swarm keeps the previous one, also
//!   across a reconnect to Docker (it used to make the next reconnect exit);
//! - `/healthz` turns 200 after the first sync, `/metrics` counts the tasks by state, the
//!   applies, the failed and abandoned ones and the task configured before its start (with
//!   `DIRD_FAILING_METRICS_OUT`, that scrape is written there for promtool), and
//!   `--status-file` lists every task with its state;
//! - SIGTERM ends the daemon within 2 s, and the hung child is killed.
//!
//! One test only: it sets `DOCKER_HOST` and the iptables overrides, and signals its own process.

mod common;
#[path = "common/fake_engine.rs"]
mod fake_engine;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Mounted, Netns};
use dird::reconcile::{run, Launch};
use fake_engine::{Container, FakeEngine, Spec, WEB_TASK};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const GOOD_KEY: &str = "/run/docker/netns/a1b2c3d4e5f6";
const HUNG_KEY: &str = "/run/docker/netns/f6e5d4c3b2a1";
/// The sandbox of a task started after dird (WEB_TASK, web.3).
const STARTING_KEY: &str = "/run/docker/netns/0a1b2c3d4e5f";
/// web.3's ingress address, which Docker gives it while it starts.
const STARTING_IP: &str = "10.0.0.6";
/// A running container (not a task) that adds web.3's address to its own namespace.
const HOSTILE_KEY: &str = "/run/docker/netns/5a6b7c8d9e0f";
/// A new namespace whose first address in the ingress subnet Docker gave nobody.
const FOREIGN_KEY: &str = "/run/docker/netns/6b7c8d9e0f1a";
/// A new namespace mounted with web.3's address already in it: not seen arriving.
const EARLY_KEY: &str = "/run/docker/netns/7c8d9e0f1a2b";

/// A task namespace bind-mounted at `key`.
fn sandbox(tag: &str, key: &'static str, addr: &str) -> Mounted {
    Mounted::new(Netns::task(tag, "eth0", addr), key)
}

fn has_dird_chains(s: &Mounted) -> bool {
    s.ns.exec(&["iptables-save"]).contains("DIRD-")
}

fn task(id: &'static str, name: &'static str, slot: u32, key: &'static str) -> Container {
    Container {
        id,
        name,
        running: true,
        pid: 5000 + i64::from(slot),
        task: Some(("web", slot, "2h4j6l8n0q2s4u6w8y0a2c4e6")),
        network_mode: "default",
        sandbox_key: key,
    }
}

/// The raw answer to `GET path` from the server at `addr`.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Waits up to `secs` for `f`.
fn wait_for(secs: u64, what: &str, f: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < end, "not within {secs} s: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Processes running `program` (by path), zombies excepted.
fn running(program: &Path) -> usize {
    let want = program.display().to_string();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| {
            let e = e.ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let zombie = stat.rsplit_once(") ")?.1.starts_with('Z');
            (!zombie && String::from_utf8_lossy(&cmd).starts_with(&want)).then_some(())
        })
        .count()
}

#[test]
fn a_hung_namespace_stalls_nothing_a_bad_reload_is_refused_and_sigterm_is_prompt() {
    dird::logging::init();
    let dir = std::env::temp_dir().join(format!("dird-loop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let sbox = Netns::new("loop-sbox");
    let good = sandbox("loop-good", GOOD_KEY, "10.0.0.7/24");
    let hostile = sandbox("loop-hostile", HOSTILE_KEY, "10.0.0.40/24");
    let hung = sandbox("loop-hung", HUNG_KEY, "10.0.0.9/24");
    hung.ns.ip(&[
        "link", "add", "hang0", "type", "veth", "peer", "name", "hang0p",
    ]);

    // iptables-restore hangs where a link `hang0` exists; each hang is counted.
    let sleeper = dir.join("dirdloopsleep");
    std::fs::copy("/bin/sleep", &sleeper).expect("sleep");
    let hangs = dir.join("hangs");
    let wrapper = dir.join("restore");
    write_script(
        &wrapper,
        &format!(
            "if ip link show hang0 >/dev/null 2>&1; then echo x >>{hangs}; exec {sleeper} 3600; fi\nexec iptables-restore \"$@\"",
            hangs = hangs.display(),
            sleeper = sleeper.display()
        ),
    );
    let config = dir.join("dird.conf");
    std::fs::write(&config, "--ingress-gateway-ips 10.0.0.2\n").expect("config");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let engine = {
        let _inside = rt.enter();
        FakeEngine::start(Spec {
            containers: vec![
                task(
                    "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
                    "web.1.2h4j6l8n0q2s4u6w8y0a2c4e6",
                    1,
                    GOOD_KEY,
                ),
                task(
                    "f6e5d4c3b2a10f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e",
                    "web.2.2h4j6l8n0q2s4u6w8y0a2c4e6",
                    2,
                    HUNG_KEY,
                ),
                // Being started: created, not running until the test says so.
                Container {
                    running: false,
                    ..task(WEB_TASK, "web.3.2h4j6l8n0q2s4u6w8y0a2c4e6", 3, STARTING_KEY)
                },
                Container {
                    id: fake_engine::PLAIN,
                    name: "hostile",
                    running: true,
                    pid: 3131,
                    task: None,
                    network_mode: "bridge",
                    sandbox_key: HOSTILE_KEY,
                },
            ],
            // No container events: the test sends web.3's when Docker 28 would.
            events: Some(no_container_events()),
            ..Spec::engine_29()
        })
    };
    std::env::set_var(
        "DOCKER_HOST",
        format!("unix://{}", engine.socket().display()),
    );
    std::env::set_var("DIRD_IPTABLES_SAVE", "iptables-save");
    std::env::set_var("DIRD_IPTABLES_RESTORE", &wrapper);
    // A free port for the metrics server.
    let metrics_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let status_file = dir.join("status.json");
    let argv: Vec<String> = [
        "dird",
        "--install",
        "--config",
        config.to_str().expect("utf-8"),
        "--apply-timeout",
        "2",
        "--resync-interval",
        "0",
        "--metrics-addr",
        &metrics_addr,
        "--status-file",
        status_file.to_str().expect("utf-8"),
    ]
    .map(String::from)
    .to_vec();
    let cfg = dird::config::load(&argv, None).expect("configuration");
    let mut launch = Launch::new(argv, None);
    launch.sbox = sbox.path();
    launch.sysctl_dir = PathBuf::from("/nonexistent");
    let handle = rt.handle().clone();
    let daemon = std::thread::spawn(move || handle.block_on(run(launch, cfg)));

    wait_for(20, "the other task is configured", || {
        has_dird_chains(&good)
    });

    // web.3 starts, in Docker 28's order. The running container adds its address first.
    hostile
        .ns
        .ip(&["addr", "add", &format!("{STARTING_IP}/32"), "dev", "lo"]);
    engine.add_endpoint(
        "ep-27a102abb023",
        "web.3.2h4j6l8n0q2s4u6w8y0a2c4e6",
        &format!("{STARTING_IP}/24"),
    );
    let foreign = Mounted::new(Netns::new("loop-foreign"), FOREIGN_KEY);
    join(&foreign.ns, "eth0", "10.0.0.41/24");
    let early = sandbox("loop-early", EARLY_KEY, &format!("{STARTING_IP}/24"));
    let starting = Mounted::new(Netns::new("loop-starting"), STARTING_KEY);
    join(&starting.ns, "eth1", "172.18.0.4/16");
    join(&starting.ns, "eth0", &format!("{STARTING_IP}/24"));
    wait_for(
        20,
        "web.3 is configured before Docker says anything of it",
        || has_dird_chains(&starting),
    );
    for (what, ns) in [
        ("the running container holding web.3's address", &hostile),
        ("a new namespace whose address Docker gave nobody", &foreign),
        (
            "a namespace that held web.3's address before it was watched",
            &early,
        ),
    ] {
        assert!(!has_dird_chains(ns), "{what} was configured");
    }
    // Then Docker 28's events, at once; the start finds web.3 in place.
    engine.start_container(WEB_TASK);
    engine.push_event(container_event("network", "connect", WEB_TASK));
    engine.push_event(container_event("container", "start", WEB_TASK));
    let starting_before = starting.ns.snapshot();

    let hang_count = || {
        std::fs::read_to_string(&hangs)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    wait_for(20, "the hung task is tried again", || hang_count() >= 2);

    // Metrics, health and status while one task keeps failing.
    wait_for(10, "/healthz says 200", || {
        http_get(&metrics_addr, "/healthz").starts_with("HTTP/1.1 200")
    });
    let metrics = http_get(&metrics_addr, "/metrics");
    // Whole lines: `… 2` must not pass for `… 20`.
    for want in [
        "dird_tasks{state=\"configured\"} 2",
        "dird_tasks{state=\"failing\"} 1",
        "dird_events_total{kind=\"ingress_joined\"} 1",
        "dird_events_total{kind=\"container_start\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == want),
            "{want} not in:\n{metrics}"
        );
    }
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("dird_apply_seconds_count{kind=\"task\"} ")),
        "{metrics}"
    );
    // web.3's rules came before Docker's events: observed once, as 0 s, before its start.
    for want in [
        "dird_tasks_configured_before_start_total 1",
        "dird_event_to_configured_seconds_count 1",
        "dird_event_to_configured_seconds_bucket{le=\"0.01\"} 1",
        "dird_docker_connected 1",
        "dird_healthy 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == want),
            "{want} not in:\n{metrics}"
        );
    }
    // The hung task's applies failed and were abandoned, and say so.
    let value = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(
        value("dird_apply_failures_total{kind=\"task\"}") >= 1.0,
        "{metrics}"
    );
    assert!(
        value("dird_applies_abandoned_total{kind=\"task\"}") >= 1.0,
        "{metrics}"
    );
    // `just test-prometheus` feeds this scrape to promtool: DirdTasksFailing must fire.
    if let Some(out) = std::env::var_os("DIRD_FAILING_METRICS_OUT") {
        let body = metrics.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        std::fs::write(out, body).expect("write the metrics snapshot");
    }
    wait_for(5, "the status file lists the three tasks", || {
        dird::telemetry::status::read(&status_file).is_ok_and(|s| s.tasks.len() == 3)
    });
    let status = dird::telemetry::status::read(&status_file).expect("status");
    let state_of = |id: &str| status.tasks.iter().find(|t| t.id == id).map(|t| t.state);
    use dird::telemetry::TaskState;
    assert_eq!(state_of("a1b2c3d4e5f6"), Some(TaskState::Configured));
    assert_eq!(state_of(&WEB_TASK[..12]), Some(TaskState::Configured));
    assert_eq!(state_of("f6e5d4c3b2a1"), Some(TaskState::Failing));
    assert!(!has_dird_chains(&hung));
    let sandbox_of = |id: &str| {
        let t = status.tasks.iter().find(|t| t.id == id)?;
        t.netns
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    };
    assert_eq!(
        sandbox_of(&WEB_TASK[..12]).as_deref(),
        STARTING_KEY.rsplit('/').next()
    );
    assert_eq!(
        starting.ns.snapshot(),
        starting_before,
        "its start changed what was in place"
    );

    // A configuration that cannot fit this swarm (the load balancer is off the ingress),
    // then Docker goes away and comes back.
    let good_before = good.ns.snapshot();
    std::fs::write(&config, "--ingress-gateway-ips 10.9.9.9\n").expect("config");
    kill(Pid::this(), Signal::SIGHUP).expect("SIGHUP");
    std::thread::sleep(Duration::from_millis(1500));
    engine.end_event_streams();
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        !daemon.is_finished(),
        "dird stopped after a bad reload and a reconnect: {:?}",
        daemon.join()
    );
    assert_eq!(good.ns.snapshot(), good_before, "the task's rules changed");

    // SIGTERM while the hung namespace is being tried.
    wait_for(20, "a hang is under way", || running(&sleeper) > 0);
    let asked = Instant::now();
    kill(Pid::this(), Signal::SIGTERM).expect("SIGTERM");
    wait_for(5, "dird ends", || daemon.is_finished());
    let took = asked.elapsed();
    let result = daemon.join().expect("daemon thread");
    assert!(result.is_ok(), "{result:?}");
    assert!(took <= Duration::from_secs(2), "SIGTERM took {took:?}");
    assert_eq!(running(&sleeper), 0, "the hung iptables-restore survived");
    drop(rt);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The fake's canned events without the container ones and the `network connect` (no task
/// starts or joins).
fn no_container_events() -> Vec<serde_json::Value> {
    fake_engine::canned_events()
        .into_iter()
        .filter(|e| e["Type"] != "container" && e["Action"] != "connect")
        .collect()
}

/// An event of `typ` (`container`, or `network` for the ingress) about container `id`.
fn container_event(typ: &str, action: &str, id: &str) -> serde_json::Value {
    let actor = if typ == "network" {
        serde_json::json!({ "ID": fake_engine::INGRESS_NET, "Attributes": { "container": id, "name": "ingress", "type": "overlay" } })
    } else {
        serde_json::json!({ "ID": id, "Attributes": { "name": "web.3.2h4j6l8n0q2s4u6w8y0a2c4e6" } })
    };
    serde_json::json!({ "Type": typ, "Action": action, "Actor": actor, "scope": "local", "time": 1763632900, "timeNano": 1763632900123456789i64 })
}

/// Gives `ns` an interface with `addr` and brings it up, as Docker joins a network.
fn join(ns: &Netns, ifname: &str, addr: &str) {
    ns.ip(&[
        "link",
        "add",
        ifname,
        "type",
        "veth",
        "peer",
        "name",
        &format!("{ifname}p"),
    ]);
    ns.ip(&["link", "set", &format!("{ifname}p"), "up"]);
    ns.ip(&["addr", "add", addr, "dev", ifname]);
    ns.ip(&["link", "set", ifname, "up"]);
}
