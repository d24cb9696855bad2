//! A stored version as chunks: each RRset goes to the chunk its owner name hashes to, and
//! a chunk is one blob of RRset entries.
//!
//! Why chunks rather than a row per RRset: a 1,000,000-RRset zone is then about two
//! thousand rows, written and read in a fraction of the time a million rows take, while
//! a one-record IXFR still rewrites only the chunk of each RRset it touches (a few
//! hundred RRsets, some kilobytes).
//!
//! An entry is: the owner with its case, in uncompressed wire form; the type (u16); the
//! TTL (u32); the byte length of what follows (u32); then per record a u16 length and the
//! wire RDATA (names uncompressed, case kept), as [`encode_rdata`] writes it.
//!
//! [`chunk_of`] is part of the format: a name must land in the same chunk for as long as
//! a generation is stored, whatever build reads it, so it is a fixed FNV-1a and not the
//! process's seeded hasher.

use hickory_proto::rr::{Record, RecordType};

use super::StoreError;
use super::codec::{decode_rdata, encode_rdata, name_from_wire, rdata_wire, write_name};
use crate::zone::RRset;

/// A full commit sizes its chunks to about this many RRsets each.
const RRSETS_PER_CHUNK: usize = 512;

/// How many chunks a version of `rrsets` RRsets is split into.
pub(super) fn chunk_count(rrsets: usize) -> u32 {
    let n = (rrsets / RRSETS_PER_CHUNK).max(1).next_power_of_two();
    u32::try_from(n).unwrap_or(1 << 31)
}

