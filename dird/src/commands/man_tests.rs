#[test]
fn man_page_covers_the_daemon_flags_and_the_visible_subcommands() {
    let page = super::man_page().unwrap();
    assert!(page.contains(".TH dird 8 "), "{page}");
    for want in [
        "\\fB\\-\\-ingress\\-gateway\\-ips\\fR",
        "\\fB\\-\\-node\\-ip\\fR",
        ".SS \"dird plan\"",
        ".SS \"dird lbs\"",
        ".SS \"dird doctor\"",
        ".SS \"dird status\"",
        ".SH NOTES",
    ] {
        assert!(page.contains(want), "{want} missing from\n{page}");
    }
    assert!(!page.contains("dird man"), "the man subcommand is hidden");
    assert_eq!(page.matches(".ds Aq").count(), 2, "one \\*(Aq definition");
    assert!(page.is_ascii(), "non-ASCII characters are escaped");
}
