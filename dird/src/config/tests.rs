use clap::Parser;

use super::*;

fn cfg(args: &[&str]) -> Result<Config, ConfigError> {
    let cli = Cli::try_parse_from(std::iter::once("dird").chain(args.iter().copied()))
        .expect("clap accepts");
    Config::from_args(&cli.daemon, None)
}

#[test]
fn original_systemd_unit_line_parses() {
    // ExecStart of the original's example unit, with dird in its place.
    let c = cfg(&[
        "--install",
        "--preexisting",
        "--iptables-wait",
        "--ingress-gateway-ips",
        "10.0.0.2,10.0.0.3",
    ])
    .unwrap();
    assert_eq!(c.action, Action::Install);
    assert!(c.preexisting);
    assert_eq!(c.iptables_wait, Some(IptablesWait::Forever));
    assert_eq!(c.rules.lbs.given().len(), 2);
    assert!(c.rules.performance);
}

#[test]
fn every_original_flag_is_accepted() {
    let c = cfg(&[
        "--install",
        "--services",
        "web,api",
        "--services",
        "db",
        "--tcp-ports",
        "80 443",
        "--udp-ports",
        "53",
        "--ingress-gateway-ips",
        "10.0.0.2 null",
        "--ingress-gateway-ips",
        "10.0.0.4",
        "--no-performance",
        "--indexed-ids",
        "--preexisting",
        "--iptables-wait-seconds",
        "5",
    ])
    .unwrap();
    assert_eq!(c.rules.services, vec!["web", "api", "db"]);
    assert_eq!(
        c.rules.tcp_ports,
        vec![PortSpec::Single(80), PortSpec::Single(443)]
    );
    assert_eq!(c.rules.udp_ports, vec![PortSpec::Single(53)]);
    assert_eq!(c.rules.lbs.given().len(), 3);
    assert!(!c.rules.performance && c.rules.indexed_ids);
    assert_eq!(c.iptables_wait, Some(IptablesWait::Seconds(5)));
    assert_eq!(IptablesWait::Seconds(5).args(), vec!["--wait", "5"]);
    assert_eq!(cfg(&["--uninstall"]).unwrap().action, Action::Uninstall);
    assert_eq!(cfg(&[]).unwrap().action, Action::Usage);
}

#[test]
fn legacy_env_comes_first() {
    let cli =
        Cli::try_parse_from(["dird", "--install", "--ingress-gateway-ips", "10.0.0.4"]).unwrap();
    let c = Config::from_args(&cli.daemon, Some("10.0.0.2 10.0.0.3")).unwrap();
    let ips: Vec<String> = c
        .rules
        .lbs
        .given()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(ips, vec!["10.0.0.2", "10.0.0.3", "10.0.0.4"]);
}

#[test]
fn install_and_uninstall_conflict() {
    assert_eq!(
        cfg(&["--install", "--uninstall"]),
        Err(ConfigError::InstallAndUninstall)
    );
}

