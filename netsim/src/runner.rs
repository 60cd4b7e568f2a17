//! Running a scenario: build the topology, call dird's hook where the scenario asks, probe
//! every expectation, print one PASS/FAIL line each.

use std::io::Write;
use std::net::SocketAddrV4;

use crate::dird_hook::{self, NodeFacts, ServicePorts, TaskFacts};
use crate::probe::{self, Outcome};
use crate::scenario::{Dird, Expect, Scenario, Sees, Step};
use crate::snapshot;
use crate::topology::Topology;
use crate::Error;

#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
}

/// A node's facts with every node that starts in the swarm listed in the view.
pub(crate) fn node_facts(topo: &Topology, node: usize) -> NodeFacts {
    node_facts_in(
        topo,
        node,
        &topo.sc.nodes.iter().map(|n| n.in_swarm).collect::<Vec<_>>(),
    )
}

/// `in_swarm`: which nodes the swarm's view lists (changed by steps' `join`/`leave`).
fn node_facts_in(topo: &Topology, node: usize, in_swarm: &[bool]) -> NodeFacts {
    let sc = &topo.sc;
    let n = &sc.nodes[node];
    let tasks = (0..sc.tasks.len())
        .filter(|&i| sc.tasks[i].node == node)
        .filter_map(|i| topo.tasks[i].as_ref().map(|p| (i, p)))
        .map(|(i, p)| task_facts(sc, i, p.clone()))
        .collect();
    NodeFacts {
        node: n.name.clone(),
        ingress_subnet: sc.subnet,
        node_ingress_ip: n.ingress_ip,
        load_balancer: n.load_balancer,
        load_balancer_ips: sc.load_balancer_ips(),
        sbox_netns: topo.nodes[node].sbox.clone(),
        tasks,
        published: sc
            .services
            .iter()
            .map(|s| ServicePorts {
                service: s.name.clone(),
                tcp: s
                    .publish
                    .iter()
                    .filter(|p| p.proto == crate::scenario::Proto::Tcp)
                    .map(|p| p.published)
                    .collect(),
                udp: s
                    .publish
                    .iter()
                    .filter(|p| p.proto == crate::scenario::Proto::Udp)
                    .map(|p| p.published)
                    .collect(),
            })
            .collect(),
        swarm: sc
            .nodes
            .iter()
            .zip(in_swarm)
            .filter(|(_, on)| **on)
            .map(|(n, _)| (n.ingress_ip, n.public_ip))
            .collect(),
    }
}

fn task_facts(sc: &Scenario, i: usize, netns: std::path::PathBuf) -> TaskFacts {
    let service = &sc.services[sc.tasks[i].service];
    TaskFacts {
        service: service.name.clone(),
        name: sc.task_name(i),
        netns,
    }
}

fn hook(r: Result<(), dird_hook::HookError>) -> Result<(), Error> {
    r.map_err(|e| Error::Dird(e.to_string()))
}

/// One evaluated expectation.
struct Verdict {
    pass: bool,
    line: String,
}

/// The probe returns once every packet of the task's answer went through the load balancer
/// (for TCP the ACK of our FIN too), and the counters are read live: `via` is every sandbox
/// that carried a reply packet of this probe.
fn evaluate(
    topo: &Topology,
    label: &str,
    e: &Expect,
    before: &mut Vec<u64>,
) -> Result<Verdict, Error> {
    let sc = topo.sc.clone();
    let node = &sc.nodes[e.node];
    let dst = SocketAddrV4::new(node.public_ip, e.port);
    let (src_name, src_ip, outcome) = send_probe(topo, &sc, e, dst)?;
    let after = topo.outpkts()?;
    let via: Vec<&str> = after
        .iter()
        .zip(before.iter())
        .enumerate()
        .filter(|(_, (a, b))| a > b)
        .map(|(i, _)| sc.nodes[i].name.as_str())
        .collect();
    *before = after;

    let (seen, seen_detail, ecn) = classify(&outcome, src_ip, node.ingress_ip, dst);
    let mut pass = seen == Some(e.sees);
    let mut expected = format!("sees={}", e.sees.as_str());
    let mut got = format!(
        "sees={} ({seen_detail})",
        seen.map_or("other", Sees::as_str)
    );
    if let Some(r) = e.reply_via {
        let want = sc.nodes[r].name.as_str();
        pass &= via == [want];
        expected.push_str(&format!(" reply_via={want}"));
    }
    got.push_str(&format!(
        " reply_via={}",
        if via.is_empty() {
            "none".to_string()
        } else {
            via.join(",")
        }
    ));
    if let Some(want) = e.ecn {
        pass &= ecn == Some(want);
        expected.push_str(&format!(" ecn={want}"));
        got.push_str(&format!(
            " ecn={}",
            ecn.map_or("-".to_string(), |b| b.to_string())
        ));
    }
    let what = format!("{} -> {}:{}/{}", src_name, node.name, e.port, e.proto);
    let line = format!(
        "{} {label} {what}: expected {expected}; seen {got}",
        if pass { "PASS" } else { "FAIL" }
    );
    Ok(Verdict { pass, line })
}

