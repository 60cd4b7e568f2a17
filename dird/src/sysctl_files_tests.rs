use super::*;

#[test]
fn parses_sysctl_d_syntax() {
    let text =
        "# comment\n; other\n\nnet.netfilter.nf_conntrack_max = 262144\n-net/ipv4/vs/conntrack=0\n";
    let s = parse("x.conf", text).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].key(), "net.netfilter.nf_conntrack_max");
    assert_eq!(s[0].value, "262144");
    assert_eq!(s[0].on_error, OnError::Warn);
    assert_eq!(s[1].key(), "net.ipv4.vs.conntrack");
    assert_eq!(s[1].on_error, OnError::Ignore);
}

#[test]
fn rejects_paths_that_escape_proc_sys() {
    for bad in [
        "../../etc/passwd = 1",
        "net..x = 1",
        "net/../../x = 1",
        "noequals",
        "net.ipv4.x*y = 1",
    ] {
        let e = parse("f.conf", bad).unwrap_err();
        assert!(e.to_string().contains("f.conf"), "{e}");
    }
}

proptest::proptest! {
    /// Any file: no panic, and every setting read stays under /proc/sys.
    #[test]
    fn any_file_parses_without_panic_or_escape(text in "(?s).{0,400}") {
        if let Ok(settings) = parse("f.conf", &text) {
            for s in settings {
                // Relative, and only plain names: joined to any root, it stays below it.
                let path = s.proc_path();
                proptest::prop_assert!(path.is_relative(), "{path:?}");
                proptest::prop_assert!(
                    path.components().all(|c| matches!(c, std::path::Component::Normal(_))),
                    "{path:?}"
                );
            }
        }
    }
}
