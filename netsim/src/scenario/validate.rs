//! From the file's serde view to a validated [`Scenario`]: names resolved, addresses allocated.
//! Every error names the file, the key and the value.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::Path;

use ipnet::Ipv4Net;

use super::model::*;
use super::schema::*;
use super::ScenarioError;

const DEFAULT_SUBNET: &str = "10.0.0.0/24";
const TEST_NETS: [&str; 3] = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"];
const MAX_NODES: usize = 200;

struct Ctx<'a> {
    file: &'a Path,
    raw: &'a RawScenario,
}

impl Ctx<'_> {
    /// The index of the node named `name`, or an error for `key`.
    fn node_idx(&self, key: String, name: &str) -> Result<usize, ScenarioError> {
        self.raw
            .node
            .iter()
            .position(|n| n.name == name)
            .ok_or_else(|| self.err(key, name, "no [[node]] has this name"))
    }

    fn err(
        &self,
        key: impl Into<String>,
        value: impl ToString,
        reason: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError::Invalid {
            file: self.file.to_path_buf(),
            key: key.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

fn check_name(ctx: &Ctx, key: &str, name: &str) -> Result<(), ScenarioError> {
    let ok = !name.is_empty()
        && name.len() <= 24
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ctx.err(
            key,
            name,
            "names are 1-24 characters of [A-Za-z0-9_-], starting with a letter or digit",
        ))
    }
}

fn parse_publish(ctx: &Ctx, key: &str, s: &str) -> Result<Publish, ScenarioError> {
    let bad = || {
        ctx.err(
            key,
            s,
            "expected PUBLISHED:TARGET[/tcp|/udp], ports 1-65535",
        )
    };
    let (ports, proto) = match s.split_once('/') {
        Some((p, "tcp")) => (p, Proto::Tcp),
        Some((p, "udp")) => (p, Proto::Udp),
        Some(_) => return Err(bad()),
        None => (s, Proto::Tcp),
    };
    let (published, target) = ports.split_once(':').ok_or_else(bad)?;
    let published: u16 = published.parse().map_err(|_| bad())?;
    let target: u16 = target.parse().map_err(|_| bad())?;
    if published == 0 || target == 0 {
        return Err(bad());
    }
    Ok(Publish {
        published,
        target,
        proto,
    })
}

/// Who published a (port, protocol) first: its key and its service's name.
struct Claim {
    key: String,
    service: String,
}

/// Parse service `i`'s `publish` list, claiming each (published port, protocol) in `seen`.
///
/// Docker (swarmkit) keys published ports by (port, protocol) across the whole swarm: two
/// published ports may share a target (`8080:80`, `8081:80`), one number may be published for
/// tcp and for udp (`53:53/tcp`, `53:53/udp`), a target may differ from its published port.
/// The same published port twice for one protocol is refused, in one service ("duplicate
/// published ports provided") as across services ("already in use ... as an ingress port").
fn parse_service_publish(
    ctx: &Ctx,
    i: usize,
    s: &RawService,
    seen: &mut HashMap<(u16, Proto), Claim>,
) -> Result<Vec<Publish>, ScenarioError> {
    let mut publish = Vec::new();
    for (j, text) in s.publish.iter().enumerate() {
        let key = format!("service[{i}].publish[{j}]");
        let p = parse_publish(ctx, &key, text)?;
        if let Some(prev) = seen.get(&(p.published, p.proto)) {
            let docker = if prev.service == s.name {
                "Docker refuses duplicate published ports in one service"
            } else {
                "Docker refuses a port already in use by another service as an ingress port"
            };
            let reason = format!(
                "port {}/{} is already published by {} (service {:?}); {docker}",
                p.published, p.proto, prev.key, prev.service
            );
            return Err(ctx.err(key, text, reason));
        }
        seen.insert(
            (p.published, p.proto),
            Claim {
                key,
                service: s.name.clone(),
            },
        );
        publish.push(p);
    }
    Ok(publish)
}

fn parse_proto(ctx: &Ctx, key: &str, s: &str) -> Result<Proto, ScenarioError> {
    match s {
        "tcp" => Ok(Proto::Tcp),
        "udp" => Ok(Proto::Udp),
        _ => Err(ctx.err(key, s, "expected \"tcp\" or \"udp\"")),
    }
}

/// Hands out ingress addresses in order, skipping reserved ones.
struct Allocator {
    subnet: Ipv4Net,
    used: BTreeSet<Ipv4Addr>,
    next: u32,
}

