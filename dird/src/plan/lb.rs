//! The load balancer's part, inside `ingress_sbox`: skip Docker's SNAT for IPVS traffic into
//! the ingress subnet, stamp this node's ID into the IP header, stop conntrack, tune IPVS.

use super::iptables::{IptablesPlan, OwnChain};
use super::ports::{join, port_filters};
use super::table::Table;
use super::{legacy, Ingress, Sysctl};
use crate::config::{IdEncoding, RuleConfig};
use crate::ids::LbId;

/// IPVS settings the original daemon applies unless `--no-performance`. Unlike the lines of
/// sysctl.d files, they fail the apply when they cannot be set ([`super::OnError::Fail`]):
/// they exist in every namespace once IPVS is loaded, which the routing mesh needs.
pub const PERFORMANCE_SYSCTLS: [(&str, &str); 3] = [
    ("net.ipv4.vs.conn_reuse_mode", "0"),
    ("net.ipv4.vs.expire_nodest_conn", "1"),
    ("net.ipv4.vs.expire_quiescent_template", "1"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbPlan {
    pub id: LbId,
    pub iptables: IptablesPlan,
    /// In order: dird's IPVS settings, then conntrack.conf, then ipvs.conf.
    pub sysctls: Vec<Sysctl>,
}

/// The stamping target for this node's ID, as `iptables-save` prints it.
pub fn stamp_target(id: LbId, encoding: IdEncoding) -> String {
    match encoding {
        IdEncoding::Tos => format!("-j TOS --set-tos {:#04x}/0xff", id.get()),
        IdEncoding::Dscp => format!("-j DSCP --set-dscp {:#04x}", id.get()),
    }
}

/// `files` are the parsed `/etc/sysctl.d/conntrack.conf` and `ipvs.conf` entries, applied
/// after dird's own settings (only with performance optimisations on, as the original).
pub fn lb_plan(cfg: &RuleConfig, ingress: &Ingress, id: LbId, files: &[Sysctl]) -> LbPlan {
    let subnet = format!("-d {}", ingress.subnet);
    let filters = port_filters(cfg);
    let rules = |f: &dyn Fn(&str) -> String| filters.iter().map(|p| f(p)).collect::<Vec<_>>();
    let stamp = stamp_target(id, cfg.id_encoding);
    let chains = vec![
        OwnChain {
            table: Table::Raw,
            builtin: "PREROUTING",
            rules: rules(&|p| join(&[p, "-j CT --notrack"])),
        },
        OwnChain {
            table: Table::Mangle,
            builtin: "POSTROUTING",
            rules: rules(&|p| join(&[&subnet, p, &stamp])),
        },
        OwnChain {
            table: Table::Nat,
            builtin: "POSTROUTING",
            rules: rules(&|p| join(&[&subnet, p, "-m ipvs --ipvs -j ACCEPT"])),
        },
    ];
    let mut sysctls = Vec::new();
    if cfg.performance {
        for (key, value) in PERFORMANCE_SYSCTLS {
            let parts: Vec<&str> = key.split('.').collect();
            sysctls.extend(Sysctl::new(&parts, value));
        }
        sysctls.extend(files.iter().cloned());
    }
    LbPlan {
        id,
        iptables: IptablesPlan::new(chains, legacy::sbox_rules()),
        sysctls,
    }
}

/// What `--uninstall` wants in `ingress_sbox`: none of dird's chains, none of the original's rules.
pub fn lb_uninstall_plan() -> IptablesPlan {
    IptablesPlan::new(Vec::new(), legacy::sbox_rules())
}