#[test]
fn bad_values_are_named() {
    let cases: &[(&[&str], &str)] = &[
        (&["--ingress-gateway-ips", "10.0.0.x"], "\"10.0.0.x\""),
        (&["--tcp-ports", "0"], "\"0\""),
        (&["--udp-ports", "70000"], "\"70000\""),
        (
            &["--tcp-ports", "9000:8000"],
            "reversed port range \"9000:8000\"",
        ),
        (&["--services", "a;b"], "\"a;b\""),
        (&["--iptables-wait-seconds", "soon"], "\"soon\""),
    ];
    for (args, needle) in cases {
        let e = cfg(args).unwrap_err().to_string();
        assert!(e.contains(needle), "{args:?}: {e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
}

#[test]
fn unknown_flags_are_usage_errors_with_status_2() {
    let e = Cli::try_parse_from(["dird", "--instal"]).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("--instal"));
}

#[test]
fn subnets_must_be_network_addresses() {
    assert!(parse_subnet("--ingress-subnet", "10.0.0.0/24").is_ok());
    for bad in ["10.0.0.1/24", "10.0.0.0/33", "10.0.0.0", "x/24"] {
        let e = parse_subnet("--ingress-subnet", bad).unwrap_err();
        assert!(e.to_string().contains(bad), "{e}");
    }
}

mod roundtrip {
    use proptest::prelude::*;

    use super::super::lists::{parse_ports, PortSpec};

    fn port_spec() -> impl Strategy<Value = PortSpec> {
        prop_oneof![
            (1u16..=65535).prop_map(PortSpec::Single),
            (1u16..65535, 1u16..1000)
                .prop_map(|(lo, span)| PortSpec::Range(lo, lo.saturating_add(span).max(lo + 1))),
        ]
    }

    proptest! {
        #[test]
        fn port_lists_round_trip(specs in proptest::collection::vec(port_spec(), 0..40), style in 0u8..3) {
            let mut uniq: Vec<PortSpec> = Vec::new();
            for s in &specs { if !uniq.contains(s) { uniq.push(*s); } }
            let items: Vec<String> = specs.iter().map(ToString::to_string).collect();
            let values = match style {
                0 => vec![items.join(",")],
                1 => vec![items.join(" ")],
                _ => items.clone(),
            };
            prop_assert_eq!(parse_ports("--tcp-ports", &values).unwrap(), uniq);
        }
    }
}

#[test]
fn config_file_adds_flags_and_bad_files_are_named() {
    let dir = std::env::temp_dir().join(format!("dird-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("args");
    std::fs::write(
        &file,
        "# load balancers\n--ingress-gateway-ips 10.0.0.2,10.0.0.3 # two\n--tcp-ports 80\n",
    )
    .unwrap();
    let argv: Vec<String> = ["dird", "--install", "--config", file.to_str().unwrap()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let c = load(&argv, None).unwrap();
    assert_eq!(c.rules.lbs.given().len(), 2);
    assert_eq!(c.rules.tcp_ports, vec![PortSpec::Single(80)]);
    std::fs::write(&file, "--tcp-ports 0\n").unwrap();
    assert!(load(&argv, None).unwrap_err().to_string().contains("\"0\""));
    std::fs::write(&file, "--bogus\n").unwrap();
    let e = load(&argv, None).unwrap_err().to_string();
    assert!(
        e.contains(file.to_str().unwrap()) && e.contains("--bogus"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resync_interval_is_at_most_a_year() {
    let year = MAX_RESYNC_INTERVAL_SECS.to_string();
    let c = cfg(&["--install", "--resync-interval", &year]).unwrap();
    assert_eq!(c.resync_interval.as_secs(), 365 * 24 * 3600);
    for absurd in ["31536001", "9223372036854775808", "18446744073709551615"] {
        let e = cfg(&["--install", "--resync-interval", absurd]).unwrap_err();
        assert!(e.to_string().contains(absurd), "{e}");
    }
}

#[test]
fn iptables_waits_ten_seconds_unless_told() {
    let c = cfg(&["--install"]).unwrap();
    assert_eq!(c.iptables_wait, Some(IptablesWait::Seconds(10)));
    assert_eq!(c.apply_timeout.as_secs(), 30);
}

#[test]
fn apply_timeout_is_bounded() {
    assert_eq!(
        cfg(&["--install", "--apply-timeout", "5"])
            .unwrap()
            .apply_timeout
            .as_secs(),
        5
    );
    for bad in ["0", "3601"] {
        let e = cfg(&["--install", "--apply-timeout", bad]).unwrap_err();
        assert!(
            e.to_string().contains("--apply-timeout") && e.to_string().contains(bad),
            "{e}"
        );
    }
}

#[test]
fn sysctl_root_must_be_a_sysctl_tree() {
    let c = cfg(&["--install"]).unwrap();
    assert_eq!(c.sysctl_root, std::path::Path::new("/proc/sys"));
    let c = cfg(&["--install", "--sysctl-root", "/proc/sys/"]).unwrap();
    assert_eq!(c.sysctl_root, std::path::Path::new("/proc/sys/"));
    let e = cfg(&["--install", "--sysctl-root", "/proc/self"]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("--sysctl-root /proc/self: not a sysctl tree"),
        "{e}"
    );
}

#[test]
fn metrics_address_and_status_file() {
    let c = cfg(&["--install"]).unwrap();
    assert_eq!(c.metrics_addr, None);
    assert_eq!(
        c.status_file.as_deref(),
        Some(std::path::Path::new("/run/dird/status.json"))
    );
    let c = cfg(&[
        "--install",
        "--metrics-addr",
        "127.0.0.1:9477",
        "--status-file",
        "none",
    ])
    .unwrap();
    assert_eq!(c.metrics_addr, Some("127.0.0.1:9477".parse().unwrap()));
    assert_eq!(c.status_file, None);
    let e = cfg(&["--install", "--metrics-addr", "localhost"]).unwrap_err();
    assert!(
        e.to_string().contains("\"localhost\"") && e.to_string().contains("--metrics-addr"),
        "{e}"
    );
}

proptest::proptest! {
    /// A --config file with any text: no panic, a configuration or one error line.
    #[test]
    fn any_config_file_gives_a_config_or_one_error_line(text in "(?s).{0,300}") {
        use clap::Parser;
        let mut argv = vec!["dird".to_string(), "--install".to_string()];
        argv.extend(crate::config::file_args(&text));
        if let Ok(cli) = crate::commands::Cli::try_parse_from(&argv) {
            if let Err(e) = crate::config::Config::from_args(&cli.daemon, None) {
                proptest::prop_assert_eq!(e.to_string().lines().count(), 1);
            }
        }
    }
}
