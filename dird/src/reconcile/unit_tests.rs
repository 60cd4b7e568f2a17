use super::*;
use crate::apply::{fail, Step};

#[test]
fn units_name_themselves_and_keep_12_digits() {
    assert_eq!(Unit::Sbox.to_string(), "ingress_sbox");
    let u = Unit::task("8dbf715e75e510931133c535cf8e5d941ed926c30f44bf9f0e54623377a120c2");
    assert_eq!(u, Unit::Task("8dbf715e75e5".into()));
    assert_eq!(u.to_string(), "container 8dbf715e75e5");
}

#[test]
fn the_retry_follows_from_what_went_wrong() {
    let slow = JobError::DockerSlow { secs: 30 };
    assert_eq!(slow.retry_delay(1), Duration::from_secs(1));
    assert_eq!(slow.retry_delay(3), Duration::from_secs(4));
    assert_eq!(slow.retry_delay(30), RETRY_MAX);
    let parse = crate::plan::IptablesState::parse("junk").unwrap_err();
    let refused = JobError::Apply(fail("t", Step::ParseIptables, parse));
    assert!(refused.refused());
    assert_eq!(refused.retry_delay(1), RETRY_REFUSED);
    assert_eq!(refused.retry_delay(2), RETRY_REFUSED * 2);
    assert_eq!(refused.retry_delay(u32::MAX), RETRY_MAX);
    let timed_out = JobError::TimedOut {
        target: "t".into(),
        secs: 30,
    };
    assert!(!timed_out.refused());
    assert_eq!(timed_out.retry_delay(1), RETRY_FIRST);
}
