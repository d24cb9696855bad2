//! Serving AXFR (RFC 5936) and IXFR (RFC 1995), sans-IO.
//!
//! A transfer is an iterator of wire messages built lazily from one `Arc<Zone>` snapshot:
//! the snapshot keeps the version alive and unchanged however long the client takes, an
//! edit that lands meanwhile publishes a new `Arc` without touching this one, and only one
//! message is in memory at a time, so a million-record zone streams in constant space.
//!
//! Shape, checked against Knot 3.2 and BIND 9.18: SOA first and last, the question in the
//! first message only (as BIND; Knot repeats it, RFC 5936 §2.2.1 allows both), AA set,
//! messages filled to about 16 KiB like Knot. Compression pointers reach only the first
//! 16 KiB of a message, so larger messages compress worse for little gain; the size is an
//! option, capped at 64 KiB.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::ProtoError;
use hickory_proto::op::MessageType;
use hickory_proto::op::{
    Edns, Header, HeaderCounts, Message, Metadata, OpCode, Query, ResponseCode,
};
use hickory_proto::rr::SerialNumber;
use hickory_proto::rr::{DNSClass, Record, RecordType};
use thiserror::Error;

use super::acl::Acl;
use super::wire::MessageWriter;
use super::{MAX_TCP_MESSAGE, soa_serial};
use crate::tsig::{ResponseSigner, TSIG_RESERVE, TsigFailure};
use crate::zone::diff::Changeset;
use crate::zone::{RRset, Zone};

/// Knot's AXFR message size.
pub const DEFAULT_MESSAGE_SIZE: usize = 16 * 1024;

/// Reasons a request is not a transfer we can serve; each maps to an RCODE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    FormErr,
    NotImp,
    Refused,
    NotAuth,
    ServFail,
}

