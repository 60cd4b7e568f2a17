//! What differs between the Docker 20.10 and Docker 26.1 captures of the same one-node swarm
//! (`tests/reference/docker-*-swarm-1node`, made by `just capture`): every difference is named
//! in the snapshot, so a new one (a recapture, another engine) shows up in review.

use std::path::{Path, PathBuf};

use netsim::reference::capture_differences;

fn capture(engine: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(format!("docker-{engine}-swarm-1node"))
}

#[test]
fn differences_between_docker_20_10_and_26_1() {
    let d = capture_differences(&capture("20.10"), &capture("26.1")).expect("captures readable");
    let text = d
        .iter()
        .map(|l| l.replace(env!("CARGO_MANIFEST_DIR"), ""))
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("docker_20_10_vs_26_1", text);
}

#[test]
fn a_capture_compared_with_itself_has_no_difference() {
    assert_eq!(
        capture_differences(&capture("26.1"), &capture("26.1")).expect("readable"),
        Vec::<String>::new()
    );
}
