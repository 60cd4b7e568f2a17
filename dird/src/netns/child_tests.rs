use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::*;

/// [`kill_all`] kills every registered child: the tests here run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A scratch folder for this test's programs.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dird-child-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes an executable shell script.
fn script(dir: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A copy of sleep(1) under a name no other test runs (to be found in /proc).
fn sleeper(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    std::fs::copy("/bin/sleep", &path).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Processes whose command line contains `needle`, this test's own excepted.
fn processes_with(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let pid = e.file_name().to_str()?.to_owned();
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            let state = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let zombie = state.rsplit_once(") ").map(|(_, t)| t.starts_with('Z'));
            (pid != me && cmd.contains(needle) && zombie == Some(false)).then_some(cmd)
        })
        .collect()
}

#[test]
fn a_hung_child_and_what_it_started_are_killed_at_the_deadline() {
    let _serial = serial();
    let dir = scratch("hung");
    // A wrapper that starts a grandchild and waits for it, as a hung iptables-restore would.
    let marker = sleeper(&dir, "dirdhungsleep");
    let hang = script(&dir, "hang", &format!("{marker} 3600 & wait"));
    let t0 = Instant::now();
    let result = run(
        &hang,
        &[],
        Some("*filter\nCOMMIT\n"),
        Some(Instant::now() + Duration::from_millis(300)),
    );
    let took = t0.elapsed();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        matches!(result, Err(ChildError::TimedOut { .. })),
        "{result:?}"
    );
    assert!(took < Duration::from_secs(3), "returned after {took:?}");
    // Give the kill a moment to be seen in /proc.
    let left = (0..50)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            processes_with(&marker)
        })
        .find(Vec::is_empty);
    assert_eq!(left, Some(Vec::new()), "the grandchild survived");
}

#[test]
fn a_child_that_finishes_in_time_gives_its_output() {
    let _serial = serial();
    let out = run(
        "/bin/cat",
        &[],
        Some("hello"),
        Some(Instant::now() + Duration::from_secs(30)),
    )
    .unwrap();
    assert_eq!(out.stdout, b"hello");
    assert!(out.status.success());
}

#[test]
fn a_child_that_stops_reading_its_input_is_reaped() {
    let _serial = serial();
    let dir = scratch("noreader");
    // `true` under a name no other test runs: it exits without reading its input.
    let program = dir.join("dirdnoreader");
    std::fs::copy("/bin/true", &program).unwrap();
    let input = "x".repeat(4 << 20);
    let result = run(program.to_str().unwrap(), &[], Some(&input), None);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        matches!(result, Err(ChildError::Input { .. })),
        "4 MiB cannot fit in a pipe nobody reads: {result:?}"
    );
    assert_eq!(processes_with("dirdnoreader"), Vec::<String>::new());
}

#[test]
fn kill_all_ends_children_that_have_no_deadline() {
    let _serial = serial();
    let dir = scratch("killall");
    let marker = sleeper(&dir, "dirdkillallsleep");
    let hang = script(&dir, "hang", &format!("{marker} 3600 & wait"));
    let worker = std::thread::spawn(move || run(&hang, &[], None, None));
    let started = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        !processes_with(&marker).is_empty()
    });
    assert!(started, "the child never started");
    let t0 = Instant::now();
    kill_all();
    let result = worker.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(3));
    // Killed by a signal: an output with a failed status.
    assert!(!result.unwrap().status.success());
}

#[test]
fn a_child_that_complains_without_end_is_killed_at_the_error_limit() {
    let _serial = serial();
    // dd writes zeros to its standard error for far longer than the limit allows.
    let deadline = Some(Instant::now() + Duration::from_secs(120));
    let args = ["if=/dev/zero", "of=/dev/stderr", "bs=65536", "count=100000"].map(String::from);
    match run("dd", &args, None, deadline) {
        Err(ChildError::TooMuchOutput { limit, .. }) => assert_eq!(limit, MAX_STDERR),
        other => panic!("expected TooMuchOutput, got {other:?}"),
    }
    assert!(processes_with("dd")
        .iter()
        .all(|c| !c.starts_with("dd if=/dev/zero")));
}

#[test]
fn a_child_that_prints_without_end_is_killed_at_the_output_limit() {
    let _serial = serial();
    // yes(1) never stops; the deadline is far away: only the limit can end it.
    let deadline = Some(Instant::now() + Duration::from_secs(120));
    match run("yes", &[], None, deadline) {
        Err(ChildError::TooMuchOutput { limit, .. }) => assert_eq!(limit, MAX_STDOUT),
        other => panic!("expected TooMuchOutput, got {other:?}"),
    }
    assert!(processes_with("yes").iter().all(|c| c.trim() != "yes"));
}
