//! `netsim`: run scenario files against a fake swarm ingress in throwaway namespaces.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use netsim::{netns, reference, runner, scenario, topology::Topology, vm};
use nix::sys::signal::{SigSet, Signal};

#[derive(Parser)]
#[command(
    name = "netsim",
    version,
    about = "A faithful fake Docker Swarm ingress in throwaway network namespaces"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run scenario files: one PASS/FAIL line per expectation; exit 0 iff all hold.
    Run {
        /// Scenario files whose expectations must NOT all hold (a self-test of the probe).
        #[arg(long = "expect-fail", value_name = "FILE")]
        expect_fail: Vec<PathBuf>,
        /// Also build the reference swarm and compare its live rules with this capture folder
        /// (repeatable: one comparison per capture).
        #[arg(long, value_name = "DIR")]
        reference: Vec<PathBuf>,
        files: Vec<PathBuf>,
    },
    /// Parse and validate scenario files only (no root needed).
    Check { files: Vec<PathBuf> },
    /// Build a scenario's topology and keep it (and its whoami servers) up until `netsim down`.
    Up { file: PathBuf },
    /// Stop running `netsim up` processes and remove their namespaces.
    Down,
    /// Remove namespaces left behind by netsim processes that no longer run.
    Clean,
    /// Exit 0 iff scenarios can run directly here (root, IPVS, iptables-restore).
    CheckHost,
    /// Data-plane benchmark: masquerade vs dird vs nginx, and dird with many load balancers.
    Bench {
        #[arg(long, default_value = "netsim/benches/dataplane.toml")]
        scenario: PathBuf,
        #[arg(long, default_value_t = 10)]
        rounds: usize,
        /// Seconds of short requests per path and round.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Concurrent client threads.
        #[arg(long, default_value_t = 4)]
        threads: usize,
        /// Bulk download size per path and round.
        #[arg(long, default_value_t = 64)]
        bulk_mib: u64,
        /// Load-balancer counts for the scale rows.
        #[arg(long, value_delimiter = ',', default_value = "1,64,255")]
        lbs: Vec<usize>,
        /// What the machine is, for the table's header.
        #[arg(long, default_value = "this host")]
        machine: String,
        /// Print only `| data | what | figure | target | met |` rows on stdout (for `just
        /// bench`); the table goes to stderr.
        #[arg(long)]
        rows: bool,
    },
    /// Run `netsim ARGS` inside a throwaway VM (virtme-ng, TCG) and propagate its verdict.
    Vm {
        #[arg(long)]
        kernel: Option<PathBuf>,
        #[arg(long, default_value = "3G")]
        memory: String,
        #[arg(long, default_value_t = 2)]
        cpus: u32,
        /// Folder shared with the VM for output and status.
        #[arg(long, default_value = ".vm-results")]
        results: PathBuf,
        #[arg(long, default_value_t = 1800)]
        timeout_secs: u64,
        #[arg(last = true, required = true)]
        args: Vec<String>,
    },
    /// (inside the VM) load modules, run `netsim ARGS`, record output and status.
    #[command(hide = true)]
    VmInner {
        #[arg(long)]
        results: PathBuf,
        #[arg(last = true, required = true)]
        args: Vec<String>,
    },
}

/// Block the terminating signals in every thread; one thread waits for them and cleans up.
fn install_signal_cleanup() -> anyhow::Result<()> {
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    set.thread_block().context("block signals")?;
    std::thread::Builder::new()
        .name("netsim-signals".into())
        .spawn(move || {
            if let Ok(sig) = set.wait() {
                eprintln!("netsim: {sig}, removing namespaces");
                netns::cleanup_all();
                std::process::exit(130);
            }
        })?;
    Ok(())
}

fn require_root() -> anyhow::Result<()> {
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "netsim needs root here (or use `netsim vm -- ...`)"
    );
    Ok(())
}

fn host_problem() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root".into());
    }
    if !netsim::ipvs::host_has_ipvs() {
        return Some(
            "no IPVS in this kernel (/proc/net/ip_vs absent, modprobe ip_vs failed)".into(),
        );
    }
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("iptables-restore").exists()))
        .unwrap_or(false);
    if !found {
        return Some("iptables-restore not found".into());
    }
    None
}

