use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What `f` logs at `level` and above.
fn logged(level: tracing::Level, f: impl FnOnce()) -> String {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let text = out.0.lock().unwrap().clone();
    String::from_utf8(text).unwrap()
}

#[test]
fn a_task_off_the_ingress_is_logged_at_debug_only() {
    let t = TaskRef {
        id: "8dbf715e75e5".into(),
        service: "web".into(),
        netns: PathBuf::from("/var/run/docker/netns/2f3c4d5e6f70"),
    };
    let skip = || log_task(&t, &TaskOutcome::NoIngressInterface);
    assert_eq!(logged(tracing::Level::INFO, skip), "");
    let debug = logged(tracing::Level::DEBUG, skip);
    assert!(
        debug.contains("no interface in the ingress subnet"),
        "{debug}"
    );
}
