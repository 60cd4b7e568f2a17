use super::*;

#[test]
fn tos_connmark_pattern() {
    assert_eq!(
        parse_tos_connmark("-m tos --tos 0x05/0xff -j CONNMARK --set-xmark 0x5/0xffffffff"),
        Some(5)
    );
    assert_eq!(
        parse_tos_connmark("-m tos --tos 0x05/0xff -j CONNMARK --set-xmark 0x6/0xffffffff"),
        None
    );
    assert_eq!(
        parse_tos_connmark("-m tos --tos 0x05/0xff -j CONNMARK --set-xmark 0x50000/0xff0000"),
        None
    );
}
