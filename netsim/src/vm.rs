//! The throwaway VM: a stock Debian kernel booted by virtme-ng (`vng`, TCG, no KVM) over a
//! read-only view of this machine's root filesystem, so the host-built `netsim` runs inside
//! unchanged. One VM per invocation runs every scenario given.
//!
//! Host side: [`run_in_vm`] boots `vng --disable-kvm --run <kernel> --user root --memory 3G
//! --cpus 2 --rwdir <results> -- <netsim> vm-inner --results <results> -- <args>`; vng quotes
//! each argument itself (shlex), no shell string is built here.
//! Guest side: [`inner`] loads the IPVS modules, runs `netsim <args>` with its output in
//! `<results>/output.log` (the console carries kernel log lines) and writes the exit status to
//! `<results>/status`. The host prints the log and exits with that status.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
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

/// The newest `/boot/vmlinuz-*-amd64` (Debian's linux-image-amd64).
pub fn find_kernel() -> Result<PathBuf, Error> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/boot")
        .map_err(|e| vm_err(format!("/boot: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .collect();
    found.sort_by_key(|p| version_key(p));
    found
        .pop()
        .ok_or_else(|| vm_err("no /boot/vmlinuz-*: apt-get install linux-image-amd64"))
}

fn version_key(p: &Path) -> Vec<u64> {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// Boot the VM, run `netsim ARGS` inside, print its output; returns its exit status.
pub fn run_in_vm(opts: &VmOptions, args: &[String]) -> Result<i32, Error> {
    let kernel = match &opts.kernel {
        Some(k) => k.clone(),
        None => find_kernel()?,
    };
    let results = fresh_results(&opts.results)?;
    let mut cmd = vng_command(opts, &kernel, &results, args)?;
    tracing::info!(
        "booting {} in a VM (TCG, console in {})",
        kernel.display(),
        results.join("console.log").display()
    );
    let mut child = cmd
        .spawn()
        .map_err(|e| vm_err(format!("vng: {e} (pip install virtme-ng)")))?;
    let start = Instant::now();
    let vng_status = wait_for_vm(&mut child, opts.timeout)?;
    tracing::info!("VM done in {:.0?} ({vng_status})", start.elapsed());
    verdict(&results, vng_status)
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

/// `vng` booting `kernel` to run `netsim vm-inner ... -- ARGS`, its console into
/// `results/console.log`.
fn vng_command(
    opts: &VmOptions,
    kernel: &Path,
    results: &Path,
    args: &[String],
) -> Result<Command, Error> {
    let exe = std::env::current_exe().map_err(|e| vm_err(format!("own path: {e}")))?;
    let console = File::create(results.join("console.log")).map_err(|e| vm_err(e.to_string()))?;
    let console2 = console.try_clone().map_err(|e| vm_err(e.to_string()))?;
    let mut cmd = Command::new("vng");
    cmd.arg("--disable-kvm")
        .arg("--run")
        .arg(kernel)
        .args([
            "--user",
            "root",
            "--memory",
            &opts.memory,
            "--cpus",
            &opts.cpus.to_string(),
        ])
        .arg("--rwdir")
        .arg(results)
        .arg("--")
        .arg(&exe)
        .arg("vm-inner")
        .arg("--results")
        .arg(results)
        .arg("--")
        .args(args)
        .stdin(Stdio::null())
        .stdout(console)
        .stderr(console2);
    Ok(cmd)
}

/// `vng`'s exit status; the VM is killed when it runs longer than `timeout`.
fn wait_for_vm(child: &mut Child, timeout: Duration) -> Result<ExitStatus, Error> {
    let start = Instant::now();
    loop {
        match child.try_wait().map_err(|e| vm_err(e.to_string()))? {
            Some(s) => return Ok(s),
            None if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(vm_err(format!("the VM did not finish within {timeout:?}")));
            }
            None => std::thread::sleep(Duration::from_millis(500)),
        }
    }
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
            results.join("console.log").display()
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
