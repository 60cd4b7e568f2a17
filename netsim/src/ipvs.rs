//! IPVS over generic netlink (family "IPVS", `include/uapi/linux/ip_vs.h`): fwmark services,
//! masquerading destinations, and per-destination statistics read back.
//!
//! A socket talks to the IPVS table of the namespace it was opened in: open it with
//! [`Ipvs::open_in`].

use std::net::Ipv4Addr;
use std::path::Path;

use netlink_packet_core::{
    DecodeError, Emitable, NetlinkMessage, NetlinkPayload, Nla, NlasIterator,
    ParseableParametrized, NLA_TYPE_MASK, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};
use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};

use crate::Error;

const CMD_NEW_SERVICE: u8 = 1;
const CMD_NEW_DEST: u8 = 5;
const CMD_GET_DEST: u8 = 8;
const CMD_ATTR_SERVICE: u16 = 1;
const CMD_ATTR_DEST: u16 = 2;
const SVC_ATTR_AF: u16 = 1;
const SVC_ATTR_FWMARK: u16 = 5;
const SVC_ATTR_SCHED_NAME: u16 = 6;
const SVC_ATTR_FLAGS: u16 = 7;
const SVC_ATTR_TIMEOUT: u16 = 8;
const SVC_ATTR_NETMASK: u16 = 9;
const DEST_ATTR_ADDR: u16 = 1;
const DEST_ATTR_PORT: u16 = 2;
const DEST_ATTR_FWD_METHOD: u16 = 3;
const DEST_ATTR_WEIGHT: u16 = 4;
const DEST_ATTR_U_THRESH: u16 = 5;
const DEST_ATTR_L_THRESH: u16 = 6;
const DEST_ATTR_STATS: u16 = 10;
const DEST_ATTR_ADDR_FAMILY: u16 = 11;
const DEST_ATTR_STATS64: u16 = 12;
const STATS_ATTR_CONNS: u16 = 1;
const STATS_ATTR_INPKTS: u16 = 2;
const STATS_ATTR_OUTPKTS: u16 = 3;
const IP_VS_CONN_F_MASQ: u32 = 0;
const AF_INET: u16 = libc::AF_INET as u16;

/// A raw netlink attribute: bytes or nested attributes.
#[derive(Debug, Clone)]
pub struct Attr {
    kind: u16,
    value: Value,
}

#[derive(Debug, Clone)]
enum Value {
    Bytes(Vec<u8>),
    Nested(Vec<Attr>),
}

impl Attr {
    fn bytes(kind: u16, v: impl Into<Vec<u8>>) -> Self {
        Attr {
            kind,
            value: Value::Bytes(v.into()),
        }
    }
    fn u16(kind: u16, v: u16) -> Self {
        Self::bytes(kind, v.to_ne_bytes())
    }
    fn u32(kind: u16, v: u32) -> Self {
        Self::bytes(kind, v.to_ne_bytes())
    }
    fn nested(kind: u16, v: Vec<Attr>) -> Self {
        Attr {
            kind,
            value: Value::Nested(v),
        }
    }
    fn raw(&self) -> &[u8] {
        match &self.value {
            Value::Bytes(b) => b,
            Value::Nested(_) => &[],
        }
    }
}

impl Nla for Attr {
    fn value_len(&self) -> usize {
        match &self.value {
            Value::Bytes(b) => b.len(),
            Value::Nested(v) => v.as_slice().buffer_len(),
        }
    }
    fn kind(&self) -> u16 {
        self.kind
    }
    fn emit_value(&self, buffer: &mut [u8]) {
        match &self.value {
            Value::Bytes(b) => buffer[..b.len()].copy_from_slice(b),
            Value::Nested(v) => v.as_slice().emit(buffer),
        }
    }
}

fn parse_attrs(buf: &[u8]) -> Result<Vec<Attr>, DecodeError> {
    let mut out = Vec::new();
    for nla in NlasIterator::new(buf) {
        let nla = nla?;
        out.push(Attr::bytes(
            nla.kind() & NLA_TYPE_MASK,
            nla.value().to_vec(),
        ));
    }
    Ok(out)
}

fn find(attrs: &[Attr], kind: u16) -> Option<&Attr> {
    attrs.iter().find(|a| a.kind == kind)
}

fn read_u32(a: Option<&Attr>) -> u64 {
    a.and_then(|a| a.raw().get(..4))
        .and_then(|b| b.try_into().ok())
        .map(u32::from_ne_bytes)
        .map_or(0, u64::from)
}

fn read_u64(a: Option<&Attr>) -> u64 {
    a.and_then(|a| a.raw().get(..8))
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_ne_bytes)
}

/// One IPVS generic netlink message.
#[derive(Debug, Clone)]
pub struct IpvsMsg {
    cmd: u8,
    attrs: Vec<Attr>,
}

impl GenlFamily for IpvsMsg {
    fn family_name() -> &'static str {
        "IPVS"
    }
    fn command(&self) -> u8 {
        self.cmd
    }
    fn version(&self) -> u8 {
        1
    }
}

