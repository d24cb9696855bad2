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
use hickory_proto::rr::{Name, Record};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

/// Compression pointers hold 14 bits of offset.
const MAX_POINTER: usize = 0x3FFF;
/// Stands for the root as the "parent" of a top-level label.
const ROOT: u16 = u16::MAX;

pub(crate) struct MessageWriter {
    buf: Vec<u8>,
    limit: usize,
    dict: HashMap<(u16, Vec<u8>), u16>,
    undo: Vec<(u16, Vec<u8>)>,
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
            undo: Vec::new(),
            scratch: Vec::with_capacity(64),
        }
    }

    fn name(&mut self, name: &Name) {
        let labels: Vec<&[u8]> = name.iter().collect();
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
        let mut starts = Vec::with_capacity(matched);
        for label in &labels[..matched] {
            starts.push(self.buf.len());
            self.buf.push(label.len() as u8);
            self.buf.extend_from_slice(label);
        }
        if matched < labels.len() {
            self.buf.extend_from_slice(&(0xC000 | parent).to_be_bytes());
        } else {
            self.buf.push(0);
        }
        // Register the new suffixes, innermost first so each knows its parent.
        for i in (0..matched).rev() {
            let Some(&start) = starts.get(i) else { break };
            if start > MAX_POINTER {
                break;
            }
            let Some(label) = labels.get(i) else { break };
            let key = (parent, label.iter().map(u8::to_ascii_lowercase).collect());
            self.dict.insert(key, start as u16);
            self.undo
                .push((parent, label.iter().map(u8::to_ascii_lowercase).collect()));
            parent = start as u16;
        }
    }

    pub(crate) fn question(&mut self, q: &Query) {
        self.undo.clear();
        self.name(q.name());
        self.buf
            .extend_from_slice(&u16::from(q.query_type()).to_be_bytes());
        self.buf
            .extend_from_slice(&u16::from(q.query_class()).to_be_bytes());
    }

    /// Appends a record; returns false (and leaves the message as it was) when it would
    /// take the message past its limit.
    pub(crate) fn record(&mut self, rec: &Record) -> Result<bool, ProtoError> {
        let mark = self.buf.len();
        self.undo.clear();
        self.name(&rec.name);
        self.buf
            .extend_from_slice(&u16::from(rec.record_type()).to_be_bytes());
        self.buf
            .extend_from_slice(&u16::from(rec.dns_class).to_be_bytes());
        self.buf.extend_from_slice(&rec.ttl.to_be_bytes());
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        let emitted = {
            let mut enc = BinEncoder::new(&mut self.buf);
            enc.set_offset(len_at + 2);
            rec.data.emit(&mut enc)
        };
        let overflow = match emitted {
            Ok(()) => false,
            Err(ProtoError::MaxBufferSizeExceeded(_)) => true,
            Err(e) => return Err(e),
        };
        let rdlen = self.buf.len().saturating_sub(len_at + 2);
        if overflow || self.buf.len() > self.limit || rdlen > usize::from(u16::MAX) {
            self.buf.truncate(mark);
            for key in self.undo.drain(..) {
                self.dict.remove(&key);
            }
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
