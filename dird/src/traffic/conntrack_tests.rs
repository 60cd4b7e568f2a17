use super::*;
use proptest::prelude::*;

fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut a = Vec::new();
    a.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    a.extend_from_slice(&kind.to_ne_bytes());
    a.extend_from_slice(value);
    a.resize(align(a.len()), 0);
    a
}

fn message(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&0x2u16.to_ne_bytes());
    m.extend_from_slice(&SEQ.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(body);
    m.resize(align(m.len()), 0);
    m
}

/// A conntrack entry: a nested tuple attribute (ignored), then the mark when given.
fn entry(mark: Option<u32>) -> Vec<u8> {
    let mut body = vec![AF_INET, 0, 0, 0];
    body.extend(attr(
        1 | 0x8000,
        &attr(1 | 0x8000, &attr(1, &[10, 0, 0, 5])),
    ));
    if let Some(m) = mark {
        body.extend(attr(CTA_MARK, &m.to_be_bytes()));
    }
    message(NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW, &body)
}

#[test]
fn entries_are_counted_by_mark_until_done() {
    let mut c = Counts::default();
    let mut first = entry(Some(0x20000));
    first.extend(entry(Some(0x20000)));
    first.extend(entry(None));
    c.feed(&first).unwrap();
    assert!(!c.done);
    let mut second = entry(Some(0x30000));
    second.extend(message(NLMSG_DONE, &0i32.to_ne_bytes()));
    second.extend(entry(Some(0x40000)));
    c.feed(&second).unwrap();
    assert!(c.done);
    assert_eq!(c.entries, 4);
    assert_eq!(
        c.by_mark.into_iter().collect::<Vec<_>>(),
        vec![(0, 1), (0x20000, 2), (0x30000, 1)]
    );
}

#[test]
fn an_error_answer_is_an_error() {
    let mut c = Counts::default();
    let e = c
        .feed(&message(NLMSG_ERROR, &(-1i32).to_ne_bytes()))
        .unwrap_err();
    assert!(matches!(e, ConntrackError::Refused(1)), "{e}");
}

#[test]
fn lengths_beyond_the_datagram_are_malformed() {
    let mut m = entry(Some(1));
    m[0] = 200;
    assert!(matches!(
        Counts::default().feed(&m),
        Err(ConntrackError::Malformed(_))
    ));
    let mut body = vec![AF_INET, 0, 0, 0];
    body.extend_from_slice(&[50, 0, 8, 0]);
    let m = message(NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW, &body);
    assert!(matches!(
        Counts::default().feed(&m),
        Err(ConntrackError::Malformed(_))
    ));
}

#[test]
fn the_request_asks_for_a_dump_of_ipv4() {
    let r = dump_request();
    assert_eq!(r.len(), 20);
    assert_eq!(u32_ne(&r[0..4]), 20);
    assert_eq!(u16_ne(&r[4..6]), 0x0101);
    assert_eq!(u16_ne(&r[6..8]), NLM_F_REQUEST | NLM_F_DUMP);
    assert_eq!(r[16], AF_INET);
}

proptest! {
    #[test]
    fn any_datagram_is_read_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut c = Counts::default();
        let _ = c.feed(&bytes);
        prop_assert!(c.entries <= MAX_ENTRIES + 1);
    }
}
