//! `netsim bench`: the data-plane benchmark. On one scenario (a client, a load-balancer node,
//! one task on another node) it builds one topology without dird (Swarm's masquerade, plus
//! nginx on the LB node as the L7 alternative) and one with dird per load-balancer count, then
//! measures every path in interleaved rounds and prints one table of medians.

pub mod load;
pub mod nginx;
pub mod table;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::runner::node_facts;
use crate::scenario::{self, Proto, Scenario};
use crate::topology::Topology;
use crate::whoami::parse_answer;
use crate::{dird_hook, Error};
use table::Row;

#[derive(Debug, Clone)]
pub struct Options {
    pub scenario: PathBuf,
    pub rounds: usize,
    pub seconds: f64,
    pub threads: usize,
    pub bulk_mib: u64,
    /// Load-balancer counts for the scale rows; 1 is the dird path itself.
    pub lbs: Vec<usize>,
    /// What the machine is (the header), e.g. "throwaway VM, qemu TCG".
    pub machine: String,
}

/// The parts of the scenario the bench uses.
struct Shape {
    lb: usize,
    port: u16,
    client_ip: Ipv4Addr,
}

fn shape(sc: &Scenario) -> Result<Shape, Error> {
    let bad = |why: &str| Error::Bench(format!("{}: {why}", sc.file.display()));
    let lb = sc
        .nodes
        .iter()
        .position(|n| n.load_balancer)
        .ok_or_else(|| bad("no node has load_balancer = true"))?;
    let svc = sc.services.first().ok_or_else(|| bad("no [[service]]"))?;
    let port = svc
        .publish
        .iter()
        .find(|p| p.proto == Proto::Tcp)
        .map(|p| p.published)
        .ok_or_else(|| bad("the service publishes no TCP port"))?;
    if sc.tasks.iter().any(|t| t.node == lb) || sc.tasks.is_empty() {
        return Err(bad(
            "the bench wants the service's tasks on other nodes than the load balancer",
        ));
    }
    let client_ip = sc
        .clients
        .first()
        .map(|c| c.ip)
        .ok_or_else(|| bad("no [[client]]"))?;
    Ok(Shape {
        lb,
        port,
        client_ip,
    })
}

/// `count` load balancers: fake addresses of the ingress subnet (from the top, skipping every
/// address the scenario uses), then the real one last, so its policy rule is walked last.
pub fn lb_list(sc: &Scenario, real: Ipv4Addr, count: usize) -> Result<Vec<Ipv4Addr>, Error> {
    let mut used: Vec<Ipv4Addr> = vec![sc.gateway];
    used.extend(sc.nodes.iter().map(|n| n.ingress_ip));
    used.extend(sc.services.iter().map(|s| s.vip));
    used.extend(sc.tasks.iter().map(|t| t.ingress_ip));
    let (net, top) = (
        u32::from(sc.subnet.network()),
        u32::from(sc.subnet.broadcast()),
    );
    let mut list: Vec<Ipv4Addr> = (net + 1..top)
        .rev()
        .map(Ipv4Addr::from)
        .filter(|ip| !used.contains(ip))
        .take(count.saturating_sub(1))
        .collect();
    if list.len() + 1 < count {
        return Err(Error::Bench(format!(
            "{} holds no {count} load balancers (use a /16 ingress subnet)",
            sc.subnet
        )));
    }
    list.push(real);
    Ok(list)
}

fn wider_ports(ns: &std::path::Path) -> Result<(), Error> {
    crate::netns::sysctls(ns, &[("net/ipv4/ip_local_port_range", "1024 65535")])
}

/// One measured path: where the client sends from and to.
struct PathUnderTest {
    row: Row,
    client: PathBuf,
    dst: SocketAddrV4,
    bulk: bool,
}

fn check(ok: bool, what: &str, body: &str) -> Result<(), Error> {
    if ok {
        Ok(())
    } else {
        Err(Error::Bench(format!(
            "{what}: unexpected answer {:?}",
            body.trim()
        )))
    }
}

fn machine_header(machine: &str) -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("?", |(_, m)| m.trim());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "machine: {machine}; {cpus} vCPUs ({model}); kernel {}",
        kernel.trim()
    )
}

