use std::path::{Path, PathBuf};

use super::*;

fn load(args: &[&str]) -> Config {
    let argv: Vec<String> = std::iter::once("dird")
        .chain(args.iter().copied())
        .map(String::from)
        .collect();
    config::load(&argv, None).expect("configuration")
}

/// A directory that passes for a sysctl tree (`--sysctl-root` checks for rp_filter).
fn sysctl_tree(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dird-{name}-{}", std::process::id()));
    let conf = dir.join("net/ipv4/conf/all");
    std::fs::create_dir_all(&conf).expect("tree");
    std::fs::write(conf.join("rp_filter"), "2\n").expect("rp_filter");
    dir
}

#[test]
fn a_changed_sysctl_root_is_applied_and_said_once() {
    let tree = sysctl_tree("reload-root");
    let old = load(&["--install"]);
    let new = load(&["--install", "--sysctl-root", tree.to_str().expect("utf-8")]);
    let (cfg, notes) = reloaded(&old, new);
    assert_eq!(cfg.sysctl_root, tree);
    assert_eq!(
        notes,
        [Note::SysctlRoot {
            from: PathBuf::from("/proc/sys"),
            to: tree.clone(),
        }]
    );
    let line = notes[0].to_string();
    assert!(line.contains(tree.to_str().expect("utf-8")), "{line}");
    std::fs::remove_dir_all(&tree).expect("cleaned");
}

#[test]
fn a_changed_metrics_address_is_refused_with_one_line_asking_for_a_restart() {
    let old = load(&["--install", "--metrics-addr", "127.0.0.1:9477"]);
    let new = load(&[
        "--install",
        "--metrics-addr",
        "0.0.0.0:9478",
        "--public-status",
        "--resync-interval",
        "5",
    ]);
    let (cfg, notes) = reloaded(&old, new);
    assert_eq!(cfg.metrics_addr, Some("127.0.0.1:9477".parse().unwrap()));
    assert!(!cfg.public_status, "the server's /status clients stay");
    assert_eq!(cfg.resync_interval.as_secs(), 5, "the rest is taken");
    let lines: Vec<String> = notes.iter().map(Note::to_string).collect();
    assert_eq!(
        lines,
        [
            "--metrics-addr changed from 127.0.0.1:9477 to 0.0.0.0:9478: not applied, it needs \
                 a restart of dird (until then 127.0.0.1:9477 stays in force)",
            "--public-status changed from off to on: not applied, it needs a restart of dird \
                 (until then off stays in force)",
        ]
    );
    // Turning the server on (or off) is a change of address too.
    let (cfg, notes) = reloaded(&load(&["--install"]), old);
    assert_eq!(cfg.metrics_addr, None);
    assert!(notes[0].to_string().contains("from none to 127.0.0.1:9477"));
}

#[test]
fn an_unchanged_configuration_says_nothing_more() {
    let old = load(&["--install", "--metrics-addr", "127.0.0.1:9477"]);
    let (cfg, notes) = reloaded(&old, old.clone());
    assert_eq!((cfg, notes), (old, Vec::new()));
    // The same tree written another way is the same tree.
    let (_, notes) = reloaded(
        &load(&["--install"]),
        load(&["--install", "--sysctl-root", "/proc/sys/"]),
    );
    assert_eq!(notes, []);
}

/// SIGHUP end to end, without a daemon: the `--config` file is read again, the rebuild
/// builds from it, and once it fitted it is in force with the new sysctl root and the old
/// metrics address; a rebuild that does not take it leaves the old one in force.
#[test]
fn a_reload_takes_the_sysctl_root_and_keeps_the_metrics_address() {
    let tree = sysctl_tree("reload-file");
    let file = tree.join("dird.conf");
    std::fs::write(&file, "--metrics-addr 127.0.0.1:9477\n").expect("config file");
    let argv: Vec<String> = [
        "dird",
        "--install",
        "--config",
        file.to_str().expect("utf-8"),
    ]
    .map(String::from)
    .to_vec();
    let launch = Launch::new(argv, None);
    let mut settings = Settings::new(config::load(&launch.argv, None).expect("start"));
    let tree_str = tree.to_str().expect("utf-8");
    std::fs::write(
        &file,
        format!("--metrics-addr 127.0.0.1:9478 --sysctl-root {tree_str}\n"),
    )
    .expect("config file");

    assert!(settings.reread(&launch));
    // The rebuild that builds from the candidate takes it; not adopted, the old
    // configuration stays in force.
    let _ = settings.for_rebuild();
    assert!(settings.take_candidate().is_some());
    assert_eq!(settings.current().sysctl_root, Path::new("/proc/sys"));

    assert!(settings.reread(&launch));
    assert_eq!(
        settings.for_rebuild().sysctl_root,
        tree,
        "built from the file"
    );
    let new = settings.take_candidate().expect("the candidate");
    settings.adopt(new);
    assert_eq!(settings.current().sysctl_root, tree);
    assert_eq!(
        settings.current().metrics_addr,
        Some("127.0.0.1:9477".parse().unwrap())
    );
    assert_eq!(settings.for_rebuild().sysctl_root, tree, "in force");
    assert_eq!(settings.take_candidate(), None);

    std::fs::write(&file, "--metrics-addr nowhere\n").expect("config file");
    assert!(!settings.reread(&launch), "a bad file is not taken");
    assert_eq!(settings.for_rebuild().sysctl_root, tree);
    std::fs::remove_dir_all(&tree).expect("cleaned");
}
