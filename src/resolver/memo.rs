//! Replaying encoded answers: the cache-hit fast path.
//!
//! Decoding a query into a `Message`, assembling the answer from the cache and encoding
//! it costs more than the kernel's share of a UDP exchange. Most hits repeat the answer
//! just given for the same name and type, so the encoded reply is kept as a template
//! and replayed with the client's ID, question bytes (the client's letter case) and
//! TTLs lowered by the time elapsed. A template is only used while the cache's
//! generation is unchanged and none of its TTLs (or a due prefetch) has run out, so it
//! says exactly what the slow path would, never more.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::stamps::{Stamp, Stamps};

/// What the fast path reads of a query without decoding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peek {
    pub id: u16,
    pub cd: bool,
    /// The question name in wire form, lower-cased: the template key.
    pub key_name: Vec<u8>,
    pub qtype: u16,
    /// Length of the question section (name, type, class) starting at offset 12.
    pub question_len: usize,
    /// The EDNS UDP payload size, when the query carries an OPT record.
    pub edns: Option<u16>,
    /// The DO bit, which the reply echoes (so it is part of the template key).
    pub dnssec_ok: bool,
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

/// Reads a plain recursive query (opcode QUERY, one IN question, at most an OPT record)
/// or returns `None` so the full path handles it.
pub fn peek(b: &[u8]) -> Option<Peek> {
    let flags = u16_at(b, 2)?;
    // QR=0, opcode 0, RD=1; anything else takes the full path.
    if flags & 0xf900 != 0x0100 {
        return None;
    }
    if u16_at(b, 4)? != 1 || u16_at(b, 6)? != 0 || u16_at(b, 8)? != 0 {
        return None;
    }
    let arcount = u16_at(b, 10)?;
    let mut i = 12;
    let mut key_name = Vec::with_capacity(32);
    loop {
        let len = usize::from(*b.get(i)?);
        if len == 0 {
            key_name.push(0);
            i += 1;
            break;
        }
        if len > 63 || key_name.len() + len + 1 > 255 {
            return None;
        }
        key_name.push(len as u8);
        key_name.extend(
            b.get(i + 1..i + 1 + len)?
                .iter()
                .map(u8::to_ascii_lowercase),
        );
        i += 1 + len;
    }
    let qtype = u16_at(b, i)?;
    if u16_at(b, i + 2)? != 1 {
        return None;
    }
    i += 4;
    let question_len = i - 12;
    let mut dnssec_ok = false;
    let edns = match arcount {
        0 => None,
        1 => {
            // Root owner, type OPT; it must end the message.
            if *b.get(i)? != 0 || u16_at(b, i + 1)? != 41 {
                return None;
            }
            // Only EDNS version 0 is replayed; others get BADVERS on the full path.
            if *b.get(i + 6)? != 0 {
                return None;
            }
            dnssec_ok = *b.get(i + 7)? & 0x80 != 0;
            let payload = u16_at(b, i + 3)?;
            let rdlen = usize::from(u16_at(b, i + 9)?);
            if i + 11 + rdlen != b.len() {
                return None;
            }
            Some(payload)
        }
        _ => return None,
    };
    if arcount == 0 && i != b.len() {
        return None;
    }
    Some(Peek {
        id: u16_at(b, 0)?,
        cd: flags & 0x0010 != 0,
        key_name,
        qtype,
        question_len,
        edns,
        dnssec_ok,
    })
}

#[derive(Debug, Clone)]
struct Template {
    bytes: Vec<u8>,
    /// Offset and TTL-at-build of every answer and authority record.
    ttls: Vec<(usize, u32)>,
    built: Instant,
    valid_until: Instant,
    stamp: Stamp,
}

/// Name (lower-cased wire form), type, EDNS present, DO.
type TemplateKey = (Vec<u8>, u16, bool, bool);

fn key(p: &Peek) -> TemplateKey {
    (p.key_name.clone(), p.qtype, p.edns.is_some(), p.dnssec_ok)
}

#[derive(Debug, Default)]
pub struct Memo {
    map: HashMap<TemplateKey, Template, foldhash::quality::RandomState>,
}

/// Templates kept at most; past it the memo starts over (it refills from the cache).
const MAX_TEMPLATES: usize = 100_000;

fn skip_name(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let len = *b.get(i)?;
        match len {
            0 => return Some(i + 1),
            l if l & 0xc0 == 0xc0 => return Some(i + 2),
            l => i += 1 + usize::from(l),
        }
    }
}

/// The TTL positions of the answer and authority records of an encoded reply.
fn ttl_offsets(b: &[u8]) -> Option<Vec<(usize, u32)>> {
    let qd = u16_at(b, 4)?;
    let records = usize::from(u16_at(b, 6)?) + usize::from(u16_at(b, 8)?);
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(b, i)? + 4;
    }
    let mut out = Vec::with_capacity(records);
    for _ in 0..records {
        i = skip_name(b, i)? + 4;
        let ttl = u32::from_be_bytes([*b.get(i)?, *b.get(i + 1)?, *b.get(i + 2)?, *b.get(i + 3)?]);
        out.push((i, ttl));
        let rdlen = usize::from(u16_at(b, i + 4)?);
        i += 6 + rdlen;
    }
    (i <= b.len()).then_some(out)
}