/// Who sends the request of `e` to `dst` — a client, or a task connecting out through the
/// ingress — and what it got: (sender's name, the address the task should see, outcome).
fn send_probe(
    topo: &Topology,
    sc: &Scenario,
    e: &Expect,
    dst: SocketAddrV4,
) -> Result<(String, std::net::Ipv4Addr, Outcome), Error> {
    match e.from_task {
        Some(t) => {
            let ns = topo.tasks[t]
                .clone()
                .ok_or_else(|| Error::Dird(format!("task {} is not running", sc.task_name(t))))?;
            Ok((
                sc.task_name(t),
                sc.tasks[t].gw_ip,
                probe::probe(&ns, dst, e.proto, 0)?,
            ))
        }
        None => {
            let c = &sc.clients[e.client];
            Ok((
                c.name.clone(),
                c.ip,
                probe::probe(&topo.clients[e.client], dst, e.proto, c.tos)?,
            ))
        }
    }
}

/// What the answering task saw as the source (client, masquerade, unreachable, or `None`
/// for something else), a detail for the line, and the ECN flag it read.
fn classify(
    outcome: &Outcome,
    src_ip: std::net::Ipv4Addr,
    ingress_ip: std::net::Ipv4Addr,
    dst: SocketAddrV4,
) -> (Option<Sees>, String, Option<bool>) {
    match outcome {
        Outcome::Answer(a) if a.peer == src_ip => (
            Some(Sees::Client),
            format!("{} from task {}", a.peer, a.task),
            Some(a.ecn),
        ),
        Outcome::Answer(a) if a.peer == ingress_ip => (
            Some(Sees::Masquerade),
            format!("{} from task {}", a.peer, a.task),
            Some(a.ecn),
        ),
        Outcome::Answer(a) => (
            None,
            format!("other address {} from task {}", a.peer, a.task),
            Some(a.ecn),
        ),
        Outcome::Unreachable(why) => (Some(Sees::Unreachable), why.clone(), None),
        Outcome::WrongSource { from, answer } => (
            None,
            format!("answer from {from}, not {dst}: {}", answer.trim()),
            None,
        ),
    }
}

/// Run one scenario; `run` makes the namespace prefix unique within this process.
pub fn run_scenario(sc: &Scenario, run: usize, out: &mut dyn Write) -> Result<Tally, Error> {
    let file = sc.file.display().to_string();
    tracing::info!("{file}: building topology");
    let topo = Topology::build(sc, run)?;
    let mut r = Run {
        sc,
        file,
        topo,
        before_dird: Vec::new(),
        in_swarm: sc.nodes.iter().map(|n| n.in_swarm).collect(),
        args: sc.dird.as_ref().map(|d| d.args.clone()).unwrap_or_default(),
        before: Vec::new(),
        tally: Tally::default(),
        out,
    };
    r.start_dird()?;
    r.before = r.topo.outpkts()?;
    for (i, e) in sc.expect.iter().enumerate() {
        r.evaluate(&format!("expect[{i}]"), e)?;
    }
    for (s, step) in sc.steps.iter().enumerate() {
        r.step(s, step)?;
    }
    r.uninstall_dird()?;
    r.topo.teardown();
    Ok(r.tally)
}

/// One run of a scenario: its topology, the swarm's view as dird sees it, the verdicts so far.
struct Run<'a> {
    sc: &'a Scenario,
    file: String,
    topo: Topology,
    /// Every namespace dird will touch, as it was before dird: uninstall must give it back.
    before_dird: Vec<(std::path::PathBuf, String)>,
    /// Whether each node is in the swarm's view (steps' `join` and `leave`).
    in_swarm: Vec<bool>,
    /// dird's arguments: `[dird].args`, then the last step's `dird_args`.
    args: Vec<String>,
    /// The sandboxes' IPVS reply counters after the last expectation.
    before: Vec<u64>,
    tally: Tally,
    out: &'a mut dyn Write,
}

