//! The live IPVS reply counter of a namespace, from `/proc/net/ip_vs_stats_percpu`.
//!
//! IPVS counts each packet on the CPU that handles it. Netlink and `/proc/net/ip_vs_stats`
//! report what the estimator folded in (every 2 s); `ip_vs_stats_percpu` prints the
//! namespace's per-CPU totals over all services as they are at the time of the read
//! (`ip_vs_stats_percpu_show` in `net/netfilter/ipvs/ip_vs_ctl.c`, counters in hex):
//!
//! ```text
//!        Total Incoming Outgoing         Incoming         Outgoing
//! CPU    Conns  Packets  Packets            Bytes            Bytes
//!   0        3        C        A              3F0              6E4
//!   1        1        4        3              150              1F8
//!   ~        4       10        D              540              8DC
//!
//!      Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s
//!            0        0        0                0                0
//! ```
//!
//! One line per possible CPU, then `~` (the estimator's copy, lagging) and the estimated rates.
//! Only the per-CPU lines are summed.

use std::path::Path;

use crate::Error;

/// Where the file is: `thread-self`, because the namespace is the calling thread's (entered
/// with `setns`), while `/proc/net` follows the process's main thread.
const PERCPU_FILE: &str = "/proc/thread-self/net/ip_vs_stats_percpu";

/// The sum of the `Outgoing Packets` column of the per-CPU lines: reply packets (real server
/// to client) IPVS has carried in this namespace so far.
pub fn parse_percpu_outpkts(text: &str) -> Result<u64, String> {
    let mut lines = text.lines();
    match (lines.next(), lines.next()) {
        (Some(a), Some(b)) if a.contains("Total") && b.trim_start().starts_with("CPU") => {}
        _ => return Err(format!("unexpected header in {text:?}")),
    }
    let (mut total, mut cpus) = (0u64, 0usize);
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.first() == Some(&"~") {
            return if cpus == 0 {
                Err(format!("no per-CPU line in {text:?}"))
            } else {
                Ok(total)
            };
        }
        let hex: Option<Vec<u64>> = fields
            .iter()
            .map(|f| u64::from_str_radix(f, 16).ok())
            .collect();
        match hex.as_deref() {
            Some([_cpu, _conns, _inpkts, outpkts, _inbytes, _outbytes]) => {
                total = total
                    .checked_add(*outpkts)
                    .ok_or_else(|| format!("outgoing packets overflow in {text:?}"))?;
                cpus += 1;
            }
            _ => return Err(format!("unexpected per-CPU line {line:?}")),
        }
    }
    Err(format!("no `~` line after the per-CPU lines in {text:?}"))
}

/// [`parse_percpu_outpkts`] of the namespace at `ns`, read from a thread inside it.
pub fn outpkts(ns: &Path) -> Result<u64, Error> {
    let name = ns.display().to_string();
    let text = crate::netns::run_in(ns, || {
        std::fs::read_to_string(PERCPU_FILE).map_err(|e| Error::Ipvs {
            ns: name.clone(),
            step: format!("read {PERCPU_FILE}"),
            source: e.into(),
        })
    })?;
    parse_percpu_outpkts(&text).map_err(|e| Error::Ipvs {
        ns: name,
        step: format!("parse {PERCPU_FILE}"),
        source: e.into(),
    })
}

#[cfg(test)]
#[path = "counters_tests.rs"]
mod tests;
