use super::Outage;
use std::time::{Duration, Instant};

#[test]
fn an_outage_logs_each_reason_once_and_its_end_once() {
    let t0 = Instant::now();
    let mut away = Outage::default();
    assert_eq!(away.ended(t0), None);
    assert!(away.failed("connect refused", t0));
    for i in 1..10 {
        assert!(!away.failed("connect refused", t0 + Duration::from_secs(5 * i)));
    }
    assert!(away.failed("timeout", t0 + Duration::from_secs(50)));
    assert_eq!(away.ended(t0 + Duration::from_secs(52)), Some((11, 52)));
    assert_eq!(away.ended(t0 + Duration::from_secs(60)), None);
    // The next outage starts afresh: its first reason is logged again.
    assert!(away.failed("connect refused", t0 + Duration::from_secs(70)));
}
