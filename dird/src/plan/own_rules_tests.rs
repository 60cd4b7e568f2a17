use super::*;

#[test]
fn dirds_own_forms_are_recognised() {
    for (table, chain, spec) in [
        (Table::Raw, "PREROUTING", "-j CT --notrack"),
        (
            Table::Raw,
            "PREROUTING",
            "-p udp -m multiport --dports 53,5000:5010 -j CT --notrack",
        ),
        (
            Table::Mangle,
            "POSTROUTING",
            "-d 10.0.0.0/24 -j TOS --set-tos 0x02/0xff",
        ),
        (
            Table::Mangle,
            "POSTROUTING",
            "-d 10.0.0.0/16 -p tcp -m multiport --dports 80,443 -j DSCP --set-dscp 0x3f",
        ),
        (
            Table::Nat,
            "POSTROUTING",
            "-d 10.0.0.0/24 -m ipvs --ipvs -j ACCEPT",
        ),
        (
            Table::Mangle,
            "OUTPUT",
            "-p tcp -j CONNMARK --restore-mark --nfmask 0xff0000 --ctmask 0xff0000",
        ),
        (
            Table::Mangle,
            "PREROUTING",
            "-m conntrack ! --ctstate NEW -j RETURN",
        ),
        (Table::Mangle, "PREROUTING", "! -i eth0 -j RETURN"),
        (
            Table::Mangle,
            "PREROUTING",
            "-m tos --tos 0x80/0x80 -j CONNMARK --set-xmark 0x800000/0x800000",
        ),
    ] {
        assert!(is_own_rule(table, chain, spec), "{table:?} {chain} {spec}");
    }
}

#[test]
fn anything_else_is_not_dirds() {
    for (table, chain, spec) in [
        // A container's forged jump with iptables' modprobe option.
        (
            Table::Raw,
            "PREROUTING",
            "-M /tmp/evil.sh -m comment --comment forged -j CT --notrack",
        ),
        (Table::Raw, "PREROUTING", "-j CT --notrack -M /tmp/evil.sh"),
        (Table::Raw, "PREROUTING", "-j CT --notrack "),
        (Table::Raw, "PREROUTING", " -j CT --notrack"),
        (
            Table::Raw,
            "PREROUTING",
            "-p icmp -m multiport --dports 1 -j CT --notrack",
        ),
        (
            Table::Raw,
            "PREROUTING",
            "-p tcp -m multiport --dports 70000 -j CT --notrack",
        ),
        (
            Table::Raw,
            "PREROUTING",
            "-p tcp -m multiport --dports 1;id -j CT --notrack",
        ),
        (
            Table::Mangle,
            "POSTROUTING",
            "-d 10.0.0.0/33 -j TOS --set-tos 0x02/0xff",
        ),
        (
            Table::Mangle,
            "POSTROUTING",
            "-d evil/24 -j TOS --set-tos 0x02/0xff",
        ),
        (
            Table::Mangle,
            "POSTROUTING",
            "-d 10.0.0.0/24 -j TOS --set-tos 0x02/0xff -M x",
        ),
        (
            Table::Mangle,
            "POSTROUTING",
            "-d 10.0.0.0/24 -j TOS --set-tos 0xZZ/0xff",
        ),
        (
            Table::Nat,
            "POSTROUTING",
            "-d 10.0.0.0/24 -m ipvs --ipvs -j SNAT --to-source 10.0.0.2",
        ),
        (Table::Mangle, "PREROUTING", "! -i \"eth0\" -j RETURN"),
        (Table::Mangle, "PREROUTING", "! -i .. -j RETURN"),
        (
            Table::Mangle,
            "PREROUTING",
            "! -i averyveryverylongname -j RETURN",
        ),
        // A form of another chain, or a chain dird has no rules in.
        (
            Table::Mangle,
            "OUTPUT",
            "-m conntrack ! --ctstate NEW -j RETURN",
        ),
        (Table::Filter, "INPUT", "-j ACCEPT"),
        (Table::Mangle, "PREROUTING", ""),
    ] {
        assert!(!is_own_rule(table, chain, spec), "{table:?} {chain} {spec}");
    }
}

#[test]
fn the_original_daemons_sbox_rules_are_recognised_in_the_built_in_chains_only() {
    let cases = [
        (true, Table::Raw, "PREROUTING", "-j CT --notrack"),
        (
            true,
            Table::Nat,
            "POSTROUTING",
            "-d 10.0.0.0/24 -p tcp -m multiport --dports 8080 -m ipvs --ipvs -j ACCEPT",
        ),
        // The original's one-port form.
        (
            true,
            Table::Raw,
            "PREROUTING",
            "-p tcp -m tcp --dport 8080 -j CT --notrack",
        ),
        (
            false,
            Table::Raw,
            "PREROUTING",
            "-p tcp -m udp --dport 8080 -j CT --notrack",
        ),
        (
            false,
            Table::Raw,
            "PREROUTING",
            "-s 10.9.0.0/16 -j CT --notrack",
        ),
        (false, Table::Raw, "OUTPUT", "-j CT --notrack"),
        (
            false,
            Table::Mangle,
            "OUTPUT",
            "-p tcp -j CONNMARK --restore-mark --nfmask 0xff0000 --ctmask 0xff0000",
        ),
    ];
    for (want, table, chain, rule) in cases {
        assert_eq!(
            is_original_sbox_rule(table, chain, rule),
            want,
            "{table:?} {chain} {rule}"
        );
    }
    // dird never renders the one-port form itself.
    assert!(!is_own_rule(
        Table::Raw,
        "PREROUTING",
        "-p tcp -m tcp --dport 8080 -j CT --notrack"
    ));
}

#[test]
fn interface_names() {
    for ok in [
        "eth0",
        "eth1",
        "veth06eb502",
        "a",
        "a.b-c_d",
        "123456789012345",
    ] {
        assert!(is_interface_name(ok), "{ok}");
    }
    for bad in [
        "",
        ".",
        "..",
        "eth 0",
        "eth0\n",
        "eth/0",
        "1234567890123456",
        "e\"",
        "é",
    ] {
        assert!(!is_interface_name(bad), "{bad:?}");
    }
}