/// The chunk of an owner name given in wire form, in any case.
pub(super) fn chunk_of(owner: &[u8], chunks: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in owner {
        h ^= u64::from(b.to_ascii_lowercase());
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // FNV's low bits mix poorly; fold the high half in before reducing.
    let h = h ^ (h >> 32);
    (h % u64::from(chunks.max(1))) as u32
}

/// Buffers reused across the entries of one commit.
#[derive(Default)]
pub(super) struct Scratch {
    name: Vec<u8>,
    rdata: Vec<u8>,
    item: Vec<u8>,
}

/// Appends the entry of `set` to `out`, whose owner `scratch.name` already holds in wire
/// form (cased as `set.name`).
pub(super) fn push_entry(
    out: &mut Vec<u8>,
    set: &RRset,
    scratch: &mut Scratch,
) -> Result<(), StoreError> {
    encode_rdata(set, &mut scratch.rdata, &mut scratch.item)?;
    let len = u32::try_from(scratch.rdata.len())
        .map_err(|_| StoreError::Encode(format!("RRset {} is too large", set.name)))?;
    out.extend_from_slice(&scratch.name);
    out.extend_from_slice(&u16::from(set.rtype).to_be_bytes());
    out.extend_from_slice(&set.ttl.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&scratch.rdata);
    Ok(())
}

/// [`push_entry`] for an RRset whose owner is not in `scratch` yet.
pub(super) fn push_set(
    out: &mut Vec<u8>,
    set: &RRset,
    scratch: &mut Scratch,
) -> Result<(), StoreError> {
    write_name(&set.name, &mut scratch.name);
    push_entry(out, set, scratch)
}

/// A full commit prepared while a version's records arrive (an AXFR): each record is
/// encoded while it is at hand, instead of in a walk over the finished version that finds
/// every RRset somewhere else in memory. Records go to [`BUCKETS`] buckets by the same
/// hash as chunks; the commit merges buckets into however many chunks the version needs.
/// Consecutive records of one RRset share an entry; an RRset split over the stream (or a
/// repeated record) gives several entries, which a load merges exactly as the version
/// was built from the records: first TTL, duplicates dropped.
pub struct Prepared {
    buckets: Vec<Vec<u8>>,
    /// The first record that could not be encoded; the commit then fails with it.
    failed: Option<StoreError>,
    scratch: Scratch,
    /// The last entry written: its bucket, where its length field is, and its type.
    last: Option<(usize, usize, u16)>,
    last_name: Vec<u8>,
}

/// How many buckets a prepared commit sorts entries into: a power of two, so a bucket
/// maps onto one chunk of any smaller power-of-two count.
const BUCKETS: u32 = 4096;

impl Default for Prepared {
    fn default() -> Self {
        Prepared {
            buckets: vec![Vec::new(); BUCKETS as usize],
            failed: None,
            scratch: Scratch::default(),
            last: None,
            last_name: Vec::new(),
        }
    }
}

impl Prepared {
    /// Adds a record. A record that cannot be encoded makes the commit fail.
    pub fn push(&mut self, rec: &Record) {
        if self.failed.is_none()
            && let Err(e) = self.encode(rec)
        {
            self.failed = Some(e);
        }
    }

    fn encode(&mut self, rec: &Record) -> Result<(), StoreError> {
        let rtype = u16::from(rec.record_type());
        rdata_wire(&rec.data, &mut self.scratch.item)?;
        let rd = &self.scratch.item;
        let len = u16::try_from(rd.len())
            .map_err(|_| StoreError::Encode(format!("RDATA of {} is over 64 KiB", rec.name)))?;
        write_name(&rec.name, &mut self.scratch.name);
        if let Some((b, at, t)) = self.last
            && t == rtype
            && self.scratch.name == self.last_name
            && let Some(buf) = self.buckets.get_mut(b)
            && let Some(field) = buf.get_mut(at..at + 4)
        {
            let old = u32::from_be_bytes([field[0], field[1], field[2], field[3]]);
            let grown = old.saturating_add(2 + u32::from(len));
            field.copy_from_slice(&grown.to_be_bytes());
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(rd);
            return Ok(());
        }
        let b = chunk_of(&self.scratch.name, BUCKETS) as usize;
        let Some(buf) = self.buckets.get_mut(b) else {
            return Ok(());
        };
        buf.extend_from_slice(&self.scratch.name);
        buf.extend_from_slice(&rtype.to_be_bytes());
        buf.extend_from_slice(&rec.ttl.to_be_bytes());
        let at = buf.len();
        buf.extend_from_slice(&(2 + u32::from(len)).to_be_bytes());
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(rd);
        self.last = Some((b, at, rtype));
        std::mem::swap(&mut self.last_name, &mut self.scratch.name);
        Ok(())
    }

    /// The entries as `count` chunks (a power of two).
    pub(super) fn into_chunks(self, count: u32) -> Result<Vec<Vec<u8>>, StoreError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let mut chunks: Vec<Vec<u8>> = vec![Vec::new(); count as usize];
        if count <= BUCKETS && BUCKETS.is_multiple_of(count.max(1)) {
            for (b, bucket) in self.buckets.into_iter().enumerate() {
                if let Some(chunk) = chunks.get_mut(b % count.max(1) as usize) {
                    if chunk.is_empty() {
                        *chunk = bucket;
                    } else {
                        chunk.extend_from_slice(&bucket);
                    }
                }
            }
            return Ok(chunks);
        }
        for bucket in &self.buckets {
            for e in entries(bucket) {
                let e = e?;
                if let Some(chunk) = chunks.get_mut(chunk_of(e.name, count) as usize) {
                    chunk.extend_from_slice(e.bytes);
                }
            }
        }
        Ok(chunks)
    }
}

/// One entry of a chunk, not decoded.
pub(super) struct EntryRef<'a> {
    /// The owner in wire form, with its case.
    pub name: &'a [u8],
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: &'a [u8],
    /// The whole entry, to copy it unchanged into a rewritten chunk.
    pub bytes: &'a [u8],
}

impl EntryRef<'_> {
    pub fn decode(&self) -> Result<RRset, StoreError> {
        let rtype = RecordType::from(self.rtype);
        Ok(RRset {
            name: name_from_wire(self.name)?,
            rtype,
            ttl: self.ttl,
            rdata: decode_rdata(rtype, self.rdata)?,
        })
    }

    /// Whether this is the RRset of `owner` (wire form, any case) and `rtype`.
    pub fn is(&self, owner: &[u8], rtype: u16) -> bool {
        self.rtype == rtype && self.name.eq_ignore_ascii_case(owner)
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("chunk: {what}"))
}

