//! A message writer for transfers, with name compression over the whole message.
//!
//! hickory's encoder stops compressing after 120 names per message (a guard for the
//! query path, after CVE-2024-8508), which would leave a 16 KiB AXFR message of ~750
//! records mostly uncompressed, 50% larger than Knot's. Here owner names are compressed
//! against every name already written, with a dictionary keyed by (offset of the parent
//! suffix, lower-cased label), so a lookup costs one hash per label and never compares
//! whole names. RDATA is still encoded by hickory.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use hickory_proto::ProtoError;
use hickory_proto::op::{Header, Query};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use smallvec::SmallVec;

/// Compression pointers hold 14 bits of offset.
const MAX_POINTER: usize = 0x3FFF;
/// Stands for the root as the "parent" of a top-level label.
const ROOT: u16 = u16::MAX;

/// Most names have fewer labels than this; longer ones take a heap path.
const INLINE_LABELS: usize = 16;

/// FNV-1a: labels are short, and SipHash's setup dominated the encoding profile. The
/// dictionary holds at most one message's names (~1,000), which bounds what colliding
/// names in zone data could cost.
#[derive(Default, Clone, Copy)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A lower-cased label: inline up to 24 bytes, so registering a name allocates nothing in
/// the common case (one allocation per record dominated the AXFR profile).
type Label = SmallVec<[u8; 24]>;

type Dict = HashMap<(u16, Label), u16, BuildHasherDefault<Fnv>>;

pub(crate) struct MessageWriter {
    buf: Vec<u8>,
    limit: usize,
    dict: Dict,
    scratch: Label,
}

impl MessageWriter {
    pub(crate) fn new(limit: usize) -> Self {
        let mut buf = Vec::with_capacity(limit.min(65535));
        buf.extend_from_slice(&[0u8; 12]);
        MessageWriter {
            buf,
            limit,
            dict: Dict::with_capacity_and_hasher(1024, Default::default()),
            scratch: Label::new(),
        }
    }

    fn name(&mut self, name: &Name) {
        let mut inline: [&[u8]; INLINE_LABELS] = [&[]; INLINE_LABELS];
        let heap: Vec<&[u8]>;
        let labels: &[&[u8]] = if usize::from(name.num_labels()) <= INLINE_LABELS {
            let mut count = 0;
            for (slot, label) in inline.iter_mut().zip(name.iter()) {
                *slot = label;
                count += 1;
            }
            &inline[..count]
        } else {
            heap = name.iter().collect();
            &heap
        };
        // Find the longest suffix already in the message.
        let mut parent = ROOT;
        let mut matched = labels.len();
        for (i, label) in labels.iter().enumerate().rev() {
            self.scratch.clear();
            self.scratch
                .extend(label.iter().map(u8::to_ascii_lowercase));
            let key = (parent, std::mem::take(&mut self.scratch));
            let hit = self.dict.get(&key).copied();
            self.scratch = key.1;
            match hit {
                Some(off) => {
                    parent = off;
                    matched = i;
                }
                None => break,
            }
        }
        // Write the unmatched labels, remembering where each starts.
        let mut inline_starts = [0usize; INLINE_LABELS];
        let mut heap_starts: Vec<usize>;
        let starts: &mut [usize] = if matched <= INLINE_LABELS {
            &mut inline_starts[..matched]
        } else {
            heap_starts = vec![0; matched];
            &mut heap_starts
        };
        for (slot, label) in starts.iter_mut().zip(&labels[..matched]) {
            *slot = self.buf.len();
            self.buf.push(label.len() as u8);
            self.buf.extend_from_slice(label);
        }
        if matched < labels.len() {
            self.buf.extend_from_slice(&(0xC000 | parent).to_be_bytes());
        } else {
            self.buf.push(0);
        }
        // Register the new suffixes, innermost first so each knows its parent.
        for (start, label) in starts.iter().zip(&labels[..matched]).rev() {
            if *start > MAX_POINTER {
                break;
            }
            let key = (parent, label.iter().map(u8::to_ascii_lowercase).collect());
            self.dict.insert(key, *start as u16);
            parent = *start as u16;
        }
    }

    pub(crate) fn question(&mut self, q: &Query) {
        self.name(q.name());
        self.buf
            .extend_from_slice(&u16::from(q.query_type()).to_be_bytes());
        self.buf
            .extend_from_slice(&u16::from(q.query_class()).to_be_bytes());
    }

    pub(crate) fn record(&mut self, rec: &Record) -> Result<bool, ProtoError> {
        self.record_parts(
            &rec.name,
            rec.record_type(),
            rec.dns_class,
            rec.ttl,
            &rec.data,
        )
    }