impl Reject {
    pub fn rcode(self) -> ResponseCode {
        match self {
            Reject::FormErr => ResponseCode::FormErr,
            Reject::NotImp => ResponseCode::NotImp,
            Reject::Refused => ResponseCode::Refused,
            Reject::NotAuth => ResponseCode::NotAuth,
            Reject::ServFail => ResponseCode::ServFail,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XfrKind {
    Axfr,
    /// The client's serial, from the SOA in the request's authority section.
    Ixfr {
        client_serial: u32,
    },
}

/// A parsed AXFR or IXFR request.
#[derive(Debug, Clone)]
pub struct XfrRequest {
    pub id: u16,
    pub query: Query,
    pub kind: XfrKind,
    pub recursion_desired: bool,
}

impl XfrRequest {
    /// Validates the shape of a transfer request (RFC 5936 §2.1, RFC 1995 §3).
    pub fn parse(msg: &Message) -> Result<XfrRequest, Reject> {
        if msg.message_type != MessageType::Query || msg.op_code != OpCode::Query {
            return Err(Reject::FormErr);
        }
        let [query] = msg.queries.as_slice() else {
            return Err(Reject::FormErr);
        };
        if query.query_class() != DNSClass::IN {
            return Err(Reject::NotImp);
        }
        let kind = match query.query_type() {
            RecordType::AXFR => XfrKind::Axfr,
            RecordType::IXFR => {
                let soa = msg
                    .authorities
                    .iter()
                    .find(|r| r.record_type() == RecordType::SOA && r.name == *query.name())
                    .and_then(soa_serial)
                    .ok_or(Reject::FormErr)?;
                XfrKind::Ixfr { client_serial: soa }
            }
            _ => return Err(Reject::FormErr),
        };
        Ok(XfrRequest {
            id: msg.id,
            query: query.clone(),
            kind,
            recursion_desired: msg.recursion_desired,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

#[derive(Debug, Error)]
pub enum ServeError {
    #[error("encoding a transfer message: {0}")]
    Encode(#[from] ProtoError),
    #[error("transfer {0}: a record does not fit in a message on its own")]
    RecordTooLarge(u16),
    #[error(transparent)]
    Tsig(#[from] TsigFailure),
}

/// Per-transfer settings the driver supplies.
#[derive(Debug, Clone)]
pub struct XfrOptions {
    /// Target size of each message, at most 65535.
    pub message_size: usize,
    /// Signs every message when the request was signed.
    pub signer: Option<ResponseSigner>,
    /// Seconds since the epoch, for TSIG.
    pub now: u64,
    /// OPT record for the first message (the transport adds EXPIRE to it as needed).
    pub edns: Option<Edns>,
}

impl Default for XfrOptions {
    fn default() -> Self {
        XfrOptions {
            message_size: DEFAULT_MESSAGE_SIZE,
            signer: None,
            now: 0,
            edns: None,
        }
    }
}

/// What an IXFR request is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IxfrPlan {
    /// The client has our serial or a newer one: the single current SOA.
    UpToDate,
    Incremental(Vec<Changeset>),
    /// History is missing, broken, or larger than the zone: AXFR-style reply.
    Full,
}

/// Decides how to answer an IXFR, given the journal's changesets from the client's
/// serial to the current one (condensed or per step, as the store returns them).
pub fn plan_ixfr(zone: &Zone, client_serial: u32, history: Option<Vec<Changeset>>) -> IxfrPlan {
    let ours = SerialNumber::new(zone.serial());
    let theirs = SerialNumber::new(client_serial);
    if theirs >= ours {
        return IxfrPlan::UpToDate;
    }
    let Some(history) = history else {
        return IxfrPlan::Full;
    };
    if history.is_empty() {
        return IxfrPlan::Full;
    }
    let chained = history.first().map(|c| c.from_serial) == Some(client_serial)
        && history.last().map(|c| c.to_serial) == Some(zone.serial())
        && history
            .windows(2)
            .all(|w| w[0].to_serial == w[1].from_serial)
        && history.iter().all(|c| {
            c.removed.first().and_then(soa_serial) == Some(c.from_serial)
                && c.added.first().and_then(soa_serial) == Some(c.to_serial)
        });
    if !chained {
        return IxfrPlan::Full;
    }
    let size: usize = history
        .iter()
        .map(|c| c.removed.len() + c.added.len())
        .sum();
    if size >= zone.record_count() {
        return IxfrPlan::Full;
    }
    IxfrPlan::Incremental(history)
}

/// Answers one transfer request: the access check, the UDP rules and the choice between
/// AXFR, IXFR and a single SOA. `history(client_serial)` is asked for changesets only
/// when an IXFR needs them. `zone` is None when we have no data for it (a secondary
/// before its first transfer), which is SERVFAIL.
pub fn respond(
    request: &Message,
    src: IpAddr,
    allow: &Acl,
    zone: Option<Arc<Zone>>,
    transport: Transport,
    history: impl FnOnce(u32) -> Option<Vec<Changeset>>,
    opts: XfrOptions,
) -> XfrStream {
    let req = match XfrRequest::parse(request) {
        Ok(r) => r,
        Err(rej) => return XfrStream::reject_message(request, rej, opts),
    };
    if !allow.allows(src) {
        return XfrStream::reject(&req, Reject::Refused, opts);
    }
    let Some(zone) = zone else {
        return XfrStream::reject(&req, Reject::ServFail, opts);
    };
    if *req.query.name() != *zone.origin() {
        return XfrStream::reject(&req, Reject::NotAuth, opts);
    }
    match (req.kind.clone(), transport) {
        (XfrKind::Axfr, Transport::Udp) => XfrStream::reject(&req, Reject::NotImp, opts),
        (XfrKind::Axfr, Transport::Tcp) => XfrStream::axfr(&req, zone, opts),
        (XfrKind::Ixfr { client_serial }, t) => {
            let ours = SerialNumber::new(zone.serial());
            let theirs = SerialNumber::new(client_serial);
            if theirs >= ours {
                return XfrStream::soa_only(&req, zone, opts);
            }
            if t == Transport::Udp {
                return XfrStream::truncated(&req, opts);
            }
            match plan_ixfr(&zone, client_serial, history(client_serial)) {
                IxfrPlan::UpToDate => XfrStream::soa_only(&req, zone, opts),
                IxfrPlan::Incremental(cs) => XfrStream::ixfr(&req, zone, cs, opts),
                IxfrPlan::Full => XfrStream::axfr(&req, zone, opts),
            }
        }
    }
}

/// An AXFR walks the snapshot in this many parts, gathering one part's RRsets at a time:
/// a million `Arc` clones up front (and as many drops at the end) cost a tenth of the
/// transfer.
const AXFR_PARTS: usize = 256;

/// The records of a transfer, produced one at a time.
enum Source {
    /// SOA, every other RRset of the snapshot, SOA again.
    Axfr {
        zone: Arc<Zone>,
        /// The next part of the zone to gather once `sets` is used up.
        part: usize,
        sets: Vec<Arc<RRset>>,
        set: usize,
        rdata: usize,
        phase: u8,
    },
    List(std::vec::IntoIter<Record>),
    Empty,
}

/// What happened to the next record of a source.
enum Wrote {
    Record,
    /// The message is full; the record stays next in line.
    Full,
    Exhausted,
}

impl Source {
    /// Writes the next record into `w`, advancing only if it fitted. AXFR records are
    /// written straight from the shared RRsets, without building a `Record` each.
    fn write_next(
        &mut self,
        w: &mut MessageWriter,
        pending: &mut Option<Record>,
    ) -> Result<Wrote, ProtoError> {
        match self {
            Source::Empty => Ok(Wrote::Exhausted),
            Source::List(it) => {
                let Some(rec) = pending.take().or_else(|| it.next()) else {
                    return Ok(Wrote::Exhausted);
                };
                if w.record(&rec)? {
                    Ok(Wrote::Record)
                } else {
                    *pending = Some(rec);
                    Ok(Wrote::Full)
                }
            }
            Source::Axfr {
                zone,
                part,
                sets,
                set,
                rdata,
                phase,
            } => loop {
                let (s, rd) = match phase {
                    0 | 2 => {
                        let soa = zone.soa();
                        match soa.rdata.first() {
                            Some(rd) => (soa, rd),
                            None => return Ok(Wrote::Exhausted),
                        }
                    }
                    1 => {
                        let Some(s) = sets.get(*set) else {
                            if *part == AXFR_PARTS {
                                *phase = 2;
                                continue;
                            }
                            sets.clear();
                            sets.extend(
                                zone.nodes_part(*part, AXFR_PARTS)
                                    .flat_map(|(_, n)| n.rrsets().iter())
                                    .filter(|s| s.rtype != RecordType::SOA)
                                    .cloned(),
                            );
                            *part += 1;
                            *set = 0;
                            continue;
                        };
                        let Some(rd) = s.rdata.get(*rdata) else {
                            *set += 1;
                            *rdata = 0;
                            continue;
                        };
                        (s, rd)
                    }
                    _ => return Ok(Wrote::Exhausted),
                };
                if !w.record_parts(&s.name, s.rtype, DNSClass::IN, s.ttl, rd)? {
                    return Ok(Wrote::Full);
                }
                if *phase == 1 {
                    *rdata += 1;
                } else {
                    *phase += 1;
                }
                return Ok(Wrote::Record);
            },
        }
    }
}

/// The messages of one transfer response. Each item is one complete DNS message (without
/// the TCP length prefix), signed if the options carry a signer.
pub struct XfrStream {
    id: u16,
    query: Option<Query>,
    flags: Metadata,
    source: Source,
    pending: Option<Record>,
    opts: XfrOptions,
    first: bool,
    done: bool,
}

impl XfrStream {
    fn new(req: &XfrRequest, source: Source, opts: XfrOptions) -> Self {
        let mut flags = Metadata::new(req.id, MessageType::Response, OpCode::Query);
        flags.authoritative = true;
        flags.recursion_desired = req.recursion_desired;
        XfrStream {
            id: req.id,
            query: Some(req.query.clone()),
            flags,
            source,
            pending: None,
            opts,
            first: true,
            done: false,
        }
    }

    pub fn axfr(req: &XfrRequest, zone: Arc<Zone>, opts: XfrOptions) -> Self {
        let source = Source::Axfr {
            zone,
            part: 0,
            sets: Vec::new(),
            set: 0,
            rdata: 0,
            phase: 0,
        };
        XfrStream::new(req, source, opts)
    }

    /// RFC 1995 §4: new SOA, then per changeset the old SOA and deletions and the new SOA
    /// and additions, then the new SOA again.
    pub fn ixfr(
        req: &XfrRequest,
        zone: Arc<Zone>,
        changesets: Vec<Changeset>,
        opts: XfrOptions,
    ) -> Self {
        let soa: Vec<Record> = zone.soa().records().collect();
        let mut recs = Vec::new();
        recs.extend(soa.iter().cloned());
        for cs in changesets {
            recs.extend(cs.removed);
            recs.extend(cs.added);
        }
        recs.extend(soa);
        XfrStream::new(req, Source::List(recs.into_iter()), opts)
    }

    /// The current SOA alone: the client is up to date.
    pub fn soa_only(req: &XfrRequest, zone: Arc<Zone>, opts: XfrOptions) -> Self {
        let soa: Vec<Record> = zone.soa().records().collect();
        XfrStream::new(req, Source::List(soa.into_iter()), opts)
    }

    /// An empty reply with TC set: the IXFR needs TCP.
    pub fn truncated(req: &XfrRequest, opts: XfrOptions) -> Self {
        let mut s = XfrStream::new(req, Source::Empty, opts);
        s.flags.truncation = true;
        s.flags.authoritative = true;
        s
    }

    pub fn reject(req: &XfrRequest, why: Reject, opts: XfrOptions) -> Self {
        let mut s = XfrStream::new(req, Source::Empty, opts);
        s.flags.response_code = why.rcode();
        s.flags.authoritative = false;
        s
    }

    /// A rejection for a request that did not even parse as a transfer.
    pub fn reject_message(request: &Message, why: Reject, opts: XfrOptions) -> Self {
        let mut flags = Metadata::new(request.id, MessageType::Response, request.op_code);
        flags.recursion_desired = request.recursion_desired;
        flags.response_code = why.rcode();
        XfrStream {
            id: request.id,
            query: request.queries.first().cloned(),
            flags,
            source: Source::Empty,
            pending: None,
            opts,
            first: true,
            done: false,
        }
    }

    pub fn id(&self) -> u16 {
        self.id
    }

    fn build(&mut self) -> Result<Vec<u8>, ServeError> {
        let mut limit = self.opts.message_size.clamp(512, MAX_TCP_MESSAGE);
        if self.opts.signer.is_some() {
            limit -= TSIG_RESERVE;
        }
        let mut w = MessageWriter::new(limit);
        let mut counts = HeaderCounts::default();
        if let (true, Some(q)) = (self.first, &self.query) {
            w.question(q);
            counts.queries = 1;
        }
        while counts.answers < u16::MAX {
            match self.source.write_next(&mut w, &mut self.pending)? {
                Wrote::Record => counts.answers += 1,
                Wrote::Exhausted => {
                    self.done = true;
                    break;
                }
                Wrote::Full if counts.answers == 0 => {
                    return Err(ServeError::RecordTooLarge(self.id));
                }
                Wrote::Full => break,
            }
        }
        if let (true, Some(edns)) = (self.first, &self.opts.edns)
            && w.record(&Record::from(edns))?
        {
            counts.additionals += 1;
        }
        let mut buf = w.finish(Header {
            metadata: self.flags,
            counts,
        })?;
        if let Some(signer) = &mut self.opts.signer {
            signer.sign(&mut buf, self.opts.now)?;
        }
        self.first = false;
        Ok(buf)
    }
}

impl Iterator for XfrStream {
    type Item = Result<Vec<u8>, ServeError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.build();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}
