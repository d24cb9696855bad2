//! A message writer for transfers, with name compression over the whole message.
//!
//! hickory's encoder stops compressing after 120 names per message (a guard for the
//! query path, after CVE-2024-8508), which would leave a 16 KiB AXFR message of ~750
//! records mostly uncompressed, 50% larger than Knot's. Here owner names are compressed
//! against every name already written, with a dictionary keyed by (offset of the parent
//! suffix, lower-cased label), so a lookup costs one hash per label and never compares
//! whole names. RDATA is still encoded by hickory.

use std::collections::HashMap;

use hickory_proto::ProtoError;
use hickory_proto::op::{Header, Query};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

/// Compression pointers hold 14 bits of offset.
const MAX_POINTER: usize = 0x3FFF;
/// Stands for the root as the "parent" of a top-level label.
const ROOT: u16 = u16::MAX;

/// Names have at most 127 labels (255 octets).
const MAX_LABELS: usize = 128;

pub(crate) struct MessageWriter {
    buf: Vec<u8>,
    limit: usize,
    dict: HashMap<(u16, Vec<u8>), u16>,
    scratch: Vec<u8>,
}

impl MessageWriter {
    pub(crate) fn new(limit: usize) -> Self {
        let mut buf = Vec::with_capacity(limit.min(65535));
        buf.extend_from_slice(&[0u8; 12]);
        MessageWriter {
            buf,
            limit,
            dict: HashMap::new(),
            scratch: Vec::with_capacity(64),
        }
    }

    fn name(&mut self, name: &Name) {
        let mut labels: [&[u8]; MAX_LABELS] = [&[]; MAX_LABELS];
        let mut count = 0;
        for (slot, label) in labels.iter_mut().zip(name.iter()) {
            *slot = label;
            count += 1;
        }
        let labels = &labels[..count];
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
        let mut starts = [0usize; MAX_LABELS];
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
        for (start, label) in starts[..matched].iter().zip(&labels[..matched]).rev() {
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
        let emitted = {
            let mut enc = BinEncoder::new(&mut self.buf);
            enc.set_offset(len_at + 2);
            rdata.emit(&mut enc)
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
