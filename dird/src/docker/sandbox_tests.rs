use super::*;

const KEY: &str = "/var/run/docker/netns/2f3c4d5e6f70";

#[test]
fn a_refused_container_is_forgotten_when_it_is_gone() {
    let id = "0123456789ab";
    assert!(REFUSED.first(id));
    assert!(!REFUSED.first(id));
    forget(id);
    assert!(
        REFUSED.first(id),
        "forgotten: warned again if it ever came back"
    );
    forget(id);
}

#[test]
fn a_task_namespace_is_its_sandbox() {
    assert_eq!(
        task_netns(Some("default"), Some(KEY)),
        Ok(PathBuf::from(KEY))
    );
    assert_eq!(task_netns(None, Some(KEY)), Ok(PathBuf::from(KEY)));
    let run = "/run/docker/netns/2f3c4d5e6f708192a3b4c5d6e7f8091a";
    assert_eq!(
        task_netns(Some("bridge"), Some(run)),
        Ok(PathBuf::from(run))
    );
}

#[test]
fn the_host_and_shared_namespaces_are_refused() {
    let host = Some("/var/run/docker/netns/default");
    assert_eq!(task_netns(Some("host"), host), Err(Refusal::HostNetwork));
    assert_eq!(
        task_netns(Some("host"), Some(KEY)),
        Err(Refusal::HostNetwork)
    );
    let shared = "container:8dbf715e75e510931133c535cf8e5d941ed926c30f44bf9f0e54623377a120c2";
    assert_eq!(
        task_netns(Some(shared), Some(KEY)),
        Err(Refusal::SharedNamespace(shared.into()))
    );
    // Whatever the mode says, `default` is the host's namespace.
    assert!(task_netns(Some("default"), host).is_err());
}

#[test]
fn sandbox_keys_outside_dockers_netns_folder_are_refused() {
    for key in [
        "",
        "default",
        "/var/run/docker/netns/default",
        "/var/run/docker/netns/ingress_sbox",
        "/var/run/docker/netns/lb_s0xbp07qmem",
        "/var/run/docker/netns/1-s0xbp07qme",
        "/var/run/docker/netns/../../../proc/1/ns/net",
        "/var/run/docker/netns/2f3c4d5e6f70/",
        "/var/run/docker/netns/2f3c4d5e6f70/x",
        "/var/run/docker/netns//2f3c4d5e6f70",
        "/var/run/docker/netns/2f3c4d5e6f7",
        "/var/run/docker/netnsx/2f3c4d5e6f70",
        "/tmp/docker/netns/2f3c4d5e6f70",
        "/proc/4242/ns/net",
        "var/run/docker/netns/2f3c4d5e6f70",
    ] {
        assert_eq!(
            task_netns(Some("default"), Some(key)),
            Err(Refusal::SandboxKey(key.into())),
            "{key}"
        );
    }
    assert!(task_netns(Some("default"), None).is_err());
}
