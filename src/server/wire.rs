//! Writing records into a reply with name compression (RFC 1035 §4.1.4).
//!
//! Compression matches names case-insensitively, as Knot and NSD do: a zone name that
//! shares a suffix with the question points into the question, so it shows the query's
//! case (`dig WwW.Example.TEST` gets `Example.TEST.` as the SOA owner from all three
//! servers) and replies have the same sizes, hence the same truncation points, as
//! theirs. hickory's encoder matches case-sensitively and allocates per stored name,
//! so the hot path writes names itself and leaves only uncommon RDATA to hickory.

use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

/// At most this many name offsets are remembered; later names are written in full.
const MAX_TARGETS: usize = 64;
/// Compression pointers can only address the first 16 KiB of a message.
const MAX_POINTER: usize = 0x3fff;

/// A message being written: the buffer plus the offsets of names that later names may
/// point to.
pub(crate) struct Writer<'a> {
    pub(crate) out: &'a mut Vec<u8>,
    /// (offset, labels from there to the root): only a name with as many labels as
    /// the suffix can match it, which rules out most candidates at a glance.
    targets: [(u16, u8); MAX_TARGETS],
    n_targets: usize,
    limit: usize,
}

/// A point to roll back to when a record set does not fit.
#[derive(Clone, Copy)]
pub(crate) struct Mark {
    len: usize,
    n_targets: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>, limit: usize) -> Self {
        Writer {
            out,
            targets: [(0, 0); MAX_TARGETS],
            n_targets: 0,
            limit,
        }
    }

    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    pub(crate) fn mark(&self) -> Mark {
        Mark {
            len: self.out.len(),
            n_targets: self.n_targets,
        }
    }

    pub(crate) fn rollback(&mut self, m: Mark) {
        self.out.truncate(m.len);
        self.n_targets = m.n_targets;
    }

    /// True while the message is within its size limit.
    pub(crate) fn fits(&self) -> bool {
        self.out.len() <= self.limit
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    /// Writes `name`, compressed against the names already written when `compress`.
    pub(crate) fn name(&mut self, name: &Name, compress: bool) {
        // The name in wire form on the stack, walked once: hickory's label iterator is
        // the slow part of writing a name, so it is not run again per suffix.
        let mut wire = [0u8; 256];
        let mut starts = [0u8; 128];
        let mut n = 0usize;
        let mut at = 0usize;
        for label in name.iter() {
            let end = at + 1 + label.len();
            let (Some(dst), Some(slot)) = (wire.get_mut(at + 1..end), starts.get_mut(n)) else {
                // Longer than a name can be: make the message too big to send, so the
                // caller's fit check drops the record set.
                self.out.resize(self.limit + 1, 0);
                return;
            };
            dst.copy_from_slice(label);
            *slot = at as u8;
            wire[at] = label.len() as u8;
            n += 1;
            at = end;
        }
        self.name_wire(&wire[..at], &starts[..n], compress);
    }

    /// Writes a name given as its wire labels without the root (`wire`) and the offset
    /// of each label in it.
    fn name_wire(&mut self, wire: &[u8], starts: &[u8], compress: bool) {
        let n = starts.len();
        let base = self.out.len();
        for (i, &from) in starts.iter().enumerate() {
            let from = usize::from(from);
            if compress && let Some(off) = self.find(&wire[from..], n - i) {
                self.out.extend_from_slice(&wire[..from]);
                self.u16(0xc000 | off);
                self.remember(base, starts, i);
                return;
            }
        }
        self.out.extend_from_slice(wire);
        self.out.push(0);
        if compress {
            self.remember(base, starts, n);
        }
    }

    /// Records where the first `upto` labels of a name just written at `base` start.
    fn remember(&mut self, base: usize, starts: &[u8], upto: usize) {
        for (j, &from) in starts.iter().enumerate().take(upto) {
            let pos = base + usize::from(from);
            if pos > MAX_POINTER || self.n_targets >= MAX_TARGETS {
                return;
            }
            self.targets[self.n_targets] = (pos as u16, (starts.len() - j) as u8);
            self.n_targets += 1;
        }
    }

    /// Repeats the owner name written at `at`: a lone pointer is copied, a name written
    /// there is pointed to. False when compression would not have found it (the target
    /// table was full or `at` is past the pointer range); the caller then writes it.
    fn owner_again(&mut self, at: usize) -> bool {
        let (Some(&b0), Some(&b1)) = (self.out.get(at), self.out.get(at + 1)) else {
            return false;
        };
        if b0 & 0xc0 == 0xc0 {
            self.out.extend_from_slice(&[b0, b1]);
            return true;
        }
        if self.targets[..self.n_targets]
            .iter()
            .any(|&(off, _)| usize::from(off) == at)
        {
            self.u16(0xc000 | at as u16);
            return true;
        }
        false
    }

    /// The offset of a written name equal (ignoring ASCII case) to the wire labels
    /// `suffix` (without the root), which has `labels` labels.
    fn find(&self, suffix: &[u8], labels: usize) -> Option<u16> {
        self.targets[..self.n_targets]
            .iter()
            .find(|&&(off, l)| usize::from(l) == labels && self.equals_at(usize::from(off), suffix))
            .map(|&(off, _)| off)
    }

    /// Whether the name written at `at` (following pointers) is `suffix`.
    fn equals_at(&self, mut at: usize, suffix: &[u8]) -> bool {
        let buf: &[u8] = self.out;
        let mut hops = 0;
        let mut want = 0usize;
        loop {
            let Some(&len) = buf.get(at) else {
                return false;
            };
            if len & 0xc0 == 0xc0 {
                let Some(&lo) = buf.get(at + 1) else {
                    return false;
                };
                at = (usize::from(len & 0x3f) << 8) | usize::from(lo);
                hops += 1;
                if hops > 64 {
                    return false;
                }
                continue;
            }
            let len = usize::from(len);
            if want == suffix.len() {
                return len == 0;
            }
            // Both sides hold a length byte then the label: compare them together.
            match (buf.get(at..at + 1 + len), suffix.get(want..want + 1 + len)) {
                // Names mostly agree in case too: an exact compare first is cheaper.
                (Some(have), Some(w)) if have == w || have.eq_ignore_ascii_case(w) => {
                    at += 1 + len;
                    want += 1 + len;
                }
                _ => return false,
            }
        }
    }

    /// Writes one resource record. Names in RDATA are compressed only for the RFC 1035
    /// types that allow it (RFC 3597 §4); other RDATA is written by hickory, uncompressed.
    pub(crate) fn record(&mut self, rec: &Record) {
        self.record_after(rec, None);
    }

    /// [`Writer::record`] for a record whose owner an earlier record of the same RRset
    /// wrote at `owner_at`: the owner becomes the pointer compression would have found
    /// there (same bytes), without walking the name again.
    pub(crate) fn record_after(&mut self, rec: &Record, owner_at: Option<usize>) {
        if !owner_at.is_some_and(|at| self.owner_again(at)) {
            self.name(&rec.name, true);
        }
        self.u16(rec.record_type().into());
        self.u16(rec.dns_class.into());
        self.u32(rec.ttl);
        let len_at = self.out.len();
        self.u16(0);
        match &rec.data {
            RData::A(a) => self.out.extend_from_slice(&a.0.octets()),
            RData::AAAA(a) => self.out.extend_from_slice(&a.0.octets()),
            RData::NS(n) => self.name(&n.0, true),
            RData::CNAME(n) => self.name(&n.0, true),
            RData::PTR(n) => self.name(&n.0, true),
            RData::MX(mx) => {
                self.u16(mx.preference);
                self.name(&mx.exchange, true);
            }
            RData::SOA(soa) => {
                self.name(&soa.mname, true);
                self.name(&soa.rname, true);
                self.u32(soa.serial);
                self.u32(soa.refresh as u32);
                self.u32(soa.retry as u32);
                self.u32(soa.expire as u32);
                self.u32(soa.minimum);
            }
            other => {
                let start = self.out.len();
                // Appends at the end of the buffer; uncompressed, so no pointers.
                let mut enc = BinEncoder::with_offset(self.out, start as u32);
                enc.set_name_encoding(NameEncoding::Uncompressed);
                if other.emit(&mut enc).is_err() {
                    // Unencodable RDATA makes the message too big to send, so the
                    // caller's fit check drops the record set.
                    self.out.truncate(start);
                    self.out.resize(self.limit + 1, 0);
                    return;
                }
            }
        }
        let rdlen = self.out.len() - len_at - 2;
        match u16::try_from(rdlen) {
            Ok(l) => self.out[len_at..len_at + 2].copy_from_slice(&l.to_be_bytes()),
            Err(_) => self.out.resize(self.limit + 1, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{MX, SOA, SRV, TXT};
    use hickory_proto::serialize::binary::BinDecodable;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn compresses_case_insensitively_and_decodes() {
        let mut out = vec![0u8; 12];
        let mut w = Writer::new(&mut out, 65535);
        w.name(&n("WwW.Example.TEST."), true);
        let q_end = w.out.len();
        let recs = vec![
            Record::from_rdata(
                n("www.example.test."),
                60,
                RData::MX(MX::new(10, n("mail.example.test."))),
            ),
            Record::from_rdata(
                n("example.test."),
                60,
                RData::SOA(SOA::new(
                    n("ns1.example.test."),
                    n("host.example.test."),
                    7,
                    1,
                    2,
                    3,
                    4,
                )),
            ),
            Record::from_rdata(
                n("_s._tcp.example.test."),
                60,
                RData::SRV(SRV::new(1, 2, 3, n("www.example.test."))),
            ),
            Record::from_rdata(
                n("a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.example.test."),
                60,
                RData::TXT(TXT::new(vec!["x".into()])),
            ),
        ];
        for r in &recs {
            w.record(r);
        }
        // The owner is a pointer to the question.
        assert_eq!(&out[q_end..q_end + 2], &[0xc0, 12]);
        let mut dec = hickory_proto::serialize::binary::BinDecoder::new(&out);
        dec.read_slice(12).unwrap();
        assert_eq!(
            Name::read(&mut dec).unwrap().to_string(),
            "WwW.Example.TEST."
        );
        let first = Record::read(&mut dec).unwrap();
        assert_eq!(first.name.to_string(), "WwW.Example.TEST.");
        assert_eq!(first.data, recs[0].data);
        let soa = Record::read(&mut dec).unwrap();
        assert_eq!(soa.name.to_string(), "Example.TEST.");
        assert_eq!(soa.data, recs[1].data);
        let srv = Record::read(&mut dec).unwrap();
        assert_eq!(srv.data, recs[2].data);
        let txt = Record::read(&mut dec).unwrap();
        assert_eq!(txt.name, recs[3].name);
        assert_eq!(txt.data, recs[3].data);
    }

    #[test]
    fn srv_target_is_not_compressed() {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, 65535);
        w.name(&n("www.example.test."), true);
        let start = w.out.len();
        w.record(&Record::from_rdata(
            n("www.example.test."),
            60,
            RData::SRV(SRV::new(1, 2, 3, n("www.example.test."))),
        ));
        // owner pointer (2), type, class, ttl, rdlength (10), then 6 + 18 bytes of RDATA.
        assert_eq!(out.len() - start, 2 + 10 + 6 + 18);
        assert_eq!(&out[out.len() - 18..], b"\x03www\x07example\x04test\x00");
    }

    #[test]
    fn rollback_forgets_targets() {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, 65535);
        let m = w.mark();
        w.name(&n("a.example."), true);
        w.rollback(m);
        w.name(&n("example."), true);
        assert_eq!(out, b"\x07example\x00");
    }

    /// The compressor as first written (labels as slices, one suffix at a time), kept as
    /// the reference the stack-buffer writer must match byte for byte.
    fn reference(names: &[Name]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut targets: Vec<(usize, Vec<Vec<u8>>)> = Vec::new();
        for name in names {
            let labels: Vec<Vec<u8>> = name.iter().map(<[u8]>::to_vec).collect();
            let mut done = false;
            for i in 0..labels.len() {
                let suffix = &labels[i..];
                let hit = targets.iter().find(|(_, t)| {
                    t.len() == suffix.len()
                        && t.iter().zip(suffix).all(|(a, b)| a.eq_ignore_ascii_case(b))
                });
                if let Some((off, _)) = hit {
                    out.extend_from_slice(&(0xc000 | *off as u16).to_be_bytes());
                    done = true;
                    break;
                }
                if out.len() <= MAX_POINTER && targets.len() < MAX_TARGETS {
                    targets.push((out.len(), suffix.to_vec()));
                }
                out.push(labels[i].len() as u8);
                out.extend_from_slice(&labels[i]);
            }
            if !done {
                out.push(0);
            }
        }
        out
    }

    #[test]
    fn matches_the_reference_compressor() {
        let parts = [
            "a", "B", "www", "Example", "example", "TEST", "test", "x-1", "mail",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |m: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % m as u64) as usize
        };
        for _ in 0..300 {
            let names: Vec<Name> = (0..1 + next(90))
                .map(|_| {
                    let labels: Vec<&str> =
                        (0..next(5)).map(|_| parts[next(parts.len())]).collect();
                    n(&format!("{}.", labels.join(".")))
                })
                .collect();
            let mut out = Vec::new();
            let mut w = Writer::new(&mut out, 65535);
            for name in &names {
                w.name(name, true);
            }
            assert_eq!(out, reference(&names));
            let mut dec = hickory_proto::serialize::binary::BinDecoder::new(&out);
            for name in &names {
                assert_eq!(&Name::read(&mut dec).unwrap(), name);
            }
        }
    }
}
