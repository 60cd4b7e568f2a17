//! Validation errors for flags and lists. Every variant names the bad value.

use std::net::Ipv4Addr;

use thiserror::Error;

/// A configuration the operator must fix. The binary prints it on one line and exits 2.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("invalid IPv4 address {value:?} in {flag}")]
    BadIp { flag: &'static str, value: String },
    #[error("invalid IPv4 subnet {value:?} in {flag} (expected CIDR like 10.0.0.0/24)")]
    BadCidr { flag: &'static str, value: String },
    #[error("invalid port {value:?} in {flag}: ports are 1-65535")]
    BadPort { flag: &'static str, value: String },
    #[error("reversed port range {value:?} in {flag}: the first port must not exceed the second")]
    ReversedRange { flag: &'static str, value: String },
    #[error("invalid service name {value:?} in --services")]
    BadService { value: String },
    #[error("invalid number {value:?} for {flag}")]
    BadNumber { flag: &'static str, value: String },
    #[error("{flag} {value} is too long: at most {max} seconds (one year)")]
    TooLong {
        flag: &'static str,
        value: u64,
        max: u64,
    },
    #[error("invalid address {value:?} for {flag}: give IP:PORT, e.g. 127.0.0.1:9477")]
    BadAddress { flag: &'static str, value: String },
    #[error("--sysctl-root {value}: not a sysctl tree (no net/ipv4/conf/all/rp_filter below it); bind-mount the host's /proc/sys there")]
    NotSysctlTree { value: String },
    #[error("{flag} {value} is out of range: {min} to {max} seconds")]
    OutOfRange {
        flag: &'static str,
        value: u64,
        min: u64,
        max: u64,
    },
    #[error("--install and --uninstall cannot be used together")]
    InstallAndUninstall,
    #[error("load-balancer IP {ip} is outside the ingress subnet {subnet}")]
    LoadBalancerOutsideSubnet { ip: Ipv4Addr, subnet: String },
    #[error("task IP {ip} in --task-ip is outside the ingress subnet {subnet}")]
    TaskIpOutsideSubnet { ip: Ipv4Addr, subnet: String },
    #[error(
        "load-balancer IP {ip} is the network or broadcast address of the ingress subnet {subnet}"
    )]
    LoadBalancerNotHost { ip: Ipv4Addr, subnet: String },
    #[error("duplicate load-balancer IP {ip} in --ingress-gateway-ips")]
    DuplicateLoadBalancer { ip: Ipv4Addr },
    #[error("load balancers {first} and {second} share the last octet {octet}, so they would get the same ID; use --indexed-ids")]
    SameLastOctet {
        first: Ipv4Addr,
        second: Ipv4Addr,
        octet: u8,
    },
    #[error("load balancer {ip} would get ID {id}, but --id-encoding {encoding} holds IDs 1-{max}{hint}")]
    IdOutOfRange {
        ip: Ipv4Addr,
        id: u32,
        encoding: &'static str,
        max: u8,
        hint: &'static str,
    },
    #[error("{count} load-balancer positions in --ingress-gateway-ips, but --id-encoding {encoding} holds at most {max}")]
    TooManyLoadBalancers {
        count: usize,
        encoding: &'static str,
        max: u8,
    },
    #[error("--ingress-gateway-ips auto cannot be combined with addresses: {value:?}")]
    AutoWithIps { value: String },
    #[error("dird plan cannot discover load balancers: give --ingress-gateway-ips as addresses, not 'auto'")]
    AutoInPlan,
    #[error("--load-balancer-hosts needs --ingress-gateway-ips auto")]
    HostsWithoutAuto,
    #[error("load balancers {first} and {second} would both get ID {id}")]
    SameId {
        first: Ipv4Addr,
        second: Ipv4Addr,
        id: u32,
    },
    #[error("invalid sysctl line {line:?} in {path}")]
    BadSysctl { path: String, line: String },
}
