//! The one check that a load balancer's address lies in the ingress subnet, used by every
//! source (and by `dird plan` and `dird doctor` for the addresses they are given).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::config::ConfigError;

/// `Ok` when `ip` is in `subnet`; otherwise the error naming both.
pub fn in_subnet(ip: Ipv4Addr, subnet: Ipv4Net) -> Result<(), ConfigError> {
    if subnet.contains(&ip) {
        return Ok(());
    }
    Err(ConfigError::LoadBalancerOutsideSubnet {
        ip,
        subnet: subnet.to_string(),
    })
}
