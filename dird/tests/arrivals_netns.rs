//! The watch for new namespaces (root): namespaces bind-mounted into a scratch folder as
//! Docker mounts its sandboxes, addressed the way Docker 28 does it (the namespace first,
//! then the ingress veth moved in, addressed, brought up). Only an address seen arriving in a
//! namespace watched from its creation is reported, the first one only.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::Netns;
use dird::netns::arrivals::{Arrival, Arrivals};

/// `ns` bind-mounted at `dir/name` (unmounted and removed on drop).
struct Mount {
    ns: Netns,
    at: PathBuf,
}

impl Mount {
    fn new(ns: Netns, dir: &Path, name: &str) -> Mount {
        let at = dir.join(name);
        std::fs::write(&at, b"").expect("mount point");
        let ok = Command::new("mount")
            .args(["--bind", &ns.path().display().to_string()])
            .arg(&at)
            .status()
            .expect("mount")
            .success();
        assert!(ok, "bind-mount {}", ns.name);
        Mount { ns, at }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.at).status();
        let _ = std::fs::remove_file(&self.at);
    }
}

/// Gives `ns` an interface `eth0` with `addr` and brings it up, as Docker joins a network.
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

fn next(rt: &tokio::runtime::Runtime, a: &mut Arrivals) -> Arrival {
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), a.next())
            .await
            .expect("an arrival within 20 s")
            .expect("the watch runs")
    })
}

#[test]
fn only_addresses_seen_arriving_in_new_namespaces_are_reported_the_first_one_only() {
    common::require_root();
    let dir = std::env::temp_dir().join(format!("dird-arrivals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let subnet = "10.0.0.0/24".parse().expect("subnet");

    // Before the watch: a namespace that later gets an address. It is not new.
    let old = Mount::new(Netns::new("arr-old"), &dir, "aaaaaaaaaaaa");
    let mut arrivals = {
        let _in = rt.enter();
        Arrivals::start(&dir, subnet, dird::docker::valid_container_id).expect("watch")
    };
    join(&old.ns, "eth0", "10.0.0.20/24");

    // A name that is not a sandbox's, and a namespace mounted with its address already in
    // place: neither is reported.
    let _lb = Mount::new(
        Netns::task("arr-lb", "eth0", "10.0.0.30/24"),
        &dir,
        "lb_s0xbp07qme",
    );
    let _had = Mount::new(
        Netns::task("arr-had", "eth0", "10.0.0.31/24"),
        &dir,
        "bbbbbbbbbbbb",
    );

    // Docker 28's order: the namespace, then the gwbridge's address, then the ingress's, then
    // a container that adds another address of the subnet.
    let task = Mount::new(Netns::new("arr-task"), &dir, "cccccccccccc");
    join(&task.ns, "eth1", "172.18.0.4/16");
    join(&task.ns, "eth0", "10.0.0.6/24");
    task.ns.ip(&["addr", "add", "10.0.0.7/32", "dev", "lo"]);
    let got = next(&rt, &mut arrivals);
    assert_eq!(
        got,
        Arrival {
            netns: dir.join("cccccccccccc"),
            ip: "10.0.0.6".parse().expect("ip"),
        },
        "the first arrival is the task's own first ingress address"
    );

    // A second new namespace: reported too, and nothing of the others came before it.
    let later = Mount::new(Netns::new("arr-later"), &dir, "dddddddddddd");
    join(&later.ns, "eth0", "10.0.0.8/24");
    assert_eq!(next(&rt, &mut arrivals).netns, dir.join("dddddddddddd"));
    // Nothing else: not the old namespace's, the pre-addressed one's, nor a second address.
    let more =
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(1), arrivals.next()).await });
    assert!(more.is_err(), "unexpected arrival: {more:?}");

    drop(arrivals);
    drop((old, task, later, _lb, _had));
    let _ = std::fs::remove_dir_all(&dir);
}