impl Allocator {
    fn alloc(&mut self) -> Option<Ipv4Addr> {
        let last = u32::from(self.subnet.broadcast());
        while self.next < last {
            let ip = Ipv4Addr::from(self.next);
            self.next += 1;
            if self.used.insert(ip) {
                return Some(ip);
            }
        }
        None
    }

    /// The next free address, or an error for `key` when the subnet is full.
    fn alloc_for(&mut self, ctx: &Ctx, key: String) -> Result<Ipv4Addr, ScenarioError> {
        self.alloc().ok_or_else(|| {
            ctx.err(
                key,
                self.subnet,
                "the ingress subnet has no free address left",
            )
        })
    }
}

/// Hands out tasks: an ingress address, the next slot of their service and the next
/// docker_gwbridge address of their node.
struct TaskAllocator {
    /// The next docker_gwbridge address of each node.
    gw_next: Vec<u32>,
    /// The last slot given in each service.
    slots: Vec<usize>,
}

impl TaskAllocator {
    fn new(nodes: usize, services: usize) -> TaskAllocator {
        TaskAllocator {
            gw_next: vec![u32::from(SBOX_GW_IP) + 1; nodes],
            slots: vec![0; services],
        }
    }

    /// A new task of `service` on `node`, started by step `step` (`None`: at the start).
    fn task(
        &mut self,
        ctx: &Ctx,
        alloc: &mut Allocator,
        key: String,
        (service, node): (usize, usize),
        step: Option<usize>,
    ) -> Result<Task, ScenarioError> {
        self.slots[service] += 1;
        let ingress_ip = alloc.alloc_for(ctx, key)?;
        let gw_ip = Ipv4Addr::from(self.gw_next[node]);
        self.gw_next[node] += 1;
        Ok(Task {
            service,
            node,
            slot: self.slots[service],
            ingress_ip,
            gw_ip,
            step,
        })
    }

    /// An error when a node has more tasks than docker_gwbridge has addresses.
    fn check_gwbridge(&self, ctx: &Ctx) -> Result<(), ScenarioError> {
        if self
            .gw_next
            .iter()
            .any(|&n| n >= u32::from(Ipv4Addr::new(172, 18, 255, 255)))
        {
            return Err(ctx.err(
                "service",
                "tasks",
                "too many tasks on one node for docker_gwbridge",
            ));
        }
        Ok(())
    }
}

pub fn validate(file: &Path, raw: RawScenario) -> Result<Scenario, ScenarioError> {
    let ctx = Ctx { file, raw: &raw };
    let (subnet, gateway) = ingress_subnet(&ctx)?;
    check_names(&ctx)?;
    let mut alloc = Allocator {
        subnet,
        used: BTreeSet::from([subnet.network(), subnet.broadcast(), gateway]),
        next: u32::from(subnet.network()) + 2,
    };
    let nodes = nodes(&ctx, &mut alloc, gateway)?;
    let mut tasks = TaskAllocator::new(nodes.len(), raw.service.len());
    let (services, initial_tasks) = services(&ctx, &mut alloc, &mut tasks)?;
    let clients = clients(&ctx)?;
    let dird = dird(&ctx, nodes.len())?;
    let mut sc = Scenario {
        file: file.to_path_buf(),
        description: raw.description.clone(),
        subnet,
        gateway,
        nodes,
        services,
        tasks: initial_tasks,
        clients,
        dird,
        expect: Vec::new(),
        steps: Vec::new(),
    };
    steps(&ctx, &mut sc, &mut alloc, &mut tasks)?;
    tasks.check_gwbridge(&ctx)?;
    expectations(&ctx, &mut sc)?;
    Ok(sc)
}

/// The ingress subnet (default [`DEFAULT_SUBNET`]) and its gateway, the first address.
fn ingress_subnet(ctx: &Ctx) -> Result<(Ipv4Net, Ipv4Addr), ScenarioError> {
    let subnet_str = ctx.raw.ingress_subnet.as_deref().unwrap_or(DEFAULT_SUBNET);
    let subnet: Ipv4Net = subnet_str.parse().map_err(|_| {
        ctx.err(
            "ingress_subnet",
            subnet_str,
            "not an IPv4 prefix like 10.0.0.0/24",
        )
    })?;
    if subnet.trunc() != subnet {
        return Err(ctx.err("ingress_subnet", subnet_str, "host bits are set"));
    }
    if subnet.prefix_len() > 29 {
        return Err(ctx.err("ingress_subnet", subnet_str, "too small (at most /29)"));
    }
    Ok((subnet, Ipv4Addr::from(u32::from(subnet.network()) + 1)))
}