fn cmd_run(
    files: &[PathBuf],
    expect_fail: &[PathBuf],
    reference_dirs: &[PathBuf],
) -> anyhow::Result<u8> {
    if let Some(why) = host_problem() {
        anyhow::bail!("cannot run scenarios directly: {why}; use `netsim vm -- run ...` (or `just scenario FILE`)");
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let (mut failed, mut errors, mut passed) = (0usize, 0usize, 0usize);
    let mut run_no = 0;
    for (file, meant_to_fail) in files
        .iter()
        .map(|f| (f, false))
        .chain(expect_fail.iter().map(|f| (f, true)))
    {
        run_no += 1;
        let result = run_file(file, meant_to_fail, &mut run_no, &mut out);
        match (result, meant_to_fail) {
            (Ok(t), false) => {
                passed += t.passed;
                failed += t.failed;
            }
            (Ok(t), true) if t.failed > 0 => {
                passed += 1;
                writeln!(
                    out,
                    "PASS self-test {}: {} expectation(s) failed, as they should",
                    file.display(),
                    t.failed
                )?;
            }
            (Ok(_), true) => {
                failed += 1;
                writeln!(
                    out,
                    "FAIL self-test {}: every expectation held, but some are meant to fail",
                    file.display()
                )?;
            }
            (Err(e), _) => {
                errors += 1;
                writeln!(out, "ERROR {}: {e}", file.display())?;
                netns::cleanup_all();
            }
        }
    }
    if !reference_dirs.is_empty() {
        run_no += 1;
        let (p, f, e) = check_references(reference_dirs, run_no, &mut out)?;
        (passed, failed, errors) = (passed + p, failed + f, errors + e);
    }
    writeln!(
        out,
        "netsim: {passed} passed, {failed} failed, {errors} errors"
    )?;
    Ok(if errors > 0 {
        2
    } else if failed > 0 {
        1
    } else {
        0
    })
}

/// Builds the reference swarm once (as run `run_no`) and compares it with each capture: one
/// verdict per capture. Returns (passed, failed, errors).
fn check_references(
    dirs: &[PathBuf],
    run_no: usize,
    out: &mut dyn Write,
) -> anyhow::Result<(usize, usize, usize)> {
    let (mut passed, mut failed, mut errors) = (0, 0, 0);
    let live = reference::live_rule_sets(run_no);
    for dir in dirs {
        let verdict = match &live {
            Ok((sc, ours)) => reference::check_capture(dir, sc, ours, out),
            Err(e) => {
                errors += 1;
                writeln!(out, "ERROR reference {}: live swarm: {e}", dir.display())?;
                continue;
            }
        };
        match verdict {
            Ok(true) => passed += 1,
            Ok(false) => failed += 1,
            Err(e) => {
                errors += 1;
                writeln!(out, "ERROR reference {}: {e}", dir.display())?;
            }
        }
    }
    Ok((passed, failed, errors))
}

/// Runs one scenario file as run `run_no` (and its twin, when it has one, as the next run).
/// A file meant to fail has its lines indented and marked, since they are not verdicts.
fn run_file(
    file: &std::path::Path,
    meant_to_fail: bool,
    run_no: &mut usize,
    out: &mut dyn Write,
) -> Result<runner::Tally, netsim::Error> {
    let sc = scenario::load(file)?;
    if meant_to_fail {
        let mut buf = Vec::new();
        let t = runner::run_scenario(&sc, *run_no, &mut buf);
        for line in String::from_utf8_lossy(&buf).lines() {
            let _ = writeln!(out, "  (meant to fail) {line}");
        }
        return t;
    }
    let mut t = runner::run_scenario(&sc, *run_no, out)?;
    if let Some(tw) = runner::twin(&sc) {
        *run_no += 1;
        let t2 = runner::run_scenario(&tw, *run_no, out)?;
        t.passed += t2.passed;
        t.failed += t2.failed;
    }
    Ok(t)
}

/// `netsim check`: one OK or ERROR line per file; 2 when any is invalid.
fn cmd_check(files: &[PathBuf]) -> u8 {
    let mut bad = 0;
    for f in files {
        match scenario::load(f) {
            Ok(sc) => println!(
                "OK {} ({} nodes, {} services, {} expectations)",
                f.display(),
                sc.nodes.len(),
                sc.services.len(),
                sc.expect.len() + sc.steps.iter().map(|s| s.expect.len()).sum::<usize>()
            ),
            Err(e) => {
                bad += 1;
                println!("ERROR {e}");
            }
        }
    }
    if bad > 0 {
        2
    } else {
        0
    }
}

/// `netsim bench`: progress and the table on stdout, or with `rows` progress on stderr and
/// only the markdown rows on stdout.
fn cmd_bench(opts: netsim::bench::Options, rows: bool) -> anyhow::Result<u8> {
    if let Some(why) = host_problem() {
        anyhow::bail!("cannot bench directly: {why}; use `netsim vm -- bench ...` (or `just bench-dataplane`)");
    }
    anyhow::ensure!(
        opts.rounds > 0 && opts.threads > 0 && opts.seconds > 0.0,
        "--rounds, --threads and --seconds must be positive"
    );
    if rows {
        let (figures, machine) = netsim::bench::run(&opts, &mut std::io::stderr().lock())?;
        print!("{}", netsim::bench::table::markdown(&figures, &machine));
    } else {
        netsim::bench::run(&opts, &mut std::io::stdout().lock())?;
    }
    Ok(0)
}

fn cmd_up(file: &std::path::Path) -> anyhow::Result<u8> {
    require_root()?;
    let sc = scenario::load(file)?;
    let topo = Topology::build(&sc, 1)?;
    println!(
        "netsim: {} is up (pid {}). Namespaces:",
        file.display(),
        std::process::id()
    );
    print!("{}", topo.describe());
    for n in &sc.nodes {
        println!(
            "  node {}: public {} ingress {}",
            n.name, n.public_ip, n.ingress_ip
        );
    }
    println!("Stop with `netsim down` (or Ctrl-C).");
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

fn cmd_down() -> anyhow::Result<u8> {
    require_root()?;
    let me = std::process::id();
    let mut pids: Vec<u32> = netns::list_all()
        .into_iter()
        .map(|(p, _)| p)
        .filter(|&p| p != me && netns::netsim_alive(p))
        .collect();
    pids.sort();
    pids.dedup();
    for &pid in &pids {
        let pid_t = i32::try_from(pid).context("pid")?;
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid_t), Signal::SIGTERM);
        println!("netsim: stopping pid {pid}");
    }
    for _ in 0..50 {
        if pids.iter().all(|&p| !netns::netsim_alive(p)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    cmd_clean()
}

fn cmd_clean() -> anyhow::Result<u8> {
    require_root()?;
    let mut n = 0;
    for (pid, path) in netns::list_all() {
        if !netns::netsim_alive(pid) {
            netns::delete(&path);
            n += 1;
        }
    }
    println!("netsim: removed {n} leftover namespace(s)");
    Ok(0)
}

fn real_main(cli: Cli) -> anyhow::Result<u8> {
    match cli.cmd {
        Cmd::Run {
            expect_fail,
            reference,
            files,
        } => cmd_run(&files, &expect_fail, &reference),
        Cmd::Check { files } => Ok(cmd_check(&files)),
        Cmd::Up { file } => cmd_up(&file),
        Cmd::Bench {
            scenario,
            rounds,
            seconds,
            threads,
            bulk_mib,
            lbs,
            machine,
            rows,
        } => cmd_bench(
            netsim::bench::Options {
                scenario,
                rounds,
                seconds,
                threads,
                bulk_mib,
                lbs,
                machine,
            },
            rows,
        ),
        Cmd::Down => cmd_down(),
        Cmd::Clean => cmd_clean(),
        Cmd::CheckHost => Ok(match host_problem() {
            None => {
                println!("netsim: this host can run scenarios directly");
                0
            }
            Some(why) => {
                println!("netsim: scenarios need the VM here: {why}");
                1
            }
        }),
        Cmd::Vm {
            kernel,
            memory,
            cpus,
            results,
            timeout_secs,
            args,
        } => {
            let opts = vm::VmOptions {
                kernel,
                memory,
                cpus,
                results,
                timeout: Duration::from_secs(timeout_secs),
            };
            let code = vm::run_in_vm(&opts, &args)?;
            Ok(u8::try_from(code).unwrap_or(2))
        }
        Cmd::VmInner { results, args } => Ok(u8::try_from(vm::inner(&results, &args)).unwrap_or(2)),
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("netsim=info")),
        )
        .init();
    let cli = Cli::parse();
    if let Err(e) = install_signal_cleanup() {
        eprintln!("netsim: {e:#}");
        return ExitCode::from(2);
    }
    let result = std::panic::catch_unwind(move || real_main(cli));
    netns::cleanup_all();
    match result {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(e)) => {
            eprintln!("netsim: {e:#}");
            ExitCode::from(2)
        }
        Err(_) => {
            eprintln!("netsim: panicked; namespaces removed");
            ExitCode::from(2)
        }
    }
}