/// Run the bench, writing progress and the table to `out`; returns the rows (masquerade, dird,
/// nginx, then dird at each further load-balancer count) and the machine's one-line summary.
pub fn run(opts: &Options, out: &mut dyn Write) -> Result<(Vec<Row>, String), Error> {
    let sc = scenario::load(&opts.scenario)?;
    let sh = shape(&sc)?;
    let lb = sc.nodes[sh.lb].clone();
    let mut counts = vec![1];
    counts.extend(opts.lbs.iter().copied().filter(|&c| c != 1));

    tracing::info!("building the topology without dird (masquerade, nginx)");
    let plain = Topology::build(&sc, 1)?;
    wider_ports(&plain.clients[0])?;
    wider_ports(&plain.nodes[sh.lb].host)?;
    let published = SocketAddrV4::new(lb.public_ip, sh.port);
    let proxy = SocketAddrV4::new(lb.public_ip, sh.port.wrapping_add(1000));
    let _nginx = nginx::Nginx::start(&plain.nodes[sh.lb].host, proxy, published)?;
    let topos = dird_topologies(&sc, lb.ingress_ip, &counts)?;
    let dsts = Destinations { published, proxy };
    check_paths(&plain, &topos, &sh, lb.ingress_ip, dsts)?;
    let mut paths = paths_under_test(&plain, &topos, dsts);
    measure(&mut paths, opts, out)?;
    Ok(report(&paths, opts, &sc, &sh, out))
}

