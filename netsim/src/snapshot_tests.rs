use super::*;

#[test]
fn empty_default_tables_and_counters_are_dropped() {
    let save = "# Generated\n*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n*nat\n:POSTROUTING ACCEPT [5:300]\n-A POSTROUTING -j ACCEPT\nCOMMIT\n";
    assert_eq!(
        normalize_save(save),
        "*nat\n:POSTROUTING ACCEPT\n-A POSTROUTING -j ACCEPT\nCOMMIT\n"
    );
}
