//! Load-balancer IDs and the numbers derived from them.
//!
//! An ID travels on the wire in the IP header (the whole TOS byte with `--id-encoding tos`,
//! the six DSCP bits with `dscp`). Inside task containers it becomes a connection mark, a
//! packet mark and a routing table. Those three are internal to dird and chosen so that they
//! never collide with the kernel's reserved tables or other users of the mark field:
//!
//! | what            | value                              |
//! |-----------------|------------------------------------|
//! | routing table   | `TABLE_BASE + ID` (7001..=7255)     |
//! | conn/packet mark| `ID << 16` under mask `0x00ff0000`  |
//! | rule priority   | 32700 (as the original daemon)      |
//!
//! Which nodes are load balancers and which ID each gets is [`crate::discovery`]'s to say.

use std::net::Ipv4Addr;

use crate::config::IdEncoding;

/// Routing tables used inside task containers are `TABLE_BASE + ID`: never 0, 253, 254, 255.
pub const TABLE_BASE: u32 = 7000;
/// dird owns these bits of the packet mark and the connection mark, and no others.
pub const MARK_MASK: u32 = 0x00ff_0000;
/// The ID sits in the mark shifted by this many bits.
pub const MARK_SHIFT: u32 = 16;
/// Priority of dird's policy-routing rules (before `main` at 32766).
pub const RULE_PRIORITY: u32 = 32700;

/// A load-balancer ID, 1..=255 (1..=63 for dscp). Zero means "not stamped" and is never an ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LbId(u8);

impl LbId {
    pub fn new(id: u32, encoding: IdEncoding) -> Option<LbId> {
        u8::try_from(id)
            .ok()
            .filter(|&v| v >= 1 && v <= encoding.max_id())
            .map(LbId)
    }

    pub fn get(self) -> u8 {
        self.0
    }

    /// The routing table inside task containers.
    pub fn table(self) -> u32 {
        TABLE_BASE + u32::from(self.0)
    }

    /// The connection/packet mark inside task containers (under [`MARK_MASK`]).
    pub fn mark(self) -> u32 {
        u32::from(self.0) << MARK_SHIFT
    }

    /// The TOS byte value the load balancer writes (before masking with the encoding's mask).
    pub fn tos_byte(self, encoding: IdEncoding) -> u8 {
        self.0 << encoding.tos_shift()
    }
}

impl std::fmt::Display for LbId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One load balancer: its ingress IP, its position in the list (1-based) and its ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoadBalancer {
    pub ip: Ipv4Addr,
    pub position: usize,
    pub id: LbId,
}

/// The load balancers of a configuration, with IDs assigned (by [`crate::discovery`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbSet {
    pub members: Vec<LoadBalancer>,
    /// IDs are list positions (explicitly, or forced by a subnet larger than /24).
    pub indexed: bool,
    /// `indexed` was forced because the ingress subnet is larger than /24.
    pub forced_indexed: bool,
    pub encoding: IdEncoding,
}

impl LbSet {
    /// This node's ID, if its ingress IP is one of the load balancers.
    pub fn id_of(&self, ip: Ipv4Addr) -> Option<LbId> {
        self.members.iter().find(|m| m.ip == ip).map(|m| m.id)
    }
}
