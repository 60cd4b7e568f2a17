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
}

impl Ctx<'_> {
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
}

pub fn validate(file: &Path, raw: RawScenario) -> Result<Scenario, ScenarioError> {
    let ctx = Ctx { file };
    let subnet_str = raw.ingress_subnet.as_deref().unwrap_or(DEFAULT_SUBNET);
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
    let gateway = Ipv4Addr::from(u32::from(subnet.network()) + 1);

    // Names are unique across nodes, services and clients.
    let mut names: HashMap<String, String> = HashMap::new();
    let mut claim = |key: String, name: &str| -> Result<(), ScenarioError> {
        check_name(&ctx, &key, name)?;
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

    let node_idx = |key: String, name: &str| -> Result<usize, ScenarioError> {
        raw.node
            .iter()
            .position(|n| n.name == name)
            .ok_or_else(|| ctx.err(key, name, "no [[node]] has this name"))
    };

    // Explicit node addresses first, so allocation skips them.
    let mut alloc = Allocator {
        subnet,
        used: BTreeSet::from([subnet.network(), subnet.broadcast(), gateway]),
        next: u32::from(subnet.network()) + 2,
    };
    let mut explicit: Vec<Option<Ipv4Addr>> = Vec::new();
    for (i, n) in raw.node.iter().enumerate() {
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
    let full = |key: String| ctx.err(key, subnet, "the ingress subnet has no free address left");
    let mut nodes = Vec::new();
    for (i, (n, ip)) in raw.node.iter().zip(explicit).enumerate() {
        let ingress_ip = match ip {
            Some(ip) => ip,
            None => alloc.alloc().ok_or_else(|| full(format!("node[{i}]")))?,
        };
        nodes.push(Node {
            name: n.name.clone(),
            ingress_ip,
            load_balancer: n.load_balancer,
            public_ip: Ipv4Addr::new(198, 18, 0, 10 + i as u8),
            in_swarm: n.in_swarm.unwrap_or(true),
        });
    }

    // Services: VIP, then the initial tasks, service by service (Docker's order).
    let mut gw_next: Vec<u32> = vec![u32::from(SBOX_GW_IP) + 1; nodes.len()];
    let mut slots: Vec<usize> = vec![0; raw.service.len()];
    let mut services = Vec::new();
    let mut tasks = Vec::new();
    let mut seen_ports: HashMap<(u16, Proto), Claim> = HashMap::new();
    for (i, s) in raw.service.iter().enumerate() {
        if s.publish.is_empty() {
            return Err(ctx.err(
                format!("service[{i}].publish"),
                "[]",
                "a service needs at least one published port",
            ));
        }
        let publish = parse_service_publish(&ctx, i, s, &mut seen_ports)?;
        let vip = alloc.alloc().ok_or_else(|| full(format!("service[{i}]")))?;
        services.push(Service {
            name: s.name.clone(),
            fwmark: FIRST_FWMARK + i as u32,
            vip,
            publish,
        });
        for (j, t) in s.tasks.iter().enumerate() {
            let key = format!("service[{i}].tasks[{j}]");
            let node = node_idx(key.clone(), t)?;
            slots[i] += 1;
            let ingress_ip = alloc.alloc().ok_or_else(|| full(key))?;
            let gw_ip = Ipv4Addr::from(gw_next[node]);
            gw_next[node] += 1;
            tasks.push(Task {
                service: i,
                node,
                slot: slots[i],
                ingress_ip,
                gw_ip,
                step: None,
            });
        }
    }

    let mut clients = Vec::new();
    let test_nets: Vec<Ipv4Net> = TEST_NETS.iter().filter_map(|n| n.parse().ok()).collect();
    let mut client_ips = BTreeSet::new();
    for (i, c) in raw.client.iter().enumerate() {
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

    let dird = match &raw.dird {
        None => None,
        Some(d) => {
            let nodes = match &d.nodes {
                None => (0..nodes.len()).collect(),
                Some(list) => {
                    let mut v = Vec::new();
                    for (j, n) in list.iter().enumerate() {
                        let idx = node_idx(format!("dird.nodes[{j}]"), n)?;
                        if v.contains(&idx) {
                            return Err(ctx.err(format!("dird.nodes[{j}]"), n, "listed twice"));
                        }
                        v.push(idx);
                    }
                    v
                }
            };
            Some(Dird {
                args: d.args.clone(),
                nodes,
            })
        }
    };

    let mut sc = Scenario {
        file: file.to_path_buf(),
        description: raw.description.clone(),
        subnet,
        gateway,
        nodes,
        services,
        tasks,
        clients,
        dird,
        expect: Vec::new(),
        steps: Vec::new(),
    };

    for (i, st) in raw.step.iter().enumerate() {
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
            let node = node_idx(format!("{key}.node"), &a.node)?;
            slots[service] += 1;
            let ingress_ip = alloc.alloc().ok_or_else(|| full(key))?;
            let gw_ip = Ipv4Addr::from(gw_next[node]);
            gw_next[node] += 1;
            sc.tasks.push(Task {
                service,
                node,
                slot: slots[service],
                ingress_ip,
                gw_ip,
                step: Some(i),
            });
            add.push(sc.tasks.len() - 1);
        }
        if st.dird_args.is_some() && sc.dird.is_none() {
            return Err(ctx.err(
                format!("step[{i}].dird_args"),
                format!("{:?}", st.dird_args),
                "needs a [dird] section",
            ));
        }
        let mut join = Vec::new();
        for (j, n) in st.join.iter().enumerate() {
            join.push(node_idx(format!("step[{i}].join[{j}]"), n)?);
        }
        let mut leave = Vec::new();
        for (j, n) in st.leave.iter().enumerate() {
            leave.push(node_idx(format!("step[{i}].leave[{j}]"), n)?);
        }
        if (!join.is_empty() || !leave.is_empty()) && sc.dird.is_none() {
            return Err(ctx.err(
                format!("step[{i}].join"),
                format!("{:?} {:?}", st.join, st.leave),
                "needs a [dird] section",
            ));
        }
        sc.steps.push(Step {
            description: st.description.clone(),
            add_tasks: add,
            dird_args: st.dird_args.clone(),
            join,
            leave,
            expect: Vec::new(),
        });
    }
    if gw_next
        .iter()
        .any(|&n| n >= u32::from(Ipv4Addr::new(172, 18, 255, 255)))
    {
        return Err(ctx.err(
            "service",
            "tasks",
            "too many tasks on one node for docker_gwbridge",
        ));
    }

    let expects: Vec<(String, &RawExpect)> = raw
        .expect
        .iter()
        .enumerate()
        .map(|(i, e)| (format!("expect[{i}]"), e))
        .chain(raw.step.iter().enumerate().flat_map(|(i, st)| {
            st.expect
                .iter()
                .enumerate()
                .map(move |(j, e)| (format!("step[{i}].expect[{j}]"), e))
        }))
        .collect();
    for (key, e) in expects {
        let ex = validate_expect(&ctx, &sc, &key, e, &raw)?;
        match key
            .strip_prefix("step[")
            .and_then(|r| r.split_once(']'))
            .and_then(|(n, _)| n.parse::<usize>().ok())
        {
            Some(step) => sc.steps[step].expect.push(ex),
            None => sc.expect.push(ex),
        }
    }
    Ok(sc)
}

fn validate_expect(
    ctx: &Ctx,
    sc: &Scenario,
    key: &str,
    e: &RawExpect,
    raw: &RawScenario,
) -> Result<Expect, ScenarioError> {
    let (client, from_task) = match (&e.client, &e.from_task) {
        (Some(c), None) => {
            let i = sc
                .clients
                .iter()
                .position(|x| &x.name == c)
                .ok_or_else(|| {
                    ctx.err(format!("{key}.client"), c, "no [[client]] has this name")
                })?;
            (i, None)
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
            (0, Some(i))
        }
        _ => {
            return Err(ctx.err(
                key.to_string(),
                format!("client={:?} from_task={:?}", e.client, e.from_task),
                "give exactly one of client and from_task",
            ))
        }
    };
    let node = raw
        .node
        .iter()
        .position(|n| n.name == e.node)
        .ok_or_else(|| ctx.err(format!("{key}.node"), &e.node, "no [[node]] has this name"))?;
    let proto = parse_proto(ctx, &format!("{key}.proto"), &e.proto)?;
    let sees = match e.sees.as_str() {
        "client" => Sees::Client,
        "masquerade" => Sees::Masquerade,
        "unreachable" => Sees::Unreachable,
        other => {
            return Err(ctx.err(
                format!("{key}.sees"),
                other,
                "expected client, masquerade or unreachable",
            ))
        }
    };
    if sc.service_for_port(e.port, proto).is_none() && sees != Sees::Unreachable {
        return Err(ctx.err(
            format!("{key}.port"),
            e.port,
            format!("no service publishes {}/{proto}", e.port),
        ));
    }
    let reply_via =
        match &e.reply_via {
            None => None,
            Some(n) => Some(raw.node.iter().position(|x| &x.name == n).ok_or_else(|| {
                ctx.err(format!("{key}.reply_via"), n, "no [[node]] has this name")
            })?),
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
