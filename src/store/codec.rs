//! Blob formats of the store: RRset RDATA and journal changesets.
//!
//! Names inside RDATA are written uncompressed and with their case kept, so that every
//! RDATA blob decodes on its own and a version read back is the version written. The
//! formats are private to the store and versioned through the schema's `user_version`.

use hickory_proto::ProtoError;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{
    BinDecodable, BinDecoder, BinEncodable, BinEncoder, NameEncoding, Restrict,
};

use super::StoreError;
use crate::zone::RRset;
use crate::zone::diff::Changeset;

/// A changeset blob starts with this byte, so a future format can be told apart.
const CHANGESET_FORMAT: u8 = 1;

fn encode_err(e: ProtoError) -> StoreError {
    StoreError::Encode(e.to_string())
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Emits `value` into `scratch` (cleared first) with uncompressed names. A fresh encoder
/// per item keeps each item under the encoder's 64 KiB cap however large the whole blob is.
fn emit_uncompressed<T: BinEncodable>(value: &T, scratch: &mut Vec<u8>) -> Result<(), StoreError> {
    scratch.clear();
    let mut enc = BinEncoder::new(scratch);
    enc.set_name_encoding(NameEncoding::Uncompressed);
    value.emit(&mut enc).map_err(encode_err)
}

/// Writes a name in uncompressed wire form (as stored in the key column) into `out`,
/// replacing its contents. Direct, because this runs once per RRset of a full commit.
pub(crate) fn write_name(name: &Name, out: &mut Vec<u8>) {
    out.clear();
    for label in name.iter() {
        // A `Name` only holds labels of at most 63 octets.
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
}

pub(crate) fn name_wire(name: &Name) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    write_name(name, &mut out);
    out
}

pub(crate) fn name_from_wire(blob: &[u8]) -> Result<Name, StoreError> {
    Name::from_bytes(blob).map_err(|e| corrupt("owner name", e))
}

/// One RDATA in wire form into `scratch` (replacing its contents), names uncompressed.
pub(crate) fn rdata_wire(rd: &RData, scratch: &mut Vec<u8>) -> Result<(), StoreError> {
    // Addresses are most of a large zone, and their wire form is their bytes.
    match rd {
        RData::A(a) => {
            scratch.clear();
            scratch.extend_from_slice(&a.0.octets());
            Ok(())
        }
        RData::AAAA(a) => {
            scratch.clear();
            scratch.extend_from_slice(&a.0.octets());
            Ok(())
        }
        _ => emit_uncompressed(rd, scratch),
    }
}

/// RDATA of an RRset into `out` (replacing its contents): for each record, a u16 length
/// and the wire RDATA.
pub(crate) fn encode_rdata(
    set: &RRset,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Result<(), StoreError> {
    out.clear();
    for rd in &set.rdata {
        rdata_wire(rd, scratch)?;
        let len = u16::try_from(scratch.len())
            .map_err(|_| StoreError::Encode(format!("RDATA of {} is over 64 KiB", set.name)))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(scratch);
    }
    Ok(())
}

pub(crate) fn decode_rdata(rtype: RecordType, blob: &[u8]) -> Result<Vec<RData>, StoreError> {
    let mut out = Vec::new();
    let mut dec = BinDecoder::new(blob);
    while !dec.is_empty() {
        let len = dec
            .read_u16()
            .map_err(|e| corrupt("RDATA length", e))?
            .unverified();
        let start = dec.index();
        let rd = RData::read(&mut dec, rtype, Restrict::new(len))
            .map_err(|e| corrupt(&format!("{rtype} RDATA"), e))?;
        if dec.index() != start + usize::from(len) {
            return Err(StoreError::Corrupt(format!(
                "{rtype} RDATA length mismatch"
            )));
        }
        out.push(rd);
    }
    Ok(out)
}

/// A changeset: format byte, from and to serials, the two record counts, then the removed
/// and added records in wire form.
pub(crate) fn encode_changeset(cs: &Changeset) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(64 * cs.len());
    out.push(CHANGESET_FORMAT);
    out.extend_from_slice(&cs.from_serial.to_be_bytes());
    out.extend_from_slice(&cs.to_serial.to_be_bytes());
    for n in [cs.removed.len(), cs.added.len()] {
        let n = u32::try_from(n).map_err(|_| StoreError::Encode("changeset too large".into()))?;
        out.extend_from_slice(&n.to_be_bytes());
    }
    let mut scratch = Vec::new();
    for rec in cs.removed.iter().chain(&cs.added) {
        emit_uncompressed(rec, &mut scratch)?;
        out.extend_from_slice(&scratch);
    }
    Ok(out)
}

pub(crate) fn decode_changeset(blob: &[u8]) -> Result<Changeset, StoreError> {
    let mut dec = BinDecoder::new(blob);
    let format = dec
        .read_u8()
        .map_err(|e| corrupt("changeset", e))?
        .unverified();
    if format != CHANGESET_FORMAT {
        return Err(StoreError::Corrupt(format!(
            "changeset format {format} is not {CHANGESET_FORMAT}"
        )));
    }
    let mut u32s = [0u32; 4];
    for v in &mut u32s {
        *v = dec
            .read_u32()
            .map_err(|e| corrupt("changeset header", e))?
            .unverified();
    }
    let [from_serial, to_serial, n_removed, n_added] = u32s;
    let mut read = |n: u32| -> Result<Vec<Record>, StoreError> {
        // The counts come from our own blob, but cap the preallocation anyway.
        let mut v = Vec::with_capacity((n as usize).min(blob.len() / 11 + 1));
        for _ in 0..n {
            v.push(Record::read(&mut dec).map_err(|e| corrupt("changeset record", e))?);
        }
        Ok(v)
    };
    let removed = read(n_removed)?;
    let added = read(n_added)?;
    Ok(Changeset {
        from_serial,
        to_serial,
        removed,
        added,
    })
}