impl Emitable for IpvsMsg {
    fn buffer_len(&self) -> usize {
        self.attrs.as_slice().buffer_len()
    }
    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMsg {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        Ok(IpvsMsg {
            cmd: header.cmd,
            attrs: parse_attrs(buf)?,
        })
    }
}

/// Counters of one real server, as IPVS reports them (its estimator folds per-CPU counters
/// in every 2 s, so they lag that much).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestStats {
    pub conns: u64,
    pub inpkts: u64,
    pub outpkts: u64,
}

/// A generic netlink socket bound to one namespace's IPVS.
pub struct Ipvs {
    sock: Socket,
    family: u16,
    seq: u32,
    ns: String,
}

fn ipvs_err(ns: &str, step: &str, cause: impl Into<crate::error::Cause>) -> Error {
    Error::Ipvs {
        ns: ns.to_string(),
        step: step.to_string(),
        source: cause.into(),
    }
}

fn addr16(ip: Ipv4Addr) -> Vec<u8> {
    let mut v = ip.octets().to_vec();
    v.resize(16, 0);
    v
}

impl Ipvs {
    /// Open a socket inside `netns` and resolve the IPVS family there.
    pub fn open_in(netns: &Path) -> Result<Ipvs, Error> {
        let ns = netns.display().to_string();
        crate::netns::run_in(netns, move || Ipvs::open(ns))
    }

