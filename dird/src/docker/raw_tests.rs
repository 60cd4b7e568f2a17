use super::*;

#[test]
fn engine_error_messages() {
    assert_eq!(
        error_message(r#"{"message":"client version 1.41 is too old"}"#),
        "client version 1.41 is too old"
    );
    assert_eq!(error_message("page not found\n"), "page not found");
}

proptest::proptest! {
    #[test]
    fn any_answer_is_read_without_panic(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
        let _ = response_body("/x", &raw);
        let text = String::from_utf8_lossy(&raw);
        let _ = crate::docker::swarm_view::parse(&text);
        let _ = crate::docker::swarm_view::network_id(&text);
        let _ = crate::docker::swarm_view::from_overlay(&text, None, &[], &[]);
        let _ = crate::docker::swarm_view::lb_indexes(&text);
    }
}
