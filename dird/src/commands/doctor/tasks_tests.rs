use super::*;
use crate::apply::NsPlan;
use crate::discovery::{LbEntry, LbSource};
use crate::plan::{task_plan, Ingress, PolicyRule, TaskIngress};

fn reading() -> TaskReading {
    let ingress = Ingress {
        subnet: "10.0.0.0/24".parse().expect("net"),
        node_ip: "10.0.0.2".parse().expect("ip"),
    };
    let lbs = LbSource::Explicit(vec![LbEntry::Ip("10.0.0.2".parse().expect("ip"))])
        .assign(ingress, &[], false, Default::default())
        .expect("lbs")
        .lbs;
    let task = TaskIngress {
        iface: "eth0".into(),
        addr: "10.0.0.7".parse().expect("ip"),
        udp_ports: Vec::new(),
    };
    let p = task_plan(&lbs, &ingress, &task);
    TaskReading {
        interface: "eth0".into(),
        addr: task.addr,
        plan: NsPlan {
            iptables: p.iptables,
            routing: Some(p.routing),
            sysctls: p.sysctls.clone(),
        },
        iptables: IptablesState::default(),
        routing: RoutingState::default(),
        sysctls: p
            .sysctls
            .into_iter()
            .map(|s| (s, Some("0".into())))
            .collect(),
    }
}

/// `r` as it is once the daemon has configured the task.
fn configured(mut r: TaskReading) -> TaskReading {
    let text: String = render_sync(&r.plan.iptables, &r.iptables)
        .iter()
        .map(|b| b.text.clone())
        .collect();
    r.iptables.replay(&text).expect("replay");
    r.routing = r.plan.routing.clone().expect("routing");
    r
}

#[test]
fn a_task_without_dirds_rules_drifts_and_a_configured_one_does_not() {
    let bare = reading();
    let what = drift(&bare).expect("drift");
    assert_eq!(
        what,
        "iptables table(s) mangle to change; 2 policy rule(s)/route(s) to add, 0 to remove"
    );
    assert_eq!(drift(&configured(reading())), None);
}

#[test]
fn the_original_daemons_rules_are_found_and_not_counted_as_drift() {
    let mut r = configured(reading());
    r.iptables
            .replay(
                "*mangle\n-A OUTPUT -m comment --comment docker-ingress-routing-daemon\n\
                 -A PREROUTING -m tos --tos 0x05/0xff -j CONNMARK --set-xmark 0x5/0xffffffff\nCOMMIT\n",
            )
            .expect("replay");
    r.routing.rules.push(PolicyRule {
        priority: 32700,
        from: "10.0.0.0/24".parse().expect("net"),
        fwmark: 5,
        mask: u32::MAX,
        table: 5,
    });
    assert_eq!(drift(&r), None);
    let found = legacy_rules(&legacy::task_rules(), &r.iptables, Some(&r.routing));
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found.contains(&"rule from 10.0.0.0/24 fwmark 0x5 lookup 5 priority 32700".to_string()));
    // Without the original's marker, a similar mangle rule is someone else's.
    let mut other = configured(reading());
    other
            .iptables
            .replay("*mangle\n-A PREROUTING -m tos --tos 0x05/0xff -j CONNMARK --set-xmark 0x5/0xffffffff\nCOMMIT\n")
            .expect("replay");
    assert_eq!(
        legacy_rules(&legacy::task_rules(), &other.iptables, None),
        Vec::<String>::new()
    );
}

#[test]
fn strict_rp_filter_is_named() {
    let mut r = configured(reading());
    assert!(strict_rp_filter(&r).is_empty());
    for (s, v) in &mut r.sysctls {
        if s.key() == "net.ipv4.conf.eth0.rp_filter" {
            *v = Some("1".into());
        }
    }
    assert_eq!(strict_rp_filter(&r), ["net.ipv4.conf.eth0.rp_filter=1"]);
    let lines = judge_task("task 8dbf715e75e5 (service web)", &r, true);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].to_string().starts_with("FINDING: task 8dbf715e75e5 (service web): strict reverse-path filtering (net.ipv4.conf.eth0.rp_filter=1)"));
}