    fn open(ns: String) -> Result<Ipvs, Error> {
        let mut sock = Socket::new(NETLINK_GENERIC).map_err(|e| ipvs_err(&ns, "socket", e))?;
        sock.bind_auto().map_err(|e| ipvs_err(&ns, "bind", e))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| ipvs_err(&ns, "connect", e))?;
        let mut me = Ipvs {
            sock,
            family: 0,
            seq: 1,
            ns,
        };
        me.family = me.resolve()?;
        Ok(me)
    }

    /// Sends one request (`msg` already carries its family id) with the next sequence number.
    fn send<F>(&mut self, msg: GenlMessage<F>, flags: u16, step: &str) -> Result<(), Error>
    where
        F: GenlFamily + Emitable + std::fmt::Debug,
    {
        let mut nl = NetlinkMessage::from(msg);
        nl.header.flags = flags;
        nl.header.sequence_number = self.next_seq();
        nl.finalize();
        let mut buf = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut buf);
        self.sock
            .send(&buf, 0)
            .map_err(|e| ipvs_err(&self.ns, step, e))?;
        Ok(())
    }

    fn resolve(&mut self) -> Result<u16, Error> {
        let mut msg = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName("IPVS".to_string())],
        });
        msg.finalize();
        self.send(msg, NLM_F_REQUEST, "resolve family")?;
        let mut found = None;
        self.receive::<GenlCtrl>("resolve family IPVS (is the ip_vs module loaded?)", |m| {
            for a in m.payload.nlas {
                if let GenlCtrlAttrs::FamilyId(id) = a {
                    found = Some(id);
                }
            }
        })?;
        found.ok_or_else(|| {
            ipvs_err(
                &self.ns,
                "resolve family",
                "no IPVS family id in the answer",
            )
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    /// Read messages until ACK/DONE; fails on a netlink error.
    fn receive<P>(&self, step: &str, mut each: impl FnMut(GenlMessage<P>)) -> Result<(), Error>
    where
        P: ParseableParametrized<[u8], GenlHeader> + std::fmt::Debug,
    {
        let mut rx = vec![0u8; 65536];
        loop {
            let n = self
                .sock
                .recv(&mut &mut rx[..], 0)
                .map_err(|e| ipvs_err(&self.ns, step, e))?;
            let mut off = 0;
            while off < n {
                let msg = NetlinkMessage::<GenlMessage<P>>::deserialize(&rx[off..n])
                    .map_err(|e| ipvs_err(&self.ns, step, format!("decode: {e}")))?;
                let len = msg.header.length as usize;
                let multi = msg.header.flags & netlink_packet_core::NLM_F_MULTIPART != 0;
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok(()),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(()),
                            Some(_) => Err(ipvs_err(&self.ns, step, e.to_io())),
                        }
                    }
                    NetlinkPayload::InnerMessage(m) => {
                        each(m);
                        if !multi {
                            return Ok(());
                        }
                    }
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
    }

    fn request(
        &mut self,
        step: &str,
        cmd: u8,
        attrs: Vec<Attr>,
        dump: bool,
    ) -> Result<Vec<IpvsMsg>, Error> {
        let mut msg = GenlMessage::from_payload(IpvsMsg { cmd, attrs });
        msg.set_resolved_family_id(self.family);
        let flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { NLM_F_ACK };
        self.send(msg, flags, step)?;
        let mut out = Vec::new();
        self.receive::<IpvsMsg>(step, |m| out.push(m.payload))?;
        Ok(out)
    }

    fn fwmark_service(fwmark: u32) -> Vec<Attr> {
        vec![
            Attr::u16(SVC_ATTR_AF, AF_INET),
            Attr::u32(SVC_ATTR_FWMARK, fwmark),
        ]
    }

    /// `ipvsadm -A -f FWMARK -s SCHED`
    pub fn add_fwmark_service(&mut self, fwmark: u32, sched: &str) -> Result<(), Error> {
        let mut svc = Self::fwmark_service(fwmark);
        let mut name = sched.as_bytes().to_vec();
        name.push(0);
        svc.push(Attr::bytes(SVC_ATTR_SCHED_NAME, name));
        let mut flags = 0u32.to_ne_bytes().to_vec();
        flags.extend_from_slice(&u32::MAX.to_ne_bytes());
        svc.push(Attr::bytes(SVC_ATTR_FLAGS, flags));
        svc.push(Attr::u32(SVC_ATTR_TIMEOUT, 0));
        svc.push(Attr::u32(SVC_ATTR_NETMASK, u32::MAX));
        let step = format!("add service FWM {fwmark} {sched}");
        self.request(
            &step,
            CMD_NEW_SERVICE,
            vec![Attr::nested(CMD_ATTR_SERVICE, svc)],
            false,
        )
        .map(|_| ())
    }

    /// `ipvsadm -a -f FWMARK -r IP:0 -m -w WEIGHT`
    pub fn add_masq_dest(&mut self, fwmark: u32, ip: Ipv4Addr, weight: u32) -> Result<(), Error> {
        let dest = vec![
            Attr::bytes(DEST_ATTR_ADDR, addr16(ip)),
            Attr::bytes(DEST_ATTR_PORT, 0u16.to_be_bytes()),
            Attr::u32(DEST_ATTR_FWD_METHOD, IP_VS_CONN_F_MASQ),
            Attr::u32(DEST_ATTR_WEIGHT, weight),
            Attr::u32(DEST_ATTR_U_THRESH, 0),
            Attr::u32(DEST_ATTR_L_THRESH, 0),
            Attr::u16(DEST_ATTR_ADDR_FAMILY, AF_INET),
        ];
        let attrs = vec![
            Attr::nested(CMD_ATTR_SERVICE, Self::fwmark_service(fwmark)),
            Attr::nested(CMD_ATTR_DEST, dest),
        ];
        self.request(
            &format!("add dest {ip} to FWM {fwmark}"),
            CMD_NEW_DEST,
            attrs,
            false,
        )
        .map(|_| ())
    }

    /// Every destination of the fwmark service with its counters.
    pub fn dest_stats(&mut self, fwmark: u32) -> Result<Vec<(Ipv4Addr, DestStats)>, Error> {
        let step = format!("list dests of FWM {fwmark}");
        let msgs = self.request(
            &step,
            CMD_GET_DEST,
            vec![Attr::nested(CMD_ATTR_SERVICE, Self::fwmark_service(fwmark))],
            true,
        )?;
        let mut out = Vec::new();
        for m in msgs {
            let Some(dest) = find(&m.attrs, CMD_ATTR_DEST) else {
                continue;
            };
            let d = parse_attrs(dest.raw()).map_err(|e| ipvs_err(&self.ns, &step, e))?;
            let ip = find(&d, DEST_ATTR_ADDR)
                .and_then(|a| a.raw().get(..4))
                .map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]))
                .unwrap_or(Ipv4Addr::UNSPECIFIED);
            let stats = if let Some(s64) = find(&d, DEST_ATTR_STATS64) {
                let s = parse_attrs(s64.raw()).map_err(|e| ipvs_err(&self.ns, &step, e))?;
                DestStats {
                    conns: read_u64(find(&s, STATS_ATTR_CONNS)),
                    inpkts: read_u64(find(&s, STATS_ATTR_INPKTS)),
                    outpkts: read_u64(find(&s, STATS_ATTR_OUTPKTS)),
                }
            } else if let Some(s32) = find(&d, DEST_ATTR_STATS) {
                let s = parse_attrs(s32.raw()).map_err(|e| ipvs_err(&self.ns, &step, e))?;
                DestStats {
                    conns: read_u32(find(&s, STATS_ATTR_CONNS)),
                    inpkts: read_u32(find(&s, STATS_ATTR_INPKTS)),
                    outpkts: read_u32(find(&s, STATS_ATTR_OUTPKTS)),
                }
            } else {
                DestStats::default()
            };
            out.push((ip, stats));
        }
        Ok(out)
    }
}

/// Is IPVS usable here (root namespace of this machine)? Tries `modprobe ip_vs` if needed.
pub fn host_has_ipvs() -> bool {
    if Path::new("/proc/net/ip_vs").exists() {
        return true;
    }
    let _ = std::process::Command::new("modprobe")
        .arg("ip_vs")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    Path::new("/proc/net/ip_vs").exists()
}
