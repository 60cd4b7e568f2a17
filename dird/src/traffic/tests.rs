use super::*;

#[test]
fn connections_are_grouped_by_the_id_in_the_mark() {
    let t = TaskTarget {
        id: "0123456789ab".into(),
        service: "web".into(),
        netns: PathBuf::from("/run/docker/netns/x"),
    };
    let counts = conntrack::Counts {
        // no mark; LB 2; LB 2 with a bit of someone else's; LB 3; only others' bits
        by_mark: [(0, 9), (0x20000, 4), (0x20001, 1), (0x30000, 2), (0x1, 5)]
            .into_iter()
            .collect(),
        entries: 21,
        done: true,
    };
    let got: Vec<(u8, u64)> = by_lb(&t, &counts).iter().map(|c| (c.lb, c.count)).collect();
    assert_eq!(got, vec![(2, 5), (3, 2)]);
}

#[test]
fn nothing_to_read_reads_nothing() {
    assert_eq!(sample(&Targets::default()), Sample::default());
}
