use super::*;

#[test]
fn medians_and_percentiles() {
    assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    assert!(median(&[]).is_nan());
    let lat: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
    assert_eq!(percentile_ms(&lat, 0.5), 50.0);
    assert_eq!(percentile_ms(&lat, 0.99), 99.0);
}

#[test]
fn table_has_ratios_against_the_first_row() {
    let masq = Row {
        name: "masq".into(),
        conns: vec![100.0],
        bulk: vec![2e8],
        ..Row::default()
    };
    let dird = Row {
        name: "dird".into(),
        conns: vec![95.0],
        bulk: vec![2e8],
        ..Row::default()
    };
    let t = render(&[masq.clone(), dird.clone()]);
    assert!(
        t.lines()
            .nth(2)
            .is_some_and(|l| l.contains("0.950") && l.contains("1.000")),
        "{t}"
    );
    assert!(targets(&[masq.clone(), dird.clone(), masq.clone()])
        .contains("dird / nginx, conns/s: 0.950 (target >= 2) MISSED"));
    assert!(markdown(&[masq.clone(), dird.clone(), masq.clone()], "m")
        .contains("| data | dird / nginx, conns/s | 0.950x | >= 2x | **no** |"));
    assert_eq!(paired(&[2.0, 9.0, 3.0], &[1.0, 10.0, 1.0]), 2.0);
}
