use super::*;

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn comma_space_and_repeated_are_the_same_list() {
    let a = split_items(&v(&["80,443,8080"]));
    let b = split_items(&v(&["80 443  8080"]));
    let c = split_items(&v(&["80", "443", "8080"]));
    let d = split_items(&v(&["80, 443", "\t8080\n"]));
    assert_eq!(a, v(&["80", "443", "8080"]));
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a, d);
}

#[test]
fn ports_and_ranges() {
    let p = parse_ports("--tcp-ports", &v(&["80,8000:8010", "9000-9001", "80"])).unwrap();
    assert_eq!(
        p,
        vec![
            PortSpec::Single(80),
            PortSpec::Range(8000, 8010),
            PortSpec::Range(9000, 9001)
        ]
    );
    assert_eq!(
        parse_port_spec("--tcp-ports", "7:7"),
        Ok(PortSpec::Single(7))
    );
}

#[test]
fn bad_ports_name_the_value() {
    for bad in [
        "0",
        "65536",
        "-1",
        "http",
        "",
        "80:",
        ":80",
        "1:0",
        "99999:100000",
        "+80",
    ] {
        let err = parse_ports("--tcp-ports", &v(&[bad]));
        if bad.is_empty() {
            assert_eq!(err, Ok(vec![]));
            continue;
        }
        let err = err.unwrap_err();
        assert!(
            err.to_string().contains(&format!("{bad:?}")),
            "{err} should name {bad}"
        );
    }
    assert_eq!(
        parse_ports("--udp-ports", &v(&["9000:8000"])),
        Err(ConfigError::ReversedRange {
            flag: "--udp-ports",
            value: "9000:8000".into()
        })
    );
}

#[test]
fn services_are_checked() {
    assert_eq!(
        parse_services(&v(&["web,api", "web"])).unwrap(),
        v(&["web", "api"])
    );
    for bad in ["-x", "a/b", "we b;rm", "a$(x)"] {
        assert!(
            parse_services(&v(&[bad])).is_err() || bad.contains(' '),
            "{bad}"
        );
    }
    assert_eq!(
        parse_services(&v(&["a$(x)"])),
        Err(ConfigError::BadService {
            value: "a$(x)".into()
        })
    );
}