/// Names are valid and unique across nodes, services and clients; there are 1 to
/// [`MAX_NODES`] nodes.
fn check_names(ctx: &Ctx) -> Result<(), ScenarioError> {
    let raw = ctx.raw;
    let mut names: HashMap<String, String> = HashMap::new();
    let mut claim = |key: String, name: &str| -> Result<(), ScenarioError> {
        check_name(ctx, &key, name)?;
        if let Some(prev) = names.insert(name.to_string(), key.clone()) {
            return Err(ctx.err(key, name, format!("name already used by {prev}")));
        }
        Ok(())
    };
    for (i, n) in raw.node.iter().enumerate() {
        claim(format!("node[{i}].name"), &n.name)?;
    }
    for (i, s) in raw.service.iter().enumerate() {
        claim(format!("service[{i}].name"), &s.name)?;
    }
    for (i, c) in raw.client.iter().enumerate() {
        claim(format!("client[{i}].name"), &c.name)?;
    }
    if raw.node.is_empty() {
        return Err(ctx.err("node", "[]", "a scenario needs at least one [[node]]"));
    }
    if raw.node.len() > MAX_NODES {
        return Err(ctx.err("node", raw.node.len(), format!("at most {MAX_NODES} nodes")));
    }
    Ok(())
}

/// The nodes: explicit ingress addresses are reserved first, so that allocation skips them.
fn nodes(ctx: &Ctx, alloc: &mut Allocator, gateway: Ipv4Addr) -> Result<Vec<Node>, ScenarioError> {
    let explicit = explicit_node_ips(ctx, alloc, gateway)?;
    let mut nodes = Vec::new();
    for (i, (n, ip)) in ctx.raw.node.iter().zip(explicit).enumerate() {
        let ingress_ip = match ip {
            Some(ip) => ip,
            None => alloc.alloc_for(ctx, format!("node[{i}]"))?,
        };
        nodes.push(Node {
            name: n.name.clone(),
            ingress_ip,
            load_balancer: n.load_balancer,
            public_ip: Ipv4Addr::new(198, 18, 0, 10 + i as u8),
            in_swarm: n.in_swarm.unwrap_or(true),
        });
    }
    Ok(nodes)
}

/// Each node's `ingress_ip`, checked and reserved in `alloc` (`None` where not given).
fn explicit_node_ips(
    ctx: &Ctx,
    alloc: &mut Allocator,
    gateway: Ipv4Addr,
) -> Result<Vec<Option<Ipv4Addr>>, ScenarioError> {
    let subnet = alloc.subnet;
    let mut explicit = Vec::new();
    for (i, n) in ctx.raw.node.iter().enumerate() {
        let key = format!("node[{i}].ingress_ip");
        let Some(s) = &n.ingress_ip else {
            explicit.push(None);
            continue;
        };
        let ip: Ipv4Addr = s
            .parse()
            .map_err(|_| ctx.err(&key, s, "not an IPv4 address"))?;
        if !subnet.contains(&ip) {
            return Err(ctx.err(&key, s, format!("outside the ingress subnet {subnet}")));
        }
        if ip == subnet.network() || ip == subnet.broadcast() {
            return Err(ctx.err(
                &key,
                s,
                "network or broadcast address of the ingress subnet",
            ));
        }
        if ip == gateway {
            return Err(ctx.err(
                &key,
                s,
                format!("{gateway} is the ingress network's gateway"),
            ));
        }
        if !alloc.used.insert(ip) {
            return Err(ctx.err(&key, s, "another node already has this ingress IP"));
        }
        explicit.push(Some(ip));
    }
    Ok(explicit)
}

/// The services and their initial tasks: the VIP, then the tasks, service by service
/// (Docker's order).
fn services(
    ctx: &Ctx,
    alloc: &mut Allocator,
    tasks: &mut TaskAllocator,
) -> Result<(Vec<Service>, Vec<Task>), ScenarioError> {
    let mut services = Vec::new();
    let mut initial = Vec::new();
    let mut seen_ports: HashMap<(u16, Proto), Claim> = HashMap::new();
    for (i, s) in ctx.raw.service.iter().enumerate() {
        if s.publish.is_empty() {
            return Err(ctx.err(
                format!("service[{i}].publish"),
                "[]",
                "a service needs at least one published port",
            ));
        }
        let publish = parse_service_publish(ctx, i, s, &mut seen_ports)?;
        let vip = alloc.alloc_for(ctx, format!("service[{i}]"))?;
        services.push(Service {
            name: s.name.clone(),
            fwmark: FIRST_FWMARK + i as u32,
            vip,
            publish,
        });
        for (j, t) in s.tasks.iter().enumerate() {
            let key = format!("service[{i}].tasks[{j}]");
            let node = ctx.node_idx(key.clone(), t)?;
            initial.push(tasks.task(ctx, alloc, key, (i, node), None)?);
        }
    }
    Ok((services, initial))
}

