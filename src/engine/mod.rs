//! The answer engine: one implementation of RFC 1034 §4.3.2 (with RFC 4592 wildcards and
//! RFC 6672 DNAME) that every role answers through: primaries, secondaries and the
//! resolver's local zones. It is pure: a zone snapshot and a question in, the sections of
//! a reply out. Transport concerns (EDNS, truncation, TCP, AXFR/IXFR) live in `server`.
//!
//! The bar is the answer Knot, NSD and BIND give for the same zone. Where they differ we
//! measured them and follow the majority (Knot and NSD when they agree); each such
//! choice is documented where it is made:
//! - positive answers carry the apex NS RRset in authority and its in-zone addresses in
//!   additional (NSD, BIND; Knot answers minimally): [`additional::apex_ns`];
//! - aliases are followed inside the zone only (Knot, BIND; NSD crosses into its other
//!   zones), loops and chains longer than [`MAX_CHAIN`] end with NOERROR (Knot, NSD):
//!   `query::follow`;
//! - QTYPE=ANY gets one RRset, the lowest type number (Knot; NSD picks another one, BIND
//!   sends all): [`any`];
//! - QCLASS=ANY is answered from the IN data with AA clear and authority and additional
//!   empty (NSD; Knot answers as for IN, BIND says FORMERR): [`resolve`];
//! - other classes (CH, HS, NONE) are REFUSED, as all three do for zone data;
//! - owners on the query's path (answer owner, apex, cut, DNAME owner) are spelled as in
//!   the query (Knot, NSD). Knot and NSD also echo the query's case inside RDATA names
//!   (`mail.ExAmPlE.TeSt`) because their name compression matches suffixes
//!   case-insensitively; that is the transport encoder's business, not the engine's.
//!
//! Hot path: `resolve_into` with one reused [`Answer`] per worker lower-cases the query
//! name once, does one hash lookup per label below the apex, and takes the apex NS and
//! negative SOA records from data derived once per zone version (`derived`).

mod additional;
mod any;
mod derived;
pub mod dname;
mod lookup;
mod negative;
mod owner;
mod query;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_more;

use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, LowerName, Name, Record, RecordType};

use crate::catalog::Catalog;
use crate::zone::Zone;
use crate::zone::wire_key::WireKey;

/// The most CNAME/DNAME steps followed for one query. Knot stops after 5, BIND SERVFAILs
/// after about 12, NSD follows more than 25; chains that long are configuration errors,
/// and 16 bounds the work per query while answering every sane chain in full.
pub const MAX_CHAIN: usize = 16;

/// The sections of a reply, before the transport fits them into a message.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub rcode: ResponseCode,
    /// The AA bit: set for authoritative data, clear on referrals.
    pub authoritative: bool,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
    /// How many of the first `additionals` must fit, or the reply is truncated: a
    /// referral's in-domain glue (RFC 9471 §3.1), without which the delegated zone's
    /// servers cannot be reached. The rest of the additional data is optional.
    pub required_additionals: usize,
    /// The zone version that produced this answer; the transport reads its serial for
    /// ZONEVERSION (RFC 9660) and EXPIRE.
    pub zone: Option<Arc<Zone>>,
    /// An Extended DNS Error (RFC 8914) info code to attach, e.g. 24 for an expired zone.
    pub ede: Option<u16>,
}

impl Answer {
    /// Empties the answer for reuse, keeping the sections' allocations: a transport that
    /// keeps one `Answer` per worker and calls [`resolve_into`] allocates nothing for
    /// sections in the steady state.
    pub fn reset(&mut self) {
        self.rcode = ResponseCode::NoError;
        self.authoritative = false;
        self.answers.clear();
        self.authorities.clear();
        self.additionals.clear();
        self.required_additionals = 0;
        self.zone = None;
        self.ede = None;
    }

    fn set_rcode_only(&mut self, rcode: ResponseCode) {
        self.reset();
        self.rcode = rcode;
    }

    fn rcode_only(rcode: ResponseCode) -> Answer {
        Answer {
            rcode,
            ..Answer::default()
        }
    }
}

/// Answers a question from the most specific zone in `catalog`, or REFUSED when no zone
/// contains the name.
pub fn resolve(catalog: &Catalog, qname: &Name, qtype: RecordType, qclass: DNSClass) -> Answer {
    let mut ans = Answer::default();
    resolve_into(catalog, qname, qtype, qclass, &mut ans);
    ans
}

/// [`resolve`] into a reused `Answer` (see [`Answer::reset`]).
pub fn resolve_into(
    catalog: &Catalog,
    qname: &Name,
    qtype: RecordType,
    qclass: DNSClass,
    ans: &mut Answer,
) {
    match WireKey::new(qname) {
        Some(key) => resolve_into_keyed(catalog, qname, &key, qtype, qclass, ans),
        None => ans.set_rcode_only(ResponseCode::Refused),
    }
}

/// [`resolve_into`] for a caller that already holds `qname` as a [`WireKey`].
pub fn resolve_into_keyed(
    catalog: &Catalog,
    qname: &Name,
    key: &WireKey,
    qtype: RecordType,
    qclass: DNSClass,
    ans: &mut Answer,
) {
    let any_class = match qclass {
        DNSClass::IN => false,
        DNSClass::ANY => true,
        _ => return ans.set_rcode_only(ResponseCode::Refused),
    };
    let qlower = LowerName::new(qname);
    let Some(mut handle) = catalog.find_wire(key) else {
        return ans.set_rcode_only(ResponseCode::Refused);
    };
    // The DS RRset of a zone lives in its parent (RFC 4035 §3.1.4.1): when we serve both,
    // the parent answers, as all three peers do.
    if qtype == RecordType::DS
        && handle.lower() == &qlower
        && !qlower.is_root()
        && let Some(parent) = catalog.find(&qlower.base_name())
    {
        handle = parent;
    }
    if handle.is_expired() {
        // RFC 1035 §4.3.5: an expired secondary must not answer from its data; EDE 24 is
        // "Invalid Data" (RFC 8914 §4.25).
        ans.set_rcode_only(ResponseCode::ServFail);
        ans.ede = Some(24);
        return;
    }
    let Some(zone) = handle.current() else {
        return ans.set_rcode_only(ResponseCode::ServFail);
    };
    query::answer_in_zone(&zone, qname, &qlower, Some(key), qtype, ans);
    if any_class {
        // RFC 1034 §6.2 (QCLASS=*): we cannot vouch for classes we do not serve, so the
        // answer is not authoritative. NSD, measured: AA clear, answer only, even on
        // NXDOMAIN/NODATA (no SOA). Referrals keep their sections.
        ans.authoritative = false;
        if !(ans.answers.is_empty()
            && ans
                .authorities
                .iter()
                .any(|r| r.record_type() == RecordType::NS))
        {
            ans.authorities.clear();
            ans.additionals.clear();
        }
    }
}

/// Answers a question from one zone snapshot. `qname` must be at or below the apex;
/// a name outside the zone gets REFUSED.
pub fn answer(zone: &Arc<Zone>, qname: &Name, qtype: RecordType) -> Answer {
    let qlower = LowerName::new(qname);
    if !zone.origin_lower().zone_of(&qlower) {
        return Answer::rcode_only(ResponseCode::Refused);
    }
    let mut ans = Answer::default();
    query::answer_in_zone(zone, qname, &qlower, None, qtype, &mut ans);
    ans
}