fn take<'a>(blob: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], StoreError> {
    if blob.len() < n {
        return Err(corrupt(what));
    }
    let (head, tail) = blob.split_at(n);
    *blob = tail;
    Ok(head)
}

/// Splits off the entry at the start of `blob`.
fn next_entry<'a>(blob: &mut &'a [u8]) -> Result<EntryRef<'a>, StoreError> {
    let whole = *blob;
    let mut at = 0usize;
    loop {
        let len = usize::from(*whole.get(at).ok_or_else(|| corrupt("owner name"))?);
        if len > 63 {
            return Err(corrupt("owner label"));
        }
        at += 1 + len;
        if len == 0 {
            break;
        }
    }
    let name = take(blob, at, "owner name")?;
    let fixed = take(blob, 10, "entry header")?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let ttl = u32::from_be_bytes([fixed[2], fixed[3], fixed[4], fixed[5]]);
    let len = u32::from_be_bytes([fixed[6], fixed[7], fixed[8], fixed[9]]) as usize;
    let rdata = take(blob, len, "RDATA")?;
    let used = whole.len() - blob.len();
    Ok(EntryRef {
        name,
        rtype,
        ttl,
        rdata,
        bytes: whole.get(..used).unwrap_or_default(),
    })
}

/// The entries of a chunk blob, in order; an error ends the iteration.
pub(super) fn entries(blob: &[u8]) -> impl Iterator<Item = Result<EntryRef<'_>, StoreError>> {
    let mut rest = blob;
    let mut failed = false;
    std::iter::from_fn(move || {
        if rest.is_empty() || failed {
            return None;
        }
        let e = next_entry(&mut rest);
        failed = e.is_err();
        Some(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::codec::name_wire;
    use crate::zone::diff::tests::n;
    use hickory_proto::rr::RData;
    use hickory_proto::rr::rdata::{A, MX};

    #[test]
    fn entries_round_trip_and_match_any_case() {
        let sets = [
            RRset {
                name: n("WwW.example.test."),
                rtype: RecordType::A,
                ttl: 60,
                rdata: vec![
                    RData::A(A::new(192, 0, 2, 1)),
                    RData::A(A::new(192, 0, 2, 2)),
                ],
            },
            RRset {
                name: n("example.test."),
                rtype: RecordType::MX,
                ttl: 300,
                rdata: vec![RData::MX(MX::new(10, n("Mail.example.test.")))],
            },
        ];
        let mut blob = Vec::new();
        let mut scratch = Scratch::default();
        for s in &sets {
            push_set(&mut blob, s, &mut scratch).unwrap();
        }
        let back: Vec<RRset> = entries(&blob)
            .map(|e| e.unwrap().decode().unwrap())
            .collect();
        assert_eq!(back, sets);
        let first = entries(&blob).next().unwrap().unwrap();
        assert!(first.is(&name_wire(&n("www.EXAMPLE.test.")), 1));
        assert!(!first.is(&name_wire(&n("www.example.test.")), 28));
        assert_eq!(
            chunk_of(&name_wire(&n("WWW.example.test.")), 64),
            chunk_of(&name_wire(&n("www.example.test.")), 64)
        );
        // A truncated chunk is an error, never a panic.
        let first_len = first.bytes.len();
        for cut in 1..blob.len() {
            let got: Vec<_> = entries(&blob[..cut]).collect();
            if cut == first_len {
                assert!(got.len() == 1 && got[0].is_ok());
            } else {
                assert!(got.last().unwrap().is_err(), "{cut}");
            }
        }
    }

    #[test]
    fn the_chunk_function_is_fixed() {
        // Stored generations depend on these values: changing the function needs a
        // schema migration.
        let owner = name_wire(&n("h123.bench.test."));
        assert_eq!(chunk_of(&owner, 1), 0);
        assert_eq!(chunk_of(&owner, 1 << 20), 492_251);
        assert_eq!(chunk_count(0), 1);
        assert_eq!(chunk_count(1_000_000), 2048);
    }
}