impl Memo {
    /// Writes the reply for `query` (peeked as `p`) into `out` if a valid template
    /// exists and fits within `limit` bytes.
    pub fn replay(
        &self,
        query: &[u8],
        p: &Peek,
        stamps: &Stamps,
        now: Instant,
        limit: usize,
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(t) = self.map.get(&key(p)) else {
            return false;
        };
        if now >= t.valid_until || t.bytes.len() > limit || !stamps.unchanged(&t.stamp) {
            return false;
        }
        let q_end = 12 + p.question_len;
        let (Some(qsrc), true) = (query.get(12..q_end), t.bytes.len() >= q_end) else {
            return false;
        };
        let elapsed =
            u32::try_from(now.saturating_duration_since(t.built).as_secs()).unwrap_or(u32::MAX);
        out.clear();
        out.extend_from_slice(&t.bytes);
        out[0..2].copy_from_slice(&p.id.to_be_bytes());
        out[3] = (out[3] & !0x10) | if p.cd { 0x10 } else { 0 };
        out[12..q_end].copy_from_slice(qsrc);
        for &(off, ttl) in &t.ttls {
            if let Some(slot) = out.get_mut(off..off + 4) {
                slot.copy_from_slice(&ttl.saturating_sub(elapsed).to_be_bytes());
            }
        }
        true
    }

    /// Keeps `reply` (just encoded from the cache for `p`) for replay during `fresh`
    /// seconds.
    pub fn remember(&mut self, p: &Peek, reply: &[u8], stamp: Stamp, now: Instant, fresh: u32) {
        if fresh == 0 || reply.len() < 12 || reply[2] & 0x02 != 0 {
            return;
        }
        let Some(ttls) = ttl_offsets(reply) else {
            return;
        };
        if self.map.len() >= MAX_TEMPLATES {
            self.map.clear();
        }
        self.map.insert(
            key(p),
            Template {
                bytes: reply.to_vec(),
                ttls,
                built: now,
                valid_until: now + Duration::from_secs(u64::from(fresh)),
                stamp,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

    use super::*;
    use crate::resolver::wire::{Parsed, encode_reply, parse_query};

    fn query(name: &str, edns: bool) -> Message {
        let mut m = Message::new(7, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_str(name).unwrap(), RecordType::A));
        if edns {
            m.set_edns(Edns::new());
        }
        m
    }

    #[test]
    fn other_names_do_not_invalidate() {
        let stamps = Stamps::default();
        let www = LowerName::new(&Name::from_str("www.example.test.").unwrap());
        // Names share a bucket only by chance (1 in 4096): nearly every bump of another
        // name leaves the stamp valid.
        let kept = (0..20)
            .filter(|i| {
                let mut stamp = stamps.start();
                stamps.add(&mut stamp, &www);
                let other = LowerName::new(&Name::from_str(&format!("n{i}.test.")).unwrap());
                stamps.bump(&other);
                stamps.unchanged(&stamp)
            })
            .count();
        assert!(kept >= 15, "{kept}");
    }

    #[test]
    fn peek_reads_plain_queries_only() {
        let q = query("WwW.Example.TEST.", true).to_vec().unwrap();
        let p = peek(&q).unwrap();
        assert_eq!(p.key_name, b"\x03www\x07example\x04test\x00");
        assert_eq!((p.id, p.qtype, p.edns.is_some()), (7, 1, true));
        let mut no_rd = query("a.test.", false);
        no_rd.metadata.recursion_desired = false;
        assert!(peek(&no_rd.to_vec().unwrap()).is_none());
        assert!(peek(&q[..q.len() - 1]).is_none());
        assert!(peek(&[0u8; 5]).is_none());
    }

    #[test]
    fn replay_patches_id_case_and_ttls_and_expires() {
        let t0 = Instant::now();
        let q1 = query("www.example.test.", true);
        let a = Record::from_rdata(
            Name::from_str("www.example.test.").unwrap(),
            30,
            RData::A(A::new(192, 0, 2, 10)),
        );
        let Parsed::Query(cq) = parse_query(&q1.to_vec().unwrap(), false) else {
            panic!("a plain query parses")
        };
        let reply = encode_reply(&cq, ResponseCode::NoError, &[a], &[], 1232);
        let p1 = peek(&q1.to_vec().unwrap()).unwrap();
        let mut memo = Memo::default();
        let stamps = Stamps::default();
        let www = LowerName::new(&Name::from_str("www.example.test.").unwrap());
        let mut stamp = stamps.start();
        stamps.add(&mut stamp, &www);
        memo.remember(&p1, &reply, stamp, t0, 30);

        let mut q2 = query("WWW.example.TEST.", true);
        q2.metadata.id = 4242;
        let q2b = q2.to_vec().unwrap();
        let p2 = peek(&q2b).unwrap();
        let mut out = Vec::new();
        let t10 = t0 + Duration::from_secs(10);
        assert!(memo.replay(&q2b, &p2, &stamps, t10, 1232, &mut out));
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.metadata.id, 4242);
        assert!(
            m.queries[0]
                .name()
                .eq_case(&Name::from_str("WWW.example.TEST.").unwrap())
        );
        assert_eq!(m.answers[0].ttl, 20);
        assert!(m.metadata.recursion_available);
        // A run-out TTL sends the query down the full path.
        let t30 = t0 + Duration::from_secs(30);
        assert!(!memo.replay(&q2b, &p2, &stamps, t30, 1232, &mut out));
        // So does a query without EDNS (a different template).
        let q3 = query("www.example.test.", false).to_vec().unwrap();
        assert!(!memo.replay(&q3, &peek(&q3).unwrap(), &stamps, t10, 1232, &mut out));
        // And any change to the name, or a flush of everything.
        stamps.bump(&www);
        assert!(!memo.replay(&q2b, &p2, &stamps, t10, 1232, &mut out));
        let mut fresh = stamps.start();
        stamps.add(&mut fresh, &www);
        memo.remember(&p1, &reply, fresh, t0, 30);
        assert!(memo.replay(&q2b, &p2, &stamps, t10, 1232, &mut out));
        stamps.bump_all();
        assert!(!memo.replay(&q2b, &p2, &stamps, t10, 1232, &mut out));
    }
}