/// Writes `line` to the bench's output at once (progress is watched live).
fn say(out: &mut dyn Write, line: impl std::fmt::Display) {
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Where the clients send: the published port (masquerade or dird), nginx's port.
#[derive(Clone, Copy)]
struct Destinations {
    published: SocketAddrV4,
    proxy: SocketAddrV4,
}

/// One topology per load-balancer count, with dird configured on every node; the real load
/// balancer (`lb_ip`) is last in the list.
fn dird_topologies(
    sc: &Scenario,
    lb_ip: Ipv4Addr,
    counts: &[usize],
) -> Result<Vec<(usize, Topology)>, Error> {
    let mut topos = Vec::new();
    for (i, &count) in counts.iter().enumerate() {
        tracing::info!("building the topology with dird, {count} load balancer(s)");
        let t = Topology::build(sc, 2 + i)?;
        wider_ports(&t.clients[0])?;
        let list = lb_list(sc, lb_ip, count)?;
        let ips: Vec<String> = list.iter().map(Ipv4Addr::to_string).collect();
        let args = vec!["--ingress-gateway-ips".to_string(), ips.join(",")];
        for n in 0..sc.nodes.len() {
            dird_hook::configure_node(&node_facts(&t, n), &args)
                .map_err(|e| Error::Dird(e.to_string()))?;
        }
        topos.push((count, t));
    }
    Ok(topos)
}

/// One request on each path shows what it must: the LB's ingress IP (masquerade), the client
/// in X-Forwarded-For (nginx), the client (dird).
fn check_paths(
    plain: &Topology,
    topos: &[(usize, Topology)],
    sh: &Shape,
    lb_ip: Ipv4Addr,
    dsts: Destinations,
) -> Result<(), Error> {
    let body = load::one(&plain.clients[0], dsts.published)?;
    check(
        parse_answer(&body).is_some_and(|a| a.peer == lb_ip),
        "masquerade path must show the LB's ingress IP",
        &body,
    )?;
    let body = load::one(&plain.clients[0], dsts.proxy)?;
    check(
        body.contains(&format!(" xff={}", sh.client_ip)),
        "nginx path must forward the client in X-Forwarded-For",
        &body,
    )?;
    for (count, t) in topos {
        let body = load::one(&t.clients[0], dsts.published)?;
        check(
            parse_answer(&body).is_some_and(|a| a.peer == sh.client_ip),
            &format!("dird path ({count} LBs) must show the client"),
            &body,
        )?;
    }
    Ok(())
}

/// The rows: masquerade, dird, nginx, then dird at each further load-balancer count.
fn paths_under_test(
    plain: &Topology,
    topos: &[(usize, Topology)],
    dsts: Destinations,
) -> Vec<PathUnderTest> {
    let row = |name: String| Row {
        name,
        ..Row::default()
    };
    let mut paths = vec![
        PathUnderTest {
            row: row("1 swarm default (masquerade)".into()),
            client: plain.clients[0].clone(),
            dst: dsts.published,
            bulk: true,
        },
        PathUnderTest {
            row: row("2 dird (1 LB)".into()),
            client: topos[0].1.clients[0].clone(),
            dst: dsts.published,
            bulk: true,
        },
        PathUnderTest {
            row: row("3 nginx on LB (X-Forwarded-For)".into()),
            client: plain.clients[0].clone(),
            dst: dsts.proxy,
            bulk: true,
        },
    ];
    for (count, t) in topos.iter().skip(1) {
        paths.push(PathUnderTest {
            row: row(format!("  dird, {count} LBs (LB's rule last)")),
            client: t.clients[0].clone(),
            dst: dsts.published,
            bulk: false,
        });
    }
    paths
}

/// A warm-up, then `opts.rounds` rounds over every path (order rotated each round): short
/// connections, then one bulk transfer where the path has one.
fn measure(paths: &mut [PathUnderTest], opts: &Options, out: &mut dyn Write) -> Result<(), Error> {
    let dur = Duration::from_secs_f64(opts.seconds);
    say(
        out,
        format!(
            "warm-up: 1 s per path; then {} rounds, paths interleaved (order rotated each round)",
            opts.rounds
        ),
    );
    for p in paths.iter() {
        load::conns(&p.client, p.dst, opts.threads, Duration::from_secs(1))?;
    }
    let bytes = opts.bulk_mib * 1024 * 1024;
    let started = Instant::now();
    for r in 0..opts.rounds {
        let n = paths.len();
        for k in 0..n {
            let p = &mut paths[(k + r) % n];
            let st = load::conns(&p.client, p.dst, opts.threads, dur)?;
            p.row.conns.push(st.per_second());
            p.row.p50.push(table::percentile_ms(&st.latencies, 0.50));
            p.row.p99.push(table::percentile_ms(&st.latencies, 0.99));
            p.row.errors += st.errors;
            if p.row.first_error.is_none() {
                p.row.first_error = st.first_error;
            }
        }
        for k in 0..n {
            let p = &mut paths[(k + r) % n];
            if p.bulk {
                p.row.bulk.push(load::bulk(&p.client, p.dst, bytes)?);
            }
        }
        let line: Vec<String> = paths
            .iter()
            .map(|p| format!("{:.0}", p.row.conns.last().copied().unwrap_or(f64::NAN)))
            .collect();
        say(
            out,
            format!(
                "round {}/{} ({:.0?}): conns/s {}",
                r + 1,
                opts.rounds,
                started.elapsed(),
                line.join(" / ")
            ),
        );
    }
    Ok(())
}

/// The header, the table, the targets and the errors; returns the rows and the machine line.
fn report(
    paths: &[PathUnderTest],
    opts: &Options,
    sc: &Scenario,
    sh: &Shape,
    out: &mut dyn Write,
) -> (Vec<Row>, String) {
    let lb = &sc.nodes[sh.lb];
    say(out, String::new());
    let machine = machine_header(&opts.machine);
    say(out, format!("dird data-plane bench — {machine}"));
    say(out, format!(
        "topology: client {} -> {} (public {}, ingress {}) -> task on another node, ingress {}; {} rounds x {} s of short HTTP GETs from {} threads (new TCP connection each), bulk {} MiB on one connection; medians over rounds, ratios = median of per-round ratios; MB = 10^6 bytes",
        sh.client_ip, lb.name, lb.public_ip, lb.ingress_ip, sc.subnet, opts.rounds, opts.seconds, opts.threads, opts.bulk_mib
    ));
    let rows: Vec<Row> = paths.iter().map(|p| p.row.clone()).collect();
    say(out, table::render(&rows));
    say(out, table::targets(&rows));
    for r in rows.iter().filter(|r| r.errors > 0) {
        say(
            out,
            format!(
                "errors on {}: {} (first: {})",
                r.name.trim(),
                r.errors,
                r.first_error.as_deref().unwrap_or("?")
            ),
        );
    }
    (rows, machine)
}
