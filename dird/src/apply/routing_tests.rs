use super::*;

#[test]
fn a_dump_beyond_the_limit_is_refused() {
    let mut n = 0;
    for _ in 0..MAX_DUMP {
        count(&mut n, "routes").expect("within the limit");
    }
    match count(&mut n, "routes") {
        Err(ReadError::TooMany { what }) => assert_eq!(what, "routes"),
        other => panic!("expected TooMany, got {other:?}"),
    }
}
