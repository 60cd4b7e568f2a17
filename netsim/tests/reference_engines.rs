//! What differs between the Docker 20.10, 26.1 and 28.5 captures of the same one-node swarm
//! (`tests/reference/docker-*-swarm-1node`, made by `just capture`): every difference is named
//! in a snapshot, so a new one (a recapture, another engine) shows up in review.

use std::path::{Path, PathBuf};

use netsim::reference::capture_differences;

fn capture(engine: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(format!("docker-{engine}-swarm-1node"))
}

/// Every difference between the captures of engines `a` and `b`, one per line.
fn differences(a: &str, b: &str) -> String {
    let d = capture_differences(&capture(a), &capture(b)).expect("captures readable");
    d.iter()
        .map(|l| l.replace(env!("CARGO_MANIFEST_DIR"), ""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn differences_between_docker_20_10_and_26_1() {
    insta::assert_snapshot!("docker_20_10_vs_26_1", differences("20.10", "26.1"));
}

#[test]
fn differences_between_docker_20_10_and_28_5() {
    insta::assert_snapshot!("docker_20_10_vs_28_5", differences("20.10", "28.5"));
}

#[test]
fn differences_between_docker_26_1_and_28_5() {
    insta::assert_snapshot!("docker_26_1_vs_28_5", differences("26.1", "28.5"));
}

#[test]
fn a_capture_compared_with_itself_has_no_difference() {
    assert_eq!(
        capture_differences(&capture("26.1"), &capture("26.1")).expect("readable"),
        Vec::<String>::new()
    );
}