/// The clients: TEST-NET host addresses, one per client.
fn clients(ctx: &Ctx) -> Result<Vec<Client>, ScenarioError> {
    let mut clients = Vec::new();
    let test_nets: Vec<Ipv4Net> = TEST_NETS.iter().filter_map(|n| n.parse().ok()).collect();
    let mut client_ips = BTreeSet::new();
    for (i, c) in ctx.raw.client.iter().enumerate() {
        let key = format!("client[{i}].ip");
        let ip: Ipv4Addr =
            c.ip.parse()
                .map_err(|_| ctx.err(&key, &c.ip, "not an IPv4 address"))?;
        if !test_nets.iter().any(|n| n.contains(&ip))
            || ip.octets()[3] == 0
            || ip.octets()[3] == 255
        {
            return Err(ctx.err(
                &key,
                &c.ip,
                format!(
                    "clients use TEST-NET host addresses ({})",
                    TEST_NETS.join(", ")
                ),
            ));
        }
        if !client_ips.insert(ip) {
            return Err(ctx.err(&key, &c.ip, "another client already has this IP"));
        }
        clients.push(Client {
            name: c.name.clone(),
            ip,
            ecn: c.ecn,
            tos: c.tos,
        });
    }
    Ok(clients)
}

/// The `[dird]` section: its arguments and its nodes (default: all `node_count`).
fn dird(ctx: &Ctx, node_count: usize) -> Result<Option<Dird>, ScenarioError> {
    let Some(d) = &ctx.raw.dird else {
        return Ok(None);
    };
    let nodes = match &d.nodes {
        None => (0..node_count).collect(),
        Some(list) => {
            let mut v = Vec::new();
            for (j, n) in list.iter().enumerate() {
                let idx = ctx.node_idx(format!("dird.nodes[{j}]"), n)?;
                if v.contains(&idx) {
                    return Err(ctx.err(format!("dird.nodes[{j}]"), n, "listed twice"));
                }
                v.push(idx);
            }
            v
        }
    };
    Ok(Some(Dird {
        args: d.args.clone(),
        nodes,
    }))
}

/// The steps (without their expectations): their tasks are added to `sc.tasks`.
fn steps(
    ctx: &Ctx,
    sc: &mut Scenario,
    alloc: &mut Allocator,
    tasks: &mut TaskAllocator,
) -> Result<(), ScenarioError> {
    for (i, st) in ctx.raw.step.iter().enumerate() {
        let mut add = Vec::new();
        for (j, a) in st.add_tasks.iter().enumerate() {
            let key = format!("step[{i}].add_tasks[{j}]");
            let service = sc
                .services
                .iter()
                .position(|s| s.name == a.service)
                .ok_or_else(|| {
                    ctx.err(
                        format!("{key}.service"),
                        &a.service,
                        "no [[service]] has this name",
                    )
                })?;
            let node = ctx.node_idx(format!("{key}.node"), &a.node)?;
            sc.tasks
                .push(tasks.task(ctx, alloc, key, (service, node), Some(i))?);
            add.push(sc.tasks.len() - 1);
        }
        if st.dird_args.is_some() && sc.dird.is_none() {
            return Err(ctx.err(
                format!("step[{i}].dird_args"),
                format!("{:?}", st.dird_args),
                "needs a [dird] section",
            ));
        }
        let (join, leave) = step_membership(ctx, i, st, sc.dird.is_some())?;
        sc.steps.push(Step {
            description: st.description.clone(),
            add_tasks: add,
            dird_args: st.dird_args.clone(),
            join,
            leave,
            expect: Vec::new(),
        });
    }
    Ok(())
}