impl Run<'_> {
    fn facts(&self, node: usize) -> NodeFacts {
        node_facts_in(&self.topo, node, &self.in_swarm)
    }

    /// Counts and prints one verdict.
    fn report(&mut self, v: Verdict) {
        if v.pass {
            self.tally.passed += 1;
        } else {
            self.tally.failed += 1;
        }
        let _ = writeln!(self.out, "{}", v.line);
        let _ = self.out.flush();
    }

    /// Probes expectation `e` (`key`: where the scenario file has it) and reports it.
    fn evaluate(&mut self, key: &str, e: &Expect) -> Result<(), Error> {
        let label = format!("{} {key}", self.file);
        let v = evaluate(&self.topo, &label, e, &mut self.before)?;
        self.report(v);
        Ok(())
    }

    /// dird starts on each of its nodes, after the namespaces it will touch are remembered.
    fn start_dird(&mut self) -> Result<(), Error> {
        let Some(d) = &self.sc.dird else {
            return Ok(());
        };
        for &n in &d.nodes {
            let f = self.facts(n);
            remember(
                &mut self.before_dird,
                std::iter::once(f.sbox_netns.clone())
                    .chain(f.tasks.iter().map(|t| t.netns.clone())),
            )?;
        }
        for &n in &d.nodes {
            hook(dird_hook::configure_node(&self.facts(n), &d.args))?;
        }
        Ok(())
    }

    /// Step `s`: its tasks start, dird hears of them and of changes to its arguments and the
    /// swarm's view, then its expectations are probed.
    fn step(&mut self, s: usize, step: &Step) -> Result<(), Error> {
        if let Some(desc) = &step.description {
            tracing::info!("{} step[{s}]: {desc}", self.file);
        }
        for &t in &step.add_tasks {
            self.topo.start_task(t)?;
        }
        if let Some(d) = &self.sc.dird {
            self.tasks_started(d, step)?;
            self.reconfigure(d, step)?;
        }
        for (i, e) in step.expect.iter().enumerate() {
            self.evaluate(&format!("step[{s}].expect[{i}]"), e)?;
        }
        Ok(())
    }

    /// dird on each node that got tasks in `step` configures them.
    fn tasks_started(&mut self, d: &Dird, step: &Step) -> Result<(), Error> {
        let sc = self.sc;
        for &n in &d.nodes {
            let new: Vec<TaskFacts> = step
                .add_tasks
                .iter()
                .filter(|&&t| sc.tasks[t].node == n)
                .filter_map(|&t| self.topo.tasks[t].clone().map(|p| task_facts(sc, t, p)))
                .collect();
            if !new.is_empty() {
                remember(&mut self.before_dird, new.iter().map(|t| t.netns.clone()))?;
                hook(dird_hook::tasks_started(&self.facts(n), &new, &self.args))?;
            }
        }
        Ok(())
    }

    /// Applies `step`'s `join`, `leave` and `dird_args`; when the arguments or the swarm's
    /// view changed, dird reconciles every node: what the daemon does on SIGHUP, and with
    /// `auto` when the swarm's view changes.
    fn reconfigure(&mut self, d: &Dird, step: &Step) -> Result<(), Error> {
        let mut view_changed = false;
        for &n in &step.join {
            view_changed |= !std::mem::replace(&mut self.in_swarm[n], true);
        }
        for &n in &step.leave {
            view_changed |= std::mem::replace(&mut self.in_swarm[n], false);
        }
        if let Some(new_args) = &step.dird_args {
            self.args = new_args.clone();
        }
        if step.dird_args.is_some() || view_changed {
            for &n in &d.nodes {
                hook(dird_hook::reconfigure(&self.facts(n), &self.args))?;
            }
        }
        Ok(())
    }

    /// `dird --uninstall` on each of dird's nodes, then one verdict: every namespace dird
    /// touched is as it was before dird.
    fn uninstall_dird(&mut self) -> Result<(), Error> {
        let Some(d) = &self.sc.dird else {
            return Ok(());
        };
        for &n in &d.nodes {
            hook(dird_hook::uninstall_node(&self.facts(n)))?;
        }
        let mut diffs = Vec::new();
        for (ns, before) in &self.before_dird {
            let after = snapshot::take(ns)?;
            if &after != before {
                diffs.push(format!(
                    "{}: {}",
                    ns.display(),
                    snapshot::first_difference(before, &after)
                ));
            }
        }
        let file = &self.file;
        let line = if diffs.is_empty() {
            format!("PASS {file} uninstall: iptables-save, ip -4 rule and ip -4 route of {} namespaces identical to before dird", self.before_dird.len())
        } else {
            format!("FAIL {file} uninstall: {}", diffs.join("; "))
        };
        self.report(Verdict {
            pass: diffs.is_empty(),
            line,
        });
        Ok(())
    }
}

/// The twin of a scenario with `[dird]`: the same topology and probes without dird, where every
/// `sees = "client"` must show `masquerade` instead. It proves that the probes can fail: the
/// client IP is seen only because dird runs.
pub fn twin(sc: &Scenario) -> Option<Scenario> {
    sc.dird.as_ref()?;
    let mut t = sc.clone();
    t.dird = None;
    t.file = std::path::PathBuf::from(format!("{} [twin without dird]", sc.file.display()));
    // ECN outcomes depend on dird's encoding, not on the masquerade: the twin does not check them.
    let flip = |e: &mut Expect| {
        if e.sees == Sees::Client {
            e.sees = Sees::Masquerade;
        }
        e.ecn = None;
    };
    t.expect.iter_mut().for_each(flip);
    for step in &mut t.steps {
        step.dird_args = None;
        step.join.clear();
        step.leave.clear();
        step.expect.iter_mut().for_each(flip);
    }
    Some(t)
}

fn remember(
    into: &mut Vec<(std::path::PathBuf, String)>,
    namespaces: impl Iterator<Item = std::path::PathBuf>,
) -> Result<(), Error> {
    for ns in namespaces {
        if !into.iter().any(|(p, _)| *p == ns) {
            let snap = snapshot::take(&ns)?;
            into.push((ns, snap));
        }
    }
    Ok(())
}
