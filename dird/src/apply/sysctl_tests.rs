use super::*;

#[test]
fn each_failing_line_is_reported_once() {
    let s = Sysctl::new(&["net", "dird_test_once"], "1").expect("valid");
    assert!(first_failure(&s));
    assert!(!first_failure(&s));
    let other = Sysctl::new(&["net", "dird_test_once"], "2").expect("valid");
    assert!(first_failure(&other), "another value is another line");
}

#[test]
fn settings_are_read_and_written_below_the_root_given() {
    let dir = std::env::temp_dir().join(format!("dird-sysctl-root-{}", std::process::id()));
    let conf = dir.join("net/ipv4/conf/all");
    std::fs::create_dir_all(&conf).expect("tree");
    std::fs::write(conf.join("rp_filter"), "0\n").expect("rp_filter");
    let root = SysctlRoot::new(&dir);
    let wanted = [Sysctl::new(&["net", "ipv4", "conf", "all", "rp_filter"], "2").expect("valid")];

    let pending = root.pending("test", &wanted).expect("read");
    assert_eq!(pending, [(&wanted[0], "0".to_string())]);
    let (done, error) = root.write_pending("test", &pending);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(root.read(&wanted[0]).expect("read"), "2");
    assert_eq!(root.undo(&done), None);
    assert_eq!(root.read(&wanted[0]).expect("read"), "0", "undone");
    assert_eq!(
        SysctlRoot::default(),
        SysctlRoot::new(Path::new(DEFAULT_ROOT))
    );
    std::fs::remove_dir_all(&dir).expect("cleaned");
}
