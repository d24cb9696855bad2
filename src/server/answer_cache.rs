//! Encoded answers kept per worker thread, keyed by zone version, lower-cased query name
//! and type: the counterpart of NSD's precompiled answers. A zone version never
//! changes, so the bytes after the question are a function of that version and the
//! question, and a repeat costs a hash lookup and a copy instead of the engine and the
//! encoder.
//!
//! The query name's case does not change those bytes: every name on the query's path
//! that the engine spells as the query does (owners at the apex, at a cut, of a
//! wildcard expansion) is compressed into the question, and compression matches
//! case-insensitively, so only the question itself (copied from the request) carries
//! the case. The exceptions are left out: DNAME answers (the synthesized CNAME target
//! holds the query's labels literally), names with more labels than the compressor
//! remembers, QCLASS other than IN, and DS (answered from the parent zone, whose
//! version the key does not hold). A truncated reply is never stored, and a stored one
//! is used only when it fits whole under the requestor's limit, where the encoder
//! would have written the same message.

use std::cell::RefCell;
use std::sync::{Arc, Weak};

use hashbrown::HashTable;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, RecordType};

use super::request::{HEADER_LEN, Request};
use crate::engine::Answer;
use crate::zone::Zone;
use crate::zone::wire_key::{self, WireKey};

/// Names deeper than this are not cached: every suffix of the question must stay a
/// compression target (see the module doc).
const MAX_LABELS: usize = 32;
/// Bounds per worker; the table is emptied when either is passed.
const MAX_ENTRIES: usize = 1 << 16;
const MAX_BYTES: usize = 32 << 20;

struct Entry {
    /// Lower-cased wire name followed by the big-endian QTYPE.
    key: Box<[u8]>,
    /// The version the body was encoded from. A `Weak` keeps the allocation (not the
    /// zone's data) alive, so its address cannot be reused by a later version.
    zone: Weak<Zone>,
    authoritative: bool,
    rcode: ResponseCode,
    /// Answer, authority and additional counts, without the OPT.
    counts: [u16; 3],
    /// The records after the question, before the OPT.
    body: Box<[u8]>,
}

#[derive(Default)]
struct Cache {
    table: HashTable<Entry>,
    bytes: usize,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
    /// Hits on this thread, so tests can show the cached path ran.
    #[cfg(test)]
    pub(crate) static HITS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A cacheable question: its key and the bytes of the question as sent.
pub(crate) struct Ticket<'r> {
    key: [u8; 258],
    key_len: usize,
    hash: u64,
    /// The request's question section (name as sent, QTYPE, QCLASS).
    pub(crate) question: &'r [u8],
}

impl Ticket<'_> {
    fn key(&self) -> &[u8] {
        &self.key[..self.key_len]
    }
}

/// What a stored answer looks like to the handler.
pub(crate) struct Hit {
    pub(crate) authoritative: bool,
    pub(crate) rcode: ResponseCode,
    pub(crate) counts: [u16; 3],
}

/// The ticket for `req` when its answer may come from (and go into) the cache.
pub(crate) fn ticket<'r>(req: &Request<'r>, key: &WireKey) -> Option<Ticket<'r>> {
    if req.qclass != DNSClass::IN || req.qtype == RecordType::DS || key.labels() > MAX_LABELS {
        return None;
    }
    let wire = key.bytes();
    // The question must be the literal name (no pointer), which then is the same name
    // as the key up to case: that is what the reply echoes.
    let sent = req.bytes.get(HEADER_LEN..HEADER_LEN + wire.len())?;
    if !sent.eq_ignore_ascii_case(wire) {
        return None;
    }
    let question = req.bytes.get(HEADER_LEN..HEADER_LEN + wire.len() + 4)?;
    let mut t = Ticket {
        key: [0; 258],
        key_len: wire.len() + 2,
        hash: 0,
        question,
    };
    t.key[..wire.len()].copy_from_slice(wire);
    t.key[wire.len()..wire.len() + 2].copy_from_slice(&u16::from(req.qtype).to_be_bytes());
    t.hash = wire_key::hash(t.key());
    Some(t)
}

/// Calls `f` with the stored body for `t` if it was encoded from `zone`.
pub(crate) fn with_hit<R>(
    t: &Ticket<'_>,
    zone: &Arc<Zone>,
    f: impl FnOnce(&Hit, &[u8]) -> R,
) -> Option<R> {
    CACHE.with(|c| {
        let c = c.try_borrow().ok()?;
        let e = c.table.find(t.hash, |e| *e.key == *t.key())?;
        if Weak::as_ptr(&e.zone) != Arc::as_ptr(zone) {
            return None;
        }
        #[cfg(test)]
        HITS.with(|h| h.set(h.get() + 1));
        let hit = Hit {
            authoritative: e.authoritative,
            rcode: e.rcode,
            counts: e.counts,
        };
        Some(f(&hit, &e.body))
    })
}

/// Stores the reply `out` just encoded for `answer` under `t`, when it may be reused.
/// `opt_len` is the size of the OPT record at its end.
pub(crate) fn store(t: &Ticket<'_>, answer: &Answer, out: &[u8], opt_len: usize, edns: bool) {
    let Some(zone) = &answer.zone else {
        return;
    };
    if answer.ede.is_some()
        || answer
            .answers
            .iter()
            .any(|r| r.record_type() == RecordType::DNAME)
    {
        return;
    }
    // TC set: the body is cut to this requestor's limit.
    if out.get(2).is_none_or(|b| b & 0x02 != 0) {
        return;
    }
    let start = HEADER_LEN + t.question.len();
    let Some(body) = out.get(start..out.len().saturating_sub(opt_len)) else {
        return;
    };
    let Some(h) = out.get(..HEADER_LEN) else {
        return;
    };
    let count = |i: usize| u16::from_be_bytes([h[4 + 2 * i], h[5 + 2 * i]]);
    if count(0) != 1 {
        return;
    }
    let counts = [count(1), count(2), count(3).saturating_sub(u16::from(edns))];
    // Additional data left out for this requestor's size: a larger one must get it all.
    if usize::from(counts[2]) < answer.additionals.len() {
        return;
    }
    CACHE.with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else {
            return;
        };
        if c.table.len() >= MAX_ENTRIES || c.bytes >= MAX_BYTES {
            c.table.clear();
            c.bytes = 0;
        }
        let entry = Entry {
            key: t.key().into(),
            zone: Arc::downgrade(zone),
            authoritative: answer.authoritative,
            rcode: answer.rcode,
            counts,
            body: body.into(),
        };
        let size = entry.key.len() + entry.body.len() + size_of::<Entry>();
        match c.table.find_mut(t.hash, |e| *e.key == *t.key()) {
            Some(slot) => {
                let old = slot.key.len() + slot.body.len() + size_of::<Entry>();
                *slot = entry;
                c.bytes = (c.bytes + size).saturating_sub(old);
            }
            None => {
                c.table
                    .insert_unique(t.hash, entry, |e| wire_key::hash(&e.key));
                c.bytes += size;
            }
        }
    });
}

#[cfg(test)]
#[path = "answer_cache_tests.rs"]
mod tests;
