//! Client-side wire helpers: reading a client's query and encoding the reply with EDNS
//! and truncation.
//!
//! These duplicate in small what `src/server` does for the authoritative transport
//! (EDNS negotiation, UDP size limit, TC). When that lands on main, swap these two
//! functions for its helpers; nothing else in the resolver touches the wire format of
//! client messages.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::Record;

/// The UDP payload size we advertise and accept at most (DNS Flag Day 2020).
pub const EDNS_PAYLOAD: u16 = 1232;

/// A parsed client query, or why it cannot be answered normally.
pub enum Parsed {
    Query(Box<Message>),
    /// Answer with this rcode (FORMERR, NOTIMP), echoing what could be read.
    Error(Box<Message>, ResponseCode),
    /// Not even a header: drop it.
    Drop,
}

pub fn parse_query(bytes: &[u8]) -> Parsed {
    let Ok(msg) = Message::from_vec(bytes) else {
        // A readable header gets FORMERR; anything shorter is dropped.
        if bytes.len() >= 12 && bytes[2] & 0x80 == 0 {
            let id = u16::from_be_bytes([bytes[0], bytes[1]]);
            let m = Message::new(id, MessageType::Query, OpCode::Query);
            return Parsed::Error(Box::new(m), ResponseCode::FormErr);
        }
        return Parsed::Drop;
    };
    if msg.metadata.message_type != MessageType::Query {
        return Parsed::Drop;
    }
    if msg.metadata.op_code != OpCode::Query {
        return Parsed::Error(Box::new(msg), ResponseCode::NotImp);
    }
    if msg.queries.len() != 1 {
        return Parsed::Error(Box::new(msg), ResponseCode::FormErr);
    }
    // RFC 6891 §6.1.3: only EDNS version 0 exists.
    if msg.edns.as_ref().is_some_and(|e| e.version() > 0) {
        return Parsed::Error(Box::new(msg), ResponseCode::BADVERS);
    }
    Parsed::Query(Box::new(msg))
}

/// The most a reply to `query` may take over UDP: its EDNS size bounded to
/// [512, EDNS_PAYLOAD], or 512 without EDNS.
pub fn udp_limit(query: &Message) -> usize {
    match &query.edns {
        Some(e) => usize::from(e.max_payload().clamp(512, EDNS_PAYLOAD)),
        None => 512,
    }
}

/// Encodes the reply to `query`: RA set, RD and CD copied, the question echoed, an OPT
/// record when the query had one. When it would exceed `limit`, the sections are dropped
/// and TC set, so the client retries over TCP.
pub fn encode_reply(
    query: &Message,
    rcode: ResponseCode,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    limit: usize,
) -> Vec<u8> {
    let mut m = Message::new(
        query.metadata.id,
        MessageType::Response,
        query.metadata.op_code,
    );
    m.metadata.recursion_desired = query.metadata.recursion_desired;
    m.metadata.checking_disabled = query.metadata.checking_disabled;
    m.metadata.recursion_available = true;
    m.metadata.response_code = rcode;
    m.queries = query.queries.clone();
    if query.edns.is_some() {
        let mut e = Edns::new();
        e.set_max_payload(EDNS_PAYLOAD);
        m.set_edns(e);
    }
    m.answers = answers;
    m.authorities = authorities;
    let bytes = m.to_vec().unwrap_or_default();
    if bytes.len() <= limit && !bytes.is_empty() {
        return bytes;
    }
    m.answers.clear();
    m.authorities.clear();
    m.metadata.truncation = true;
    m.to_vec().unwrap_or_default()
}
