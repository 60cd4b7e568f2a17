//! Figures of the bench: per-round samples, medians, the table and the targets.

use std::fmt::Write as _;
use std::time::Duration;

/// Median of the samples (mean of the middle two when even); NaN when empty.
pub fn median(samples: &[f64]) -> f64 {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// The `q` quantile (0..=1, nearest rank) of latencies, in ms.
pub fn percentile_ms(lat: &[Duration], q: f64) -> f64 {
    if lat.is_empty() {
        return f64::NAN;
    }
    let mut v: Vec<Duration> = lat.to_vec();
    v.sort();
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1].as_secs_f64() * 1e3
}

/// Everything measured for one path over all rounds.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub name: String,
    pub conns: Vec<f64>,
    pub p50: Vec<f64>,
    pub p99: Vec<f64>,
    /// Bytes per second, one per round (empty: not measured for this path).
    pub bulk: Vec<f64>,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Row {
    pub fn conns(&self) -> f64 {
        median(&self.conns)
    }
    pub fn mbps(&self) -> f64 {
        median(&self.bulk) / 1e6
    }
}

fn num(x: f64, prec: usize) -> String {
    if x.is_finite() {
        format!("{x:.prec$}")
    } else {
        "-".into()
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

/// Median over rounds of `a[r] / b[r]`: both were measured in the same round, so a machine
/// whose speed drifts between rounds (TCG next to other VMs) cancels out.
pub fn paired(a: &[f64], b: &[f64]) -> f64 {
    let per_round: Vec<f64> = a.iter().zip(b).map(|(&x, &y)| ratio(x, y)).collect();
    median(&per_round)
}

/// The table: `rows[0]` is the baseline (masquerade) for the ratio columns.
pub fn render(rows: &[Row]) -> String {
    let base = rows.first().cloned().unwrap_or_default();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<34} {:>9} {:>15} {:>8} {:>8} {:>8} {:>10} {:>10} {:>6}",
        "path",
        "conns/s",
        "(min-max)",
        "p50 ms",
        "p99 ms",
        "MB/s",
        "x masq c/s",
        "x masq MB/s",
        "errors"
    );
    for r in rows {
        let lo = r.conns.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = r.conns.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let _ = writeln!(
            s,
            "{:<34} {:>9} {:>15} {:>8} {:>8} {:>8} {:>10} {:>10} {:>6}",
            r.name,
            num(r.conns(), 0),
            format!("({}-{})", num(lo, 0), num(hi, 0)),
            num(median(&r.p50), 2),
            num(median(&r.p99), 2),
            num(r.mbps(), 1),
            num(paired(&r.conns, &base.conns), 3),
            num(paired(&r.bulk, &base.bulk), 3),
            r.errors
        );
    }
    s
}

/// One target line: `what: value (goal) MET|MISSED`.
pub fn target(what: &str, value: f64, goal: f64) -> String {
    let verdict = if value >= goal { "met" } else { "MISSED" };
    format!("  {what}: {} (target >= {goal}) {verdict}", num(value, 3))
}

/// One bench target: a paired ratio and the least it may be (the values are in [`goals`]).
pub struct Goal {
    pub what: String,
    pub value: f64,
    pub target: f64,
}

/// The bench targets from the rows in bench order: masquerade, dird (1 LB), nginx, then dird
/// at more load balancers (the last of those against 1 LB). Empty with fewer than three rows.
pub fn goals(rows: &[Row]) -> Vec<Goal> {
    let (Some(masq), Some(dird), Some(nginx)) = (rows.first(), rows.get(1), rows.get(2)) else {
        return Vec::new();
    };
    let goal = |what: String, value: f64, target: f64| Goal {
        what,
        value,
        target,
    };
    let mut out = vec![
        goal(
            "dird / masquerade, conns/s".into(),
            paired(&dird.conns, &masq.conns),
            0.95,
        ),
        goal(
            "dird / masquerade, MB/s".into(),
            paired(&dird.bulk, &masq.bulk),
            0.95,
        ),
        goal(
            "dird / nginx, conns/s".into(),
            paired(&dird.conns, &nginx.conns),
            2.0,
        ),
        goal(
            "dird / nginx, MB/s".into(),
            paired(&dird.bulk, &nginx.bulk),
            2.0,
        ),
    ];
    if let Some(most) = rows.get(3..).and_then(|r| r.last()) {
        out.push(goal(
            format!("{} / dird (1 LB), conns/s", most.name.trim()),
            paired(&most.conns, &dird.conns),
            0.9,
        ));
    }
    out
}

/// The targets of [`goals`] as text lines: `what: value (target >= goal) met|MISSED`.
pub fn targets(rows: &[Row]) -> String {
    let mut s = String::from("targets (median over rounds of the per-round ratio):\n");
    for g in goals(rows) {
        let _ = writeln!(s, "{}", target(&g.what, g.value, g.target));
    }
    s
}

/// The same figures as rows of the `just bench` table: `| data | what | figure | target | met |`.
pub fn markdown(rows: &[Row], machine: &str) -> String {
    let mut s = String::new();
    if rows.len() < 3 {
        return s;
    }
    let _ = writeln!(s, "| data | netsim bench machine | {machine} | | |");
    for r in rows {
        let bulk = if r.bulk.is_empty() {
            String::new()
        } else {
            format!(", {} MB/s", num(r.mbps(), 1))
        };
        let _ = writeln!(
            s,
            "| data | {} | {} conns/s, p50 {} ms, p99 {} ms{bulk} | | |",
            r.name.trim(),
            num(r.conns(), 0),
            num(median(&r.p50), 2),
            num(median(&r.p99), 2)
        );
    }
    for g in goals(rows) {
        let met = if g.value >= g.target { "yes" } else { "**no**" };
        let _ = writeln!(
            s,
            "| data | {} | {}x | >= {}x | {met} |",
            g.what,
            num(g.value, 3),
            g.target
        );
    }
    s
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
