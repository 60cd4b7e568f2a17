use super::LastLine;

#[test]
fn a_last_line_is_new_when_it_changes_or_after_a_clear() {
    let mut last = LastLine::default();
    assert!(last.changed("a"));
    assert!(!last.changed("a"));
    assert!(last.changed("b"));
    assert!(last.changed("a"));
    last.clear();
    assert!(last.changed("a"));
}
