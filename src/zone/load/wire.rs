//! RDATA built as wire bytes and decoded by hickory's binary decoder. This is how types
//! without a usable text parser in hickory (DNAME, RP, AFSDB, DNSSEC types, RFC 3597
//! generic RDATA, ...) are loaded, and the same field layouts drive printing them back.

use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::Restrict;
use hickory_proto::serialize::binary::{BinDecoder, BinEncodable, BinEncoder, NameEncoding};

/// A field of a simple RDATA layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    U8,
    U16,
    U32,
    /// The rest of the RDATA, written in hex.
    Hex,
    /// The rest of the RDATA, written in base64.
    B64,
    /// The rest of the RDATA as one unprefixed string, written like a character-string
    /// (URI's target, RFC 7553).
    Raw,
    /// One character-string (RFC 1035 §3.3).
    Str,
    /// One or more character-strings to the end of the RDATA.
    Strs,
}

use Field::*;

/// Types whose RDATA is a plain sequence of names, numbers and character-strings, by
/// mnemonic and code. Several are unknown to hickory, which keeps them as opaque bytes.
const LAYOUTS: &[(&str, u16, &[Field])] = &[
    ("MD", 3, &[Name]),
    ("MF", 4, &[Name]),
    ("MB", 7, &[Name]),
    ("MG", 8, &[Name]),
    ("MR", 9, &[Name]),
    ("HINFO", 13, &[Str, Str]),
    ("MINFO", 14, &[Name, Name]),
    ("TXT", 16, &[Strs]),
    ("RP", 17, &[Name, Name]),
    ("AFSDB", 18, &[U16, Name]),
    ("X25", 19, &[Str]),
    ("RT", 21, &[U16, Name]),
    ("PX", 26, &[U16, Name, Name]),
    ("KX", 36, &[U16, Name]),
    ("DNAME", 39, &[Name]),
    ("DHCID", 49, &[B64]),
    ("NINFO", 56, &[Strs]),
    ("TALINK", 58, &[Name, Name]),
    ("ZONEMD", 63, &[U32, U8, U8, Hex]),
    ("SPF", 99, &[Strs]),
    ("LP", 107, &[U16, Name]),
    ("URI", 256, &[U16, U16, Raw]),
    ("AVC", 258, &[Strs]),
    ("RESINFO", 261, &[Strs]),
];

pub fn layout(code: u16) -> Option<&'static [Field]> {
    LAYOUTS.iter().find(|l| l.1 == code).map(|l| l.2)
}

/// The type for a mnemonic, including the ones hickory does not know, and `TYPEnnn`.
pub fn parse_type(raw: &str) -> Option<RecordType> {
    let up = raw.to_ascii_uppercase();
    if let Some(l) = LAYOUTS.iter().find(|l| l.0 == up) {
        return Some(RecordType::from(l.1));
    }
    if let Some(num) = up.strip_prefix("TYPE") {
        return num.parse::<u16>().ok().map(RecordType::from);
    }
    match up.parse::<RecordType>() {
        Ok(RecordType::Unknown(_)) | Err(_) => None,
        Ok(t) => Some(t),
    }
}

/// The mnemonic to print for a type, `TYPEnnn` (RFC 3597 §5) when there is none.
pub fn type_name(rtype: RecordType) -> String {
    let code = u16::from(rtype);
    if let Some(l) = LAYOUTS.iter().find(|l| l.1 == code) {
        return l.0.to_string();
    }
    match rtype {
        RecordType::Unknown(n) => format!("TYPE{n}"),
        t => t.to_string(),
    }
}

pub fn push_name(out: &mut Vec<u8>, name: &Name) {
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
}

/// Decodes RDATA bytes of `rtype` with hickory's decoder, requiring every byte be used.
pub fn decode(rtype: RecordType, bytes: &[u8]) -> Result<RData, String> {
    let len = u16::try_from(bytes.len()).map_err(|_| "RDATA longer than 65535 octets")?;
    let mut dec = BinDecoder::new(bytes);
    let rdata = RData::read(&mut dec, rtype, Restrict::new(len))
        .map_err(|e| format!("invalid {} RDATA: {e}", type_name(rtype)))?;
    if !dec.is_empty() {
        return Err(format!(
            "invalid {} RDATA: trailing octets",
            type_name(rtype)
        ));
    }
    Ok(rdata)
}

/// The RDATA's wire bytes, names uncompressed and in their original case.
pub fn encode(rdata: &RData) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut enc = BinEncoder::new(&mut buf);
    enc.set_name_encoding(NameEncoding::Uncompressed);
    rdata.emit(&mut enc).ok()?;
    Some(buf)
}

/// A decoded field value, for printing.
pub enum Value {
    Name(Name),
    U8(u8),
    U16(u16),
    U32(u32),
    Hex(Vec<u8>),
    B64(Vec<u8>),
    /// A character-string, or URI's unprefixed string.
    Str(Vec<u8>),
}

/// Splits wire bytes by a layout; None when they do not fit it (then print generically).
pub fn split(layout: &[Field], bytes: &[u8]) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    let mut i = 0usize;
    for f in layout {
        match f {
            Field::Name => {
                let mut labels: Vec<&[u8]> = Vec::new();
                loop {
                    let len = usize::from(*bytes.get(i)?);
                    i += 1;
                    if len == 0 {
                        break;
                    }
                    if len > 63 {
                        return None;
                    }
                    labels.push(bytes.get(i..i + len)?);
                    i += len;
                }
                out.push(Value::Name(
                    hickory_proto::rr::Name::from_labels(labels).ok()?,
                ));
            }
            Field::U8 => {
                out.push(Value::U8(*bytes.get(i)?));
                i += 1;
            }
            Field::U16 => {
                let b = bytes.get(i..i + 2)?;
                out.push(Value::U16(u16::from_be_bytes([b[0], b[1]])));
                i += 2;
            }
            Field::U32 => {
                let b = bytes.get(i..i + 4)?;
                out.push(Value::U32(u32::from_be_bytes([b[0], b[1], b[2], b[3]])));
                i += 4;
            }
            Field::Hex | Field::B64 | Field::Raw => {
                let rest = bytes.get(i..)?.to_vec();
                i = bytes.len();
                out.push(match f {
                    Field::Hex => Value::Hex(rest),
                    Field::B64 => Value::B64(rest),
                    _ => Value::Str(rest),
                });
            }
            Field::Str | Field::Strs => loop {
                let len = usize::from(*bytes.get(i)?);
                out.push(Value::Str(bytes.get(i + 1..i + 1 + len)?.to_vec()));
                i += 1 + len;
                if *f == Field::Str || i == bytes.len() {
                    break;
                }
            },
        }
    }
    (i == bytes.len()).then_some(out)
}

/// RFC 4034 §4.1.2 type bitmap.
pub fn type_bitmap(types: &[RecordType]) -> Vec<u8> {
    let mut codes: Vec<u16> = types.iter().map(|t| u16::from(*t)).collect();
    codes.sort_unstable();
    codes.dedup();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&first) = codes.get(i) {
        let window = first >> 8;
        let mut bits = [0u8; 32];
        let mut max = 0usize;
        while let Some(&c) = codes.get(i).filter(|c| *c >> 8 == window) {
            let low = usize::from(c & 0xff);
            bits[low / 8] |= 0x80 >> (low % 8);
            max = low / 8;
            i += 1;
        }
        out.push(window as u8);
        out.push((max + 1) as u8);
        out.extend_from_slice(&bits[..=max]);
    }
    out
}
