use super::*;

/// Two CPUs, as `ip_vs_stats_percpu_show` prints them (Linux 6.1): per-CPU lines
/// `%3X %8LX %8LX %8LX %16LX %16LX`, then `  ~ …` and the rates.
const TWO_CPUS: &str = "       Total Incoming Outgoing         Incoming         Outgoing
CPU    Conns  Packets  Packets            Bytes            Bytes
  0        3        C        A              3F0              6E4
  1        1        4       1F              150              1F8
  ~        2        9        7              2A0              4D0

     Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s
           0        1        1               3C               58
";

#[test]
fn sums_the_outgoing_packets_of_every_cpu() {
    // 0xA + 0x1F; the `~` line (7) and the rates are not counted.
    assert_eq!(parse_percpu_outpkts(TWO_CPUS), Ok(10 + 31));
}

#[test]
fn a_fresh_namespace_counts_zero() {
    let text = "       Total Incoming Outgoing         Incoming         Outgoing
CPU    Conns  Packets  Packets            Bytes            Bytes
  0        0        0        0                0                0
  1        0        0        0                0                0
  ~        0        0        0                0                0

     Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s
           0        0        0                0                0
";
    assert_eq!(parse_percpu_outpkts(text), Ok(0));
}

#[test]
fn cpu_numbers_and_counters_are_hex() {
    let text = "       Total Incoming Outgoing         Incoming         Outgoing
CPU    Conns  Packets  Packets            Bytes            Bytes
  A        0        0 FFFFFFFF                0                0
 1F        0        0        1                0                0
  ~        0        0        0                0                0
";
    assert_eq!(parse_percpu_outpkts(text), Ok(0x1_0000_0000));
}

#[test]
fn other_text_is_an_error() {
    let header = TWO_CPUS.lines().take(2).collect::<Vec<_>>().join("\n");
    for bad in [
        String::new(),
        "whatever\n".to_string(),
        header.clone(),
        // Truncated before the `~` line.
        TWO_CPUS[..TWO_CPUS.find("  ~").unwrap()].to_string(),
        // `~` before any CPU.
        format!("{header}\n  ~        0        0        0                0                0\n"),
        // A field that is not hex, a missing column.
        TWO_CPUS.replace("1F ", "1G "),
        TWO_CPUS.replace("      1F8\n", "\n"),
    ] {
        assert!(parse_percpu_outpkts(&bad).is_err(), "{bad:?}");
    }
}
