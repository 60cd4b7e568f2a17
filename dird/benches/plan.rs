//! Plan computation alone (no I/O): a task's plan and an sbox's plan, and rendering them as
//! `iptables-restore` input. Part of `just bench`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, Criterion};
use dird::config::{PortSpec, RuleConfig};
use dird::plan::{lb_plan, render_sync, task_plan, Ingress, IptablesState, TaskIngress};

fn config(lbs: usize) -> (RuleConfig, Ingress) {
    let (rules, ingress) = common::bench_rules(lbs);
    let rules = RuleConfig {
        tcp_ports: (8000..8020).map(PortSpec::Single).collect(),
        udp_ports: vec![PortSpec::Single(53)],
        ..rules
    };
    (
        rules,
        Ingress {
            node_ip: Ipv4Addr::new(10, 0, 1, 1),
            ..ingress
        },
    )
}

fn bench(c: &mut Criterion) {
    for lbs in [16usize, 255] {
        let (rules, ingress) = config(lbs);
        let set = rules
            .lbs
            .assign(ingress, &[], rules.indexed_ids, rules.id_encoding)
            .unwrap()
            .lbs;
        let task = TaskIngress {
            iface: "eth0".into(),
            addr: Ipv4Addr::new(10, 0, 0, 9),
            udp_ports: vec![53],
        };
        c.bench_function(&format!("task plan + render, {lbs} LBs"), |b| {
            b.iter(|| {
                let p = task_plan(black_box(&set), &ingress, &task);
                black_box(render_sync(&p.iptables, &IptablesState::default()))
            })
        });
        let id = set.members[0].id;
        c.bench_function(&format!("sbox plan + render, {lbs} LBs, 21 ports"), |b| {
            b.iter(|| {
                let p = lb_plan(black_box(&rules), &ingress, id, &[]);
                black_box(render_sync(&p.iptables, &IptablesState::default()))
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
