use super::*;

#[test]
fn the_summary_counts_findings() {
    let mut r = Report::default();
    r.ok("ingress_sbox exists");
    assert_eq!(r.render(), "ok: ingress_sbox exists\nhealthy\n");
    r.finding("a", "b");
    r.skipped("c");
    assert_eq!(r.findings(), 1);
    assert_eq!(
        r.render(),
        "ok: ingress_sbox exists\nFINDING: a; fix: b\nskipped: c\n1 finding(s)\n"
    );
}
