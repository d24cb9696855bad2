//! What the prober tells the model: the servers, and each observation of one of them.
//! Plain data, so tests (and other front ends) can make observations without sockets.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What a server is for, which decides how it is queried and what "current" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    Secondary,
    /// An authoritative server whose place in the transfer graph is unknown.
    Auth,
    /// A caching resolver, queried with RD=1; its answers age in its cache.
    Resolver,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Secondary => "secondary",
            Role::Auth => "auth",
            Role::Resolver => "resolver",
        }
    }

    pub fn is_resolver(self) -> bool {
        self == Role::Resolver
    }
}

/// One server to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub name: String,
    pub role: Role,
    pub addr: SocketAddr,
}

/// What a server said about NAME/TYPE, reduced to what decides whether two servers agree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AnswerData {
    /// Presentation-format records, sorted, so that order on the wire does not matter.
    Records(Vec<String>),
    NoData,
    NxDomain,
}

impl AnswerData {
    /// A short human form for tables and logs.
    pub fn summary(&self) -> String {
        match self {
            AnswerData::Records(r) if r.is_empty() => "(empty)".to_string(),
            AnswerData::Records(r) => r.join(", "),
            AnswerData::NoData => "NODATA".to_string(),
            AnswerData::NxDomain => "NXDOMAIN".to_string(),
        }
    }
}

/// Where a reported serial came from: RFC 9660 ZONEVERSION ties it to the answer itself,
/// the SOA query is the fallback for servers without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialSource {
    ZoneVersion,
    Soa,
}

impl SerialSource {
    pub fn label(self) -> &'static str {
        match self {
            SerialSource::ZoneVersion => "zoneversion",
            SerialSource::Soa => "soa",
        }
    }
}

/// A server's reply, digested by the prober.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub rcode: u16,
    pub authoritative: bool,
    /// `None` when the rcode is neither NOERROR nor NXDOMAIN.
    pub answer: Option<AnswerData>,
    /// The smallest TTL of the answer, or the negative-caching TTL for NXDOMAIN/NODATA.
    pub ttl: Option<u32>,
    pub serial: Option<u32>,
    pub serial_source: Option<SerialSource>,
    /// RFC 7314 EXPIRE: seconds until this copy of the zone stops being served.
    pub expire: Option<u32>,
    pub rtt: Duration,
}

impl Reply {
    /// A plain NOERROR/NXDOMAIN reply, the shape tests and simple servers produce.
    pub fn answer(answer: AnswerData, ttl: u32, serial: Option<u32>) -> Reply {
        Reply {
            rcode: if answer == AnswerData::NxDomain { 3 } else { 0 },
            authoritative: true,
            answer: Some(answer),
            ttl: Some(ttl),
            serial,
            serial_source: serial.map(|_| SerialSource::Soa),
            expire: None,
            rtt: Duration::ZERO,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Reply(Reply),
    /// Timeout, refused connection, or an unparsable reply: the server did not answer.
    Unreachable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub server: usize,
    pub at: Instant,
    pub outcome: Outcome,
}

/// The mnemonic of an RCODE.
pub fn rcode_name(rcode: u16) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        9 => "NOTAUTH".into(),
        n => format!("RCODE{n}"),
    }
}

/// RFC 1982 serial comparison: `a` is newer than `b`.
pub fn serial_newer(a: u32, b: u32) -> bool {
    a != b && (a.wrapping_sub(b) as i32) > 0
}
