//! The answer engine: one implementation of RFC 1034 §4.3.2 (with RFC 4592 wildcards)
//! that every role answers through: primaries, secondaries and the resolver's local
//! zones. It is pure: a zone snapshot and a question in, the sections of a reply out.
//! Transport concerns (EDNS, truncation, TCP) live in `server`.

use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use crate::catalog::Catalog;
use crate::zone::Zone;

/// The sections of a reply, before the transport fits them into a message.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub rcode: ResponseCode,
    /// The AA bit: set for authoritative data, clear on referrals.
    pub authoritative: bool,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
    /// The zone version that produced this answer; the transport reads its serial for
    /// ZONEVERSION (RFC 9660) and EXPIRE.
    pub zone: Option<Arc<Zone>>,
    /// An Extended DNS Error (RFC 8914) info code to attach, e.g. 24 for an expired zone.
    pub ede: Option<u16>,
}

/// Answers a question from the most specific zone in `catalog`, or REFUSED when no zone
/// contains the name.
pub fn resolve(catalog: &Catalog, qname: &Name, qtype: RecordType, qclass: DNSClass) -> Answer {
    let _ = (catalog, qname, qtype, qclass);
    unimplemented!("answer engine")
}

/// Answers a question from one zone snapshot. `qname` must be at or below the apex.
pub fn answer(zone: &Arc<Zone>, qname: &Name, qtype: RecordType) -> Answer {
    let _ = (zone, qname, qtype);
    unimplemented!("answer engine")
}