/// Step `i`'s `join` and `leave` nodes; they need a `[dird]` section.
fn step_membership(
    ctx: &Ctx,
    i: usize,
    st: &RawStep,
    has_dird: bool,
) -> Result<(Vec<usize>, Vec<usize>), ScenarioError> {
    let mut join = Vec::new();
    for (j, n) in st.join.iter().enumerate() {
        join.push(ctx.node_idx(format!("step[{i}].join[{j}]"), n)?);
    }
    let mut leave = Vec::new();
    for (j, n) in st.leave.iter().enumerate() {
        leave.push(ctx.node_idx(format!("step[{i}].leave[{j}]"), n)?);
    }
    if (!join.is_empty() || !leave.is_empty()) && !has_dird {
        return Err(ctx.err(
            format!("step[{i}].join"),
            format!("{:?} {:?}", st.join, st.leave),
            "needs a [dird] section",
        ));
    }
    Ok((join, leave))
}

/// The top-level expectations, then each step's, validated against the whole scenario.
fn expectations(ctx: &Ctx, sc: &mut Scenario) -> Result<(), ScenarioError> {
    for (i, e) in ctx.raw.expect.iter().enumerate() {
        let ex = validate_expect(ctx, sc, &format!("expect[{i}]"), e)?;
        sc.expect.push(ex);
    }
    for (i, st) in ctx.raw.step.iter().enumerate() {
        for (j, e) in st.expect.iter().enumerate() {
            let ex = validate_expect(ctx, sc, &format!("step[{i}].expect[{j}]"), e)?;
            sc.steps[i].expect.push(ex);
        }
    }
    Ok(())
}

fn validate_expect(
    ctx: &Ctx,
    sc: &Scenario,
    key: &str,
    e: &RawExpect,
) -> Result<Expect, ScenarioError> {
    let (client, from_task) = expect_sender(ctx, sc, key, e)?;
    let node = ctx.node_idx(format!("{key}.node"), &e.node)?;
    let proto = parse_proto(ctx, &format!("{key}.proto"), &e.proto)?;
    let sees = parse_sees(ctx, key, &e.sees)?;
    if sc.service_for_port(e.port, proto).is_none() && sees != Sees::Unreachable {
        return Err(ctx.err(
            format!("{key}.port"),
            e.port,
            format!("no service publishes {}/{proto}", e.port),
        ));
    }
    let reply_via = match &e.reply_via {
        None => None,
        Some(n) => Some(ctx.node_idx(format!("{key}.reply_via"), n)?),
    };
    if reply_via.is_some() && sees == Sees::Unreachable {
        return Err(ctx.err(
            format!("{key}.reply_via"),
            e.reply_via.as_deref().unwrap_or(""),
            "an unreachable port has no reply",
        ));
    }
    if e.ecn.is_some() && proto != Proto::Tcp {
        return Err(ctx.err(
            format!("{key}.ecn"),
            format!("{:?}", e.ecn),
            "ECN is only read on TCP",
        ));
    }
    Ok(Expect {
        client,
        from_task,
        node,
        port: e.port,
        proto,
        sees,
        reply_via,
        ecn: e.ecn,
    })
}

/// Who sends an expectation's request: (client index, None) for a client, (0, Some(task
/// index)) for a task running from the start.
fn expect_sender(
    ctx: &Ctx,
    sc: &Scenario,
    key: &str,
    e: &RawExpect,
) -> Result<(usize, Option<usize>), ScenarioError> {
    match (&e.client, &e.from_task) {
        (Some(c), None) => {
            let i = sc
                .clients
                .iter()
                .position(|x| &x.name == c)
                .ok_or_else(|| {
                    ctx.err(format!("{key}.client"), c, "no [[client]] has this name")
                })?;
            Ok((i, None))
        }
        (None, Some(t)) => {
            let i = (0..sc.tasks.len())
                .find(|&i| &sc.task_name(i) == t)
                .ok_or_else(|| {
                    ctx.err(
                        format!("{key}.from_task"),
                        t,
                        "no task has this name (service.slot)",
                    )
                })?;
            if sc.tasks[i].step.is_some() {
                return Err(ctx.err(
                    format!("{key}.from_task"),
                    t,
                    "a task sending requests must run from the start",
                ));
            }
            Ok((0, Some(i)))
        }
        _ => Err(ctx.err(
            key.to_string(),
            format!("client={:?} from_task={:?}", e.client, e.from_task),
            "give exactly one of client and from_task",
        )),
    }
}

/// An expectation's `sees`.
fn parse_sees(ctx: &Ctx, key: &str, sees: &str) -> Result<Sees, ScenarioError> {
    match sees {
        "client" => Ok(Sees::Client),
        "masquerade" => Ok(Sees::Masquerade),
        "unreachable" => Ok(Sees::Unreachable),
        other => Err(ctx.err(
            format!("{key}.sees"),
            other,
            "expected client, masquerade or unreachable",
        )),
    }
}
