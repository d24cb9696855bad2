//! Client messages on the wire, through the authoritative transport's own parser and
//! encoder (`server::request`, `server::reply`): the question echoed as sent, EDNS with
//! the DO bit echoed, truncation RRset by RRset. The resolver only adds RA and its own
//! error choices (NOTIMP for other opcodes, BADVERS for EDNS versions above 0).

use hickory_proto::op::{OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use crate::server::reply::{self, Additional, ReplyHead};
use crate::server::request::{self, EdnsRequest, Reject};

/// The UDP payload size we advertise and accept at most (DNS Flag Day 2020).
pub const EDNS_PAYLOAD: u16 = 1232;

/// What the resolver keeps of a client query.
#[derive(Debug, Clone)]
pub struct ClientQuery {
    pub id: u16,
    pub opcode_raw: u8,
    pub recursion_desired: bool,
    pub checking_disabled: bool,
    /// The question name as sent (its case is echoed).
    pub qname: Name,
    pub qtype: RecordType,
    pub qclass: DNSClass,
    pub edns: Option<EdnsRequest>,
}

pub enum Parsed {
    Query(Box<ClientQuery>),
    /// Cannot be answered normally; the reply is ready.
    Error(Vec<u8>),
    /// No reply at all (too short, or a response).
    Drop,
}

pub fn parse_query(bytes: &[u8], tcp: bool) -> Parsed {
    let req = match request::parse(bytes) {
        Ok(r) => r,
        Err(Reject::Drop) => return Parsed::Drop,
        Err(Reject::FormErr {
            id,
            opcode_raw,
            recursion_desired,
            edns,
        }) => {
            let head = head_of(id, opcode_raw, recursion_desired, false, None, edns);
            let limit = limit_for(edns.as_ref(), tcp);
            return Parsed::Error(encode(head, ResponseCode::FormErr, &[], &[], limit));
        }
    };
    let q = ClientQuery {
        id: req.id,
        opcode_raw: req.opcode_raw,
        recursion_desired: req.recursion_desired,
        checking_disabled: req.checking_disabled,
        qname: req.qname,
        qtype: req.qtype,
        qclass: req.qclass,
        edns: req.edns,
    };
    let error = if req.opcode != OpCode::Query {
        Some(ResponseCode::NotImp)
    } else if q.edns.is_some_and(|e| e.version > 0) {
        // RFC 6891 §6.1.3: only EDNS version 0 exists.
        Some(ResponseCode::BADVERS)
    } else {
        None
    };
    match error {
        Some(rc) => Parsed::Error(encode_reply(&q, rc, &[], &[], limit(&q, tcp))),
        None => Parsed::Query(Box::new(q)),
    }
}

fn limit_for(edns: Option<&EdnsRequest>, tcp: bool) -> usize {
    if tcp {
        usize::from(u16::MAX)
    } else {
        usize::from(reply::udp_limit(edns, EDNS_PAYLOAD))
    }
}

/// The most a reply to `q` may take: its EDNS size bounded to [512, EDNS_PAYLOAD] (512
/// without EDNS) over UDP, 64 KiB over TCP.
pub fn limit(q: &ClientQuery, tcp: bool) -> usize {
    limit_for(q.edns.as_ref(), tcp)
}

fn head_of<'a>(
    id: u16,
    opcode_raw: u8,
    recursion_desired: bool,
    checking_disabled: bool,
    question: Option<(&'a Name, RecordType, DNSClass)>,
    edns: Option<EdnsRequest>,
) -> ReplyHead<'a> {
    ReplyHead {
        id,
        opcode_raw,
        authoritative: false,
        recursion_desired,
        recursion_available: true,
        checking_disabled,
        rcode: ResponseCode::NoError,
        question,
        edns,
        our_payload: EDNS_PAYLOAD,
        nsid: None,
        zoneversion: None,
        ede: None,
    }
}

fn encode(
    mut head: ReplyHead<'_>,
    rcode: ResponseCode,
    answers: &[Record],
    authorities: &[Record],
    limit: usize,
) -> Vec<u8> {
    head.rcode = rcode;
    let mut out = Vec::new();
    let limit = u16::try_from(limit).unwrap_or(u16::MAX);
    reply::encode(
        &mut out,
        &head,
        answers,
        authorities,
        Additional::NONE,
        limit,
    );
    out
}

/// Encodes the reply to `q`: RA set, RD and CD copied, the question echoed, an OPT
/// record when the query had one; past `limit` whole RRsets are left out and TC set.
pub fn encode_reply(
    q: &ClientQuery,
    rcode: ResponseCode,
    answers: &[Record],
    authorities: &[Record],
    limit: usize,
) -> Vec<u8> {
    let head = head_of(
        q.id,
        q.opcode_raw,
        q.recursion_desired,
        q.checking_disabled,
        Some((&q.qname, q.qtype, q.qclass)),
        q.edns,
    );
    encode(head, rcode, answers, authorities, limit)
}
