use std::path::PathBuf;

use super::*;
use crate::telemetry::status::{LbStatus, TaskStatus};

#[test]
fn tables_show_tasks_and_load_balancers() {
    let status = Status {
        taken: 100,
        node_ip: Some([10, 0, 0, 2].into()),
        tasks: vec![
            TaskStatus {
                id: "8dbf715e75e5".into(),
                service: "web".into(),
                netns: PathBuf::from("/run/docker/netns/2f3c4d5e6f70"),
                state: TaskState::Configured,
                lb_tables: vec![7002, 7003],
                last_apply: Some(90),
                configured_at_ms: None,
                last_error: None,
            },
            TaskStatus {
                id: "f6e5d4c3b2a1".into(),
                service: "api".into(),
                netns: PathBuf::from("/run/docker/netns/0a1b2c3d4e5f"),
                state: TaskState::Failing,
                lb_tables: Vec::new(),
                last_apply: Some(99),
                configured_at_ms: None,
                last_error: Some("timed out".into()),
            },
        ],
        load_balancers: vec![
            LbStatus {
                id: 2,
                ip: [10, 0, 0, 2].into(),
                table: 7002,
                this_node: true,
            },
            LbStatus {
                id: 3,
                ip: [10, 0, 0, 3].into(),
                table: 7003,
                this_node: false,
            },
            LbStatus {
                id: 4,
                ip: [10, 0, 0, 4].into(),
                table: 7004,
                this_node: false,
            },
        ],
    };
    let reach: Reach = Some(BTreeMap::from([(
        Ipv4Addr::new(10, 0, 0, 3),
        Some(Ipv4Addr::new(192, 0, 2, 2)),
    )]));
    insta::assert_snapshot!(render(&status, &reach, 100));
}
