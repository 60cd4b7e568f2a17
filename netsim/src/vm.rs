//! The throwaway VM: a stock Debian kernel booted by virtme-ng (`vng`, TCG, no KVM) over a
//! read-only view of this machine's root filesystem, so the host-built `netsim` runs inside
//! unchanged. One VM per invocation runs every scenario given.
//!
//! Host side: [`run_in_vm`] runs the repository's one VM boot, `scripts/vm-boot netsim
//! <results> <timeout> -- <netsim> vm-inner --results <results> -- <args>` (the newest
//! `/boot/vmlinuz-*-amd64` or `--kernel`, `--memory`, `--cpus`); vng quotes each argument
//! itself, no shell string is built here.
//! Guest side: [`inner`] loads the IPVS modules, runs `netsim <args>` with its output in
//! `<results>/output.log` (the console carries kernel log lines) and writes the exit status to
//! `<results>/status`. The host prints the log and exits with that status.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// Modules netsim needs inside the VM (those built in are fine to fail).
pub const MODULES: [&str; 13] = [
    "br_netfilter",
    "ip_vs",
    "ip_vs_rr",
    "xt_ipvs",
    "veth",
    "bridge",
    "vxlan",
    "nf_conntrack",
    "nf_nat",
    "xt_mark",
    "xt_conntrack",
    "xt_addrtype",
    "iptable_nat",
];

#[derive(Debug, Clone)]
pub struct VmOptions {
    pub kernel: Option<PathBuf>,
    pub memory: String,
    pub cpus: u32,
    pub results: PathBuf,
    pub timeout: Duration,
}

fn vm_err(detail: impl ToString) -> Error {
    Error::Vm(detail.to_string())
}

/// The repository's one VM boot (`scripts/vm-boot`), found from this crate's source folder.
fn vm_boot() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/vm-boot")
}

/// Boot the VM, run `netsim ARGS` inside, print its output; returns its exit status.
pub fn run_in_vm(opts: &VmOptions, args: &[String]) -> Result<i32, Error> {
    let results = fresh_results(&opts.results)?;
    let mut cmd = boot_command(opts, &results, args)?;
    tracing::info!(
        "booting a VM (TCG, console in {})",
        results.join(format!("console-{VM_NAME}.log")).display()
    );
    let start = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| vm_err(format!("{}: {e}", vm_boot().display())))?;
    tracing::info!("VM done in {:.0?} ({status})", start.elapsed());
    if status.code() == Some(124) {
        return Err(vm_err(format!(
            "the VM did not finish within {:?}",
            opts.timeout
        )));
    }
    verdict(&results, status)
}

/// The results folder, created, as an absolute path, without a previous run's files.
fn fresh_results(dir: &Path) -> Result<PathBuf, Error> {
    std::fs::create_dir_all(dir).map_err(|e| vm_err(format!("{}: {e}", dir.display())))?;
    let results = dir
        .canonicalize()
        .map_err(|e| vm_err(format!("{}: {e}", dir.display())))?;
    for f in ["status", "output.log", "stderr.log"] {
        let _ = std::fs::remove_file(results.join(f));
    }
    Ok(results)
}

/// The VM's host name, and the name in its console file `console-netsim.log`.
const VM_NAME: &str = "netsim";

/// `scripts/vm-boot` running `netsim vm-inner --results RESULTS -- ARGS` in the VM.
fn boot_command(opts: &VmOptions, results: &Path, args: &[String]) -> Result<Command, Error> {
    let exe = std::env::current_exe().map_err(|e| vm_err(format!("own path: {e}")))?;
    let mut cmd = Command::new(vm_boot());
    if let Some(kernel) = &opts.kernel {
        cmd.env("VM_KERNEL", kernel);
    }
    cmd.env("VM_MEMORY", &opts.memory)
        .env("VM_CPUS", opts.cpus.to_string())
        .arg(VM_NAME)
        .arg(results)
        .arg(opts.timeout.as_secs().max(1).to_string())
        .arg("--")
        .arg(&exe)
        .arg("vm-inner")
        .arg("--results")
        .arg(results)
        .arg("--")
        .args(args)
        .stdin(Stdio::null());
    Ok(cmd)
}

/// Prints what netsim wrote inside the VM and returns its exit status.
fn verdict(results: &Path, vng_status: ExitStatus) -> Result<i32, Error> {
    if let Ok(text) = std::fs::read_to_string(results.join("output.log")) {
        print!("{text}");
    }
    if let Ok(text) = std::fs::read_to_string(results.join("stderr.log")) {
        eprint!("{text}");
    }
    let status = std::fs::read_to_string(results.join("status")).map_err(|_| {
        vm_err(format!(
            "no verdict from inside the VM (vng {vng_status}); see {}",
            results.join(format!("console-{VM_NAME}.log")).display()
        ))
    })?;
    status
        .trim()
        .parse()
        .map_err(|_| vm_err(format!("bad status {status:?}")))
}

/// Inside the VM: load modules, run `netsim ARGS` into the results folder, record its status.
pub fn inner(results: &Path, args: &[String]) -> i32 {
    // One modprobe for all: `-a` goes on past a module that fails and then exits non-zero.
    let loaded = Command::new("modprobe")
        .arg("-a")
        .args(MODULES)
        .stdin(Stdio::null())
        .output();
    match loaded {
        Ok(o) if o.status.success() => {}
        Ok(o) => tracing::debug!(
            "modprobe -a: {} (built in?): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => tracing::debug!("modprobe -a: {e}"),
    }
    let code = (|| -> Result<i32, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let out = File::create(results.join("output.log")).map_err(|e| e.to_string())?;
        let err = File::create(results.join("stderr.log")).map_err(|e| e.to_string())?;
        let status = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(|e| e.to_string())?;
        Ok(status.code().unwrap_or(2))
    })()
    .unwrap_or_else(|e| {
        let _ = std::fs::write(
            results.join("stderr.log"),
            format!("netsim vm-inner: {e}\n"),
        );
        2
    });
    if let Err(e) = std::fs::write(results.join("status"), format!("{code}\n")) {
        eprintln!("cannot write status: {e}");
    }
    code
}
