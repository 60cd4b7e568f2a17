//! The binary's contract: bad input → one line naming the value, exit 2; `plan` prints rules;
//! `--help` lists every flag of the original daemon.

use std::process::{Command, Output};

fn dird(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dird"))
        .args(args)
        .env_remove("INGRESS_NODE_GATEWAY_IPS")
        .output()
        .expect("run dird")
}

fn plan(extra: &[&str]) -> Output {
    let mut args = vec![
        "plan",
        "--ingress-subnet",
        "10.0.0.0/24",
        "--node-ip",
        "10.0.0.2",
        "--sysctl-dir",
        "/nonexistent",
    ];
    args.extend_from_slice(extra);
    dird(&args)
}

#[track_caller]
fn assert_bad(out: Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains(needle), "{needle:?} not in {err:?}");
    assert!(
        out.stdout.is_empty(),
        "nothing printed on stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn unknown_flags_and_non_numbers_are_one_line() {
    for (args, needle) in [
        (&["--bogus"][..], "--bogus"),
        (&["--install", "--resync-interval", "soon"][..], "soon"),
        (
            &["plan", "--node-ip", "10.0.0.2", "--frobnicate"][..],
            "--frobnicate",
        ),
    ] {
        let out = dird(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_bad(out, needle);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    }
}

#[test]
fn bad_input_exits_2_and_names_the_value() {
    assert_bad(
        plan(&["--ingress-gateway-ips", "10.0.0.999"]),
        "\"10.0.0.999\"",
    );
    assert_bad(
        dird(&[
            "plan",
            "--ingress-subnet",
            "10.0.0.0/40",
            "--node-ip",
            "10.0.0.2",
        ]),
        "\"10.0.0.0/40\"",
    );
    assert_bad(
        plan(&["--ingress-gateway-ips", "10.9.0.2"]),
        "10.9.0.2 is outside the ingress subnet 10.0.0.0/24",
    );
    assert_bad(
        plan(&["--task-ip", "10.9.0.7"]),
        "task IP 10.9.0.7 in --task-ip is outside the ingress subnet 10.0.0.0/24",
    );
    assert_bad(
        plan(&["--ingress-gateway-ips", "10.0.0.2,10.0.0.2"]),
        "duplicate load-balancer IP 10.0.0.2",
    );
    assert_bad(
        plan(&["--ingress-gateway-ips", "10.0.0.5,10.0.1.5"]),
        "use --indexed-ids",
    );
    assert_bad(
        plan(&[
            "--ingress-gateway-ips",
            "10.0.0.100",
            "--id-encoding",
            "dscp",
        ]),
        "10.0.0.100",
    );
    let many: Vec<String> = (0..64).map(|_| "null".to_string()).collect();
    assert_bad(
        plan(&[
            "--indexed-ids",
            "--id-encoding",
            "dscp",
            "--ingress-gateway-ips",
            &many.join(","),
        ]),
        "64 load-balancer positions",
    );
    assert_bad(plan(&["--tcp-ports", "0"]), "\"0\"");
    assert_bad(plan(&["--udp-ports", "65536"]), "\"65536\"");
    assert_bad(
        plan(&["--tcp-ports", "90:80"]),
        "reversed port range \"90:80\"",
    );
    assert_bad(dird(&["--no-such-flag"]), "--no-such-flag");
    assert_bad(
        dird(&["--install", "--uninstall"]),
        "--install and --uninstall cannot be used together",
    );
    assert_bad(dird(&["--install", "--ingress-gateway-ips", "x"]), "\"x\"");
    assert_bad(dird(&["--install", "--iptables-wait-seconds", "-1"]), "-1");
    assert_bad(
        dird(&["--install", "--ingress-gateway-ips", "auto,10.0.0.2"]),
        "\"auto,10.0.0.2\"",
    );
    assert_bad(
        dird(&["--install", "--load-balancer-hosts", "192.0.2.0/24"]),
        "--load-balancer-hosts needs --ingress-gateway-ips auto",
    );
    assert_bad(
        dird(&[
            "--install",
            "--ingress-gateway-ips",
            "auto",
            "--load-balancer-hosts",
            "192.0.2.0/33",
        ]),
        "\"192.0.2.0/33\"",
    );
    assert_bad(
        plan(&["--ingress-gateway-ips", "auto"]),
        "give --ingress-gateway-ips as addresses",
    );
}

#[test]
fn errors_are_one_line() {
    let out = plan(&["--ingress-gateway-ips", "10.0.0.2,10.0.0.2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn plan_prints_the_rule_set() {
    let out = plan(&[
        "--ingress-gateway-ips",
        "10.0.0.2 10.0.0.3",
        "--tcp-ports",
        "8080",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "-A DIRD-POSTROUTING -d 10.0.0.0/24 -p tcp -m multiport --dports 8080 -m ipvs --ipvs -j ACCEPT",
        "-A DIRD-POSTROUTING -d 10.0.0.0/24 -p tcp -m multiport --dports 8080 -j TOS --set-tos 0x02/0xff",
        "-I POSTROUTING 1 -m comment --comment dird -j DIRD-POSTROUTING",
        "ip route add default via 10.0.0.3 dev eth0 table 7003",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn legacy_environment_variable_is_honoured() {
    let out = Command::new(env!("CARGO_BIN_EXE_dird"))
        .args([
            "plan",
            "--node-ip",
            "10.0.0.2",
            "--sysctl-dir",
            "/nonexistent",
        ])
        .env("INGRESS_NODE_GATEWAY_IPS", "10.0.0.2 10.0.0.7")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("load balancer 10.0.0.7 (position 2): ID 7")
    );
}

#[test]
fn help_lists_every_flag_of_the_original() {
    let out = dird(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--install",
        "--uninstall",
        "--services",
        "--tcp-ports",
        "--udp-ports",
        "--ingress-gateway-ips",
        "--no-performance",
        "--indexed-ids",
        "--preexisting",
        "--iptables-wait",
        "--iptables-wait-seconds",
        "--help",
        "--id-encoding",
        "plan",
        "lbs",
        "--load-balancer-hosts",
        "--config",
        "--resync-interval",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn no_arguments_shows_usage_with_status_1() {
    let out = dird(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ingress-gateway-ips"));
}

#[test]
fn an_absurd_resync_interval_is_bad_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_dird"))
        .args(["--resync-interval", "9223372036854775808"])
        .env_remove("INGRESS_NODE_GATEWAY_IPS")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("run dird");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_bad(out, "9223372036854775808");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
}