    /// Appends a record; returns false (and leaves the message as it was) when it would
    /// take the message past its limit. The message is then full: callers finish it.
    pub(crate) fn record_parts(
        &mut self,
        name: &Name,
        rtype: RecordType,
        class: DNSClass,
        ttl: u32,
        rdata: &RData,
    ) -> Result<bool, ProtoError> {
        let mark = self.buf.len();
        self.name(name);
        self.buf.extend_from_slice(&u16::from(rtype).to_be_bytes());
        self.buf.extend_from_slice(&u16::from(class).to_be_bytes());
        self.buf.extend_from_slice(&ttl.to_be_bytes());
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        // Addresses, most of a large zone, are written directly: hickory's encoder
        // costs several times the copy.
        let emitted = match rdata {
            RData::A(a) => {
                self.buf.extend_from_slice(&a.0.octets());
                Ok(())
            }
            RData::AAAA(a) => {
                self.buf.extend_from_slice(&a.0.octets());
                Ok(())
            }
            _ => {
                let mut enc = BinEncoder::new(&mut self.buf);
                enc.set_offset(len_at + 2);
                rdata.emit(&mut enc)
            }
        };
        let overflow = match emitted {
            Ok(()) => false,
            Err(ProtoError::MaxBufferSizeExceeded(_)) => true,
            Err(e) => return Err(e),
        };
        let rdlen = self.buf.len().saturating_sub(len_at + 2);
        if overflow || self.buf.len() > self.limit || rdlen > usize::from(u16::MAX) {
            self.buf.truncate(mark);
            // Forget the names this record registered: nothing may point past the end.
            self.dict.retain(|_, off| usize::from(*off) < mark);
            return Ok(false);
        }
        self.buf[len_at..len_at + 2].copy_from_slice(&(rdlen as u16).to_be_bytes());
        Ok(true)
    }

    pub(crate) fn finish(mut self, header: Header) -> Result<Vec<u8>, ProtoError> {
        let mut h = Vec::with_capacity(12);
        header.emit(&mut BinEncoder::new(&mut h))?;
        self.buf[..12].copy_from_slice(&h);
        Ok(self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, MessageType, Metadata, OpCode};
    use hickory_proto::rr::rdata::A;
    use std::str::FromStr;

    #[test]
    fn compresses_and_decodes_back_including_long_names() {
        let deep = (0..40)
            .map(|i| format!("l{i}"))
            .collect::<Vec<_>>()
            .join(".");
        let names = [
            "example.test.".to_string(),
            "www.example.test.".into(),
            "WWW.Example.TEST.".into(),
            "a.www.example.test.".into(),
            "other.".into(),
            ".".into(),
            format!("{deep}.example.test."),
            format!("x.{deep}.example.test."),
        ];
        let mut w = MessageWriter::new(65535);
        let mut recs = Vec::new();
        for (i, s) in names.iter().enumerate() {
            let r = Record::from_rdata(
                Name::from_str(s).unwrap(),
                60,
                RData::A(A::new(10, 0, 0, i as u8)),
            );
            assert!(w.record(&r).unwrap());
            recs.push(r);
        }
        let mut header = Header {
            metadata: Metadata::new(1, MessageType::Response, OpCode::Query),
            counts: Default::default(),
        };
        header.counts.answers = recs.len() as u16;
        let wire = w.finish(header).unwrap();
        let uncompressed: usize = names.iter().map(|n| n.len() + 1 + 14).sum();
        assert!(
            wire.len() < uncompressed,
            "{} vs {uncompressed}",
            wire.len()
        );
        let m = Message::from_vec(&wire).unwrap();
        assert_eq!(m.answers.len(), recs.len());
        for (got, want) in m.answers.iter().zip(&recs) {
            assert_eq!(got.name, want.name, "case-insensitive equality");
            assert_eq!(got.data, want.data);
        }
    }

    #[test]
    fn a_record_that_does_not_fit_leaves_the_message_intact() {
        let mut w = MessageWriter::new(60);
        let r = |s: &str| {
            Record::from_rdata(Name::from_str(s).unwrap(), 1, RData::A(A::new(1, 2, 3, 4)))
        };
        assert!(w.record(&r("a.example.test.")).unwrap());
        assert!(
            !w.record(&r("bbbbbbbbbbbbbbbbbbbb.cccccccccc.example.test."))
                .unwrap()
        );
        let mut header = Header {
            metadata: Metadata::new(1, MessageType::Response, OpCode::Query),
            counts: Default::default(),
        };
        header.counts.answers = 1;
        let m = Message::from_vec(&w.finish(header).unwrap()).unwrap();
        assert_eq!(m.answers, vec![r("a.example.test.")]);
    }
}
