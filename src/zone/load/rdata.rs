//! RDATA text to `RData`. Names are absolutized here (hickory's own parser gets `@` and
//! relative names wrong), character-strings are decoded here (so `\DDD` is exact), and
//! the remaining types go to hickory's per-type text parsers or, for types hickory can
//! only decode from the wire, are built as wire bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use data_encoding::{BASE32HEX_NOPAD, BASE64, HEXUPPER_PERMISSIVE};
use hickory_proto::rr::rdata::{A, AAAA, ANAME, CNAME, MX, NAPTR, NS, PTR, SOA, SRV};
use hickory_proto::rr::{Name, RData, RecordType};

use super::fields::{parse_name, parse_ttl, parse_u8, parse_u16, parse_u32};
use super::lexer::{Token, unescape};
use super::wire::{self, Field, push_name, type_bitmap};

/// An RDATA error; `index` is the offending token (== token count: missing token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdataError {
    pub index: usize,
    pub message: String,
}

type R<T> = Result<T, RdataError>;

struct Fields<'a> {
    tokens: &'a [Token],
    i: usize,
    origin: &'a Name,
}

impl<'a> Fields<'a> {
    fn err<T>(&self, index: usize, message: impl Into<String>) -> R<T> {
        Err(RdataError {
            index,
            message: message.into(),
        })
    }

    fn next(&mut self, what: &str) -> R<&'a Token> {
        match self.tokens.get(self.i) {
            Some(t) => {
                self.i += 1;
                Ok(t)
            }
            None => self.err(self.i, format!("missing {what}")),
        }
    }

    fn with<T>(&mut self, what: &str, f: impl FnOnce(&str) -> Result<T, String>) -> R<T> {
        let idx = self.i;
        let t = self.next(what)?;
        f(&t.raw).or_else(|m| self.err(idx, format!("bad {what}: {m}")))
    }

    fn name(&mut self) -> R<Name> {
        let origin = self.origin;
        self.with("domain name", |s| parse_name(s, origin))
    }
    fn u8(&mut self, what: &str) -> R<u8> {
        self.with(what, parse_u8)
    }
    fn u16(&mut self, what: &str) -> R<u16> {
        self.with(what, parse_u16)
    }
    fn u32(&mut self, what: &str) -> R<u32> {
        self.with(what, parse_u32)
    }
    /// SOA timers accept TTL units, as BIND does.
    fn timer(&mut self, what: &str) -> R<u32> {
        self.with(what, |s| {
            parse_ttl(s).ok_or_else(|| "not a time value".into())
        })
    }
    fn string(&mut self) -> R<Vec<u8>> {
        let b = self.with("character-string", unescape)?;
        if b.len() > 255 {
            return self.err(self.i - 1, "character-string longer than 255 octets");
        }
        Ok(b)
    }
    /// The rest of the tokens concatenated (base64, hex); at least one required.
    fn rest(&mut self, what: &str) -> R<(usize, String)> {
        let idx = self.i;
        if idx >= self.tokens.len() {
            return self.err(idx, format!("missing {what}"));
        }
        let s = self.tokens[idx..].iter().map(|t| t.raw.as_str()).collect();
        self.i = self.tokens.len();
        Ok((idx, s))
    }
    fn done(&self) -> R<()> {
        if self.i < self.tokens.len() {
            return self.err(self.i, "extra data after RDATA");
        }
        Ok(())
    }
}

/// Parses the RDATA tokens of one record of type `rtype`.
pub fn parse_rdata(rtype: RecordType, tokens: &[Token], origin: &Name) -> R<RData> {
    let mut f = Fields {
        tokens,
        i: 0,
        origin,
    };
    if is_meta(rtype) {
        return f.err(0, format!("{} is not a data type", wire::type_name(rtype)));
    }
    if tokens.first().is_some_and(|t| t.is("\\#")) {
        return generic(rtype, &mut f);
    }
    let code = u16::from(rtype);
    let rdata = match rtype {
        RecordType::A => RData::A(A::from(f.with("IPv4 address", |s| {
            s.parse::<Ipv4Addr>().map_err(|e| e.to_string())
        })?)),
        RecordType::AAAA => RData::AAAA(AAAA::from(f.with("IPv6 address", |s| {
            s.parse::<Ipv6Addr>().map_err(|e| e.to_string())
        })?)),
        RecordType::NS => RData::NS(NS(f.name()?)),
        RecordType::CNAME => RData::CNAME(CNAME(f.name()?)),
        RecordType::PTR => RData::PTR(PTR(f.name()?)),
        RecordType::ANAME => RData::ANAME(ANAME(f.name()?)),
        RecordType::MX => {
            let pref = f.u16("preference")?;
            RData::MX(MX::new(pref, f.name()?))
        }
        RecordType::SRV => {
            let (p, w, port) = (f.u16("priority")?, f.u16("weight")?, f.u16("port")?);
            RData::SRV(SRV::new(p, w, port, f.name()?))
        }
        RecordType::SOA => {
            let (mname, rname) = (f.name()?, f.name()?);
            let serial = f.u32("serial")?;
            let (refresh, retry, expire, minimum) = (
                f.timer("refresh")?,
                f.timer("retry")?,
                f.timer("expire")?,
                f.timer("minimum")?,
            );
            RData::SOA(SOA::new(
                mname,
                rname,
                serial,
                refresh as i32,
                retry as i32,
                expire as i32,
                minimum,
            ))
        }
        RecordType::NAPTR => {
            let (order, pref) = (f.u16("order")?, f.u16("preference")?);
            let (flags, services, regexp) = (f.string()?, f.string()?, f.string()?);
            let replacement = f.name()?;
            RData::NAPTR(NAPTR::new(
                order,
                pref,
                flags.into(),
                services.into(),
                regexp.into(),
                replacement,
            ))
        }
        RecordType::SVCB | RecordType::HTTPS => {
            let prio = f.u16("priority")?;
            let target = f.name()?;
            let mut text = format!("{prio} {target}");
            for t in &tokens[f.i..] {
                text.push(' ');
                text.push_str(&t.written());
            }
            return hickory_text(rtype, &text, 2);
        }
        RecordType::DS | RecordType::CDS => {
            let mut w = Vec::new();
            w.extend(f.u16("key tag")?.to_be_bytes());
            w.push(f.with("algorithm", algorithm)?);
            w.push(f.u8("digest type")?);
            let (idx, hex) = f.rest("digest")?;
            w.extend(decode_with(&f, idx, &HEXUPPER_PERMISSIVE, &hex, "hex")?);
            wire_rdata(rtype, &w, 0)?
        }
        RecordType::DNSKEY | RecordType::CDNSKEY | RecordType::KEY => {
            let mut w = Vec::new();
            w.extend(f.u16("flags")?.to_be_bytes());
            w.push(f.u8("protocol")?);
            w.push(f.with("algorithm", algorithm)?);
            let (idx, b64) = f.rest("public key")?;
            w.extend(decode_with(&f, idx, &BASE64, &b64, "base64")?);
            wire_rdata(rtype, &w, 0)?
        }
        RecordType::NSEC => {
            let mut w = Vec::new();
            push_name(&mut w, &f.name()?);
            w.extend(types(&mut f)?);
            wire_rdata(rtype, &w, 0)?
        }
        RecordType::NSEC3PARAM | RecordType::NSEC3 => {
            let mut w = vec![f.u8("hash algorithm")?, f.u8("flags")?];
            w.extend(f.u16("iterations")?.to_be_bytes());
            let idx = f.i;
            let salt = f.next("salt")?;
            let salt = if salt.raw == "-" {
                Vec::new()
            } else {
                decode_with(&f, idx, &HEXUPPER_PERMISSIVE, &salt.raw, "hex")?
            };
            w.push(u8::try_from(salt.len()).or_else(|_| f.err(idx, "salt too long"))?);
            w.extend(salt);
            if rtype == RecordType::NSEC3 {
                let idx = f.i;
                let next = f.next("next hashed owner")?;
                let upper = next.raw.to_ascii_uppercase();
                let h = decode_with(&f, idx, &BASE32HEX_NOPAD, &upper, "base32hex")?;
                w.push(u8::try_from(h.len()).or_else(|_| f.err(idx, "hash too long"))?);
                w.extend(h);
                w.extend(types(&mut f)?);
            }
            wire_rdata(rtype, &w, 0)?
        }
        RecordType::RRSIG | RecordType::SIG => {
            let mut w = Vec::new();
            let covered = f.with("type covered", |s| {
                wire::parse_type(s).ok_or_else(|| "unknown type".to_string())
            })?;
            w.extend(u16::from(covered).to_be_bytes());
            w.push(f.with("algorithm", algorithm)?);
            w.push(f.u8("labels")?);
            w.extend(f.u32("original TTL")?.to_be_bytes());
            w.extend(f.with("expiration", sig_time)?.to_be_bytes());
            w.extend(f.with("inception", sig_time)?.to_be_bytes());
            w.extend(f.u16("key tag")?.to_be_bytes());
            push_name(&mut w, &f.name()?);
            let (idx, b64) = f.rest("signature")?;
            w.extend(decode_with(&f, idx, &BASE64, &b64, "base64")?);
            wire_rdata(rtype, &w, 0)?
        }
        RecordType::CAA
        | RecordType::CERT
        | RecordType::CSYNC
        | RecordType::OPENPGPKEY
        | RecordType::SMIMEA
        | RecordType::SSHFP
        | RecordType::TLSA => {
            if tokens.is_empty() {
                return f.err(0, "missing RDATA");
            }
            let text: Vec<String> = tokens.iter().map(Token::written).collect();
            return hickory_text(rtype, &text.join(" "), 0);
        }
        _ => match wire::layout(code) {
            Some(layout) => {
                let mut w = Vec::new();
                for field in layout {
                    match field {
                        Field::Name => push_name(&mut w, &f.name()?),
                        Field::U8 => w.push(f.u8("number")?),
                        Field::U16 => w.extend(f.u16("number")?.to_be_bytes()),
                        Field::U32 => w.extend(f.u32("number")?.to_be_bytes()),
                        Field::Hex => {
                            let (idx, hex) = f.rest("hex data")?;
                            w.extend(decode_with(&f, idx, &HEXUPPER_PERMISSIVE, &hex, "hex")?);
                        }
                        Field::B64 => {
                            let (idx, b64) = f.rest("base64 data")?;
                            w.extend(decode_with(&f, idx, &BASE64, &b64, "base64")?);
                        }
                        Field::Raw => w.extend(f.with("string", unescape)?),
                        Field::Str => {
                            let s = f.string()?;
                            w.push(s.len() as u8);
                            w.extend(s);
                        }
                        Field::Strs => loop {
                            let s = f.string()?;
                            w.push(s.len() as u8);
                            w.extend(s);
                            if f.i >= tokens.len() {
                                break;
                            }
                        },
                    }
                }
                wire_rdata(rtype, &w, 0)?
            }
            None => {
                return f.err(
                    0,
                    format!(
                        "type {} has no text form here; use RFC 3597 `\\# length hex`",
                        wire::type_name(rtype)
                    ),
                );
            }
        },
    };
    f.done()?;
    Ok(rdata)
}

fn is_meta(rtype: RecordType) -> bool {
    matches!(
        rtype,
        RecordType::OPT
            | RecordType::TSIG
            | RecordType::ANY
            | RecordType::AXFR
            | RecordType::IXFR
            | RecordType::ZERO
    ) || matches!(u16::from(rtype), 128..=255)
}

/// RFC 3597 §5: `\# length hex...`, for any type, decoded by the binary decoder.
fn generic(rtype: RecordType, f: &mut Fields<'_>) -> R<RData> {
    f.i = 1;
    let len = f.u16("RDATA length")?;
    let (idx, hex) = if f.i < f.tokens.len() {
        f.rest("hex")?
    } else {
        (f.i, String::new())
    };
    let bytes = decode_with(f, idx, &HEXUPPER_PERMISSIVE, &hex, "hex")?;
    if bytes.len() != usize::from(len) {
        return f.err(
            1,
            format!("length {len} does not match {} octets of data", bytes.len()),
        );
    }
    wire_rdata(rtype, &bytes, idx)
}

fn wire_rdata(rtype: RecordType, bytes: &[u8], index: usize) -> R<RData> {
    if bytes.is_empty() && !matches!(rtype, RecordType::Unknown(_) | RecordType::NULL) {
        // hickory reads an empty RDATA of a known type from the wire as an UPDATE
        // placeholder (RFC 2136), so such a record could not be transferred.
        return Err(RdataError {
            index,
            message: format!("empty RDATA is not valid for {}", wire::type_name(rtype)),
        });
    }
    wire::decode(rtype, bytes).map_err(|message| RdataError { index, message })
}

/// RFC 9460 §2.2: SvcParams may be written in any order but go on the wire sorted by key
/// (hickory's encoder refuses them otherwise), and no key may repeat.
fn svcb_sorted(rdata: RData) -> R<RData> {
    let sort = |svcb: &mut hickory_proto::rr::rdata::SVCB| -> R<()> {
        svcb.svc_params.sort_by_key(|(k, _)| u16::from(*k));
        if svcb.svc_params.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(RdataError {
                index: 2,
                message: "a SvcParamKey appears twice".into(),
            });
        }
        Ok(())
    };
    let mut rdata = rdata;
    match &mut rdata {
        RData::SVCB(s) => sort(s)?,
        RData::HTTPS(h) => sort(&mut h.0)?,
        _ => {}
    }
    Ok(rdata)
}

/// hickory's text parsers accept some values its wire codec cannot carry (a CAA tag with
/// a `;`, say); such RDATA could never be served or transferred, so it is refused here.
fn hickory_text(rtype: RecordType, text: &str, index: usize) -> R<RData> {
    let bad = |e: String| RdataError {
        index,
        message: format!("bad {} RDATA: {e}", wire::type_name(rtype)),
    };
    let rdata = RData::try_from_str(rtype, text).map_err(|e| bad(e.to_string()))?;
    let rdata = svcb_sorted(rdata)?;
    let bytes = wire::encode(&rdata).ok_or_else(|| bad("cannot be encoded".into()))?;
    if bytes.is_empty() {
        // An empty RDATA reads back as an UPDATE placeholder (RFC 2136) from the wire.
        return Err(bad("empty RDATA".into()));
    }
    match wire::decode(rtype, &bytes) {
        Ok(back) if back == rdata => Ok(rdata),
        _ => Err(bad("does not survive the wire format".into())),
    }
}

fn decode_with(
    f: &Fields<'_>,
    idx: usize,
    enc: &data_encoding::Encoding,
    s: &str,
    what: &str,
) -> R<Vec<u8>> {
    // Padding ends base64 (BIND rejects text after it; the decoder would accept it).
    if s.trim_end_matches('=').contains('=') {
        return f.err(idx, format!("bad {what}: data after padding"));
    }
    enc.decode(s.as_bytes())
        .or_else(|e| f.err(idx, format!("bad {what}: {e}")))
}

fn types(f: &mut Fields<'_>) -> R<Vec<u8>> {
    let mut list = Vec::new();
    while f.i < f.tokens.len() {
        list.push(f.with("type", |s| {
            wire::parse_type(s).ok_or_else(|| "unknown type".to_string())
        })?);
    }
    Ok(type_bitmap(&list))
}

/// A DNSSEC algorithm number or mnemonic (RFC 4034 Appendix A.1 and its registry).
fn algorithm(s: &str) -> Result<u8, String> {
    const NAMES: &[(&str, u8)] = &[
        ("RSAMD5", 1),
        ("DH", 2),
        ("DSA", 3),
        ("RSASHA1", 5),
        ("DSA-NSEC3-SHA1", 6),
        ("RSASHA1-NSEC3-SHA1", 7),
        ("RSASHA256", 8),
        ("RSASHA512", 10),
        ("ECC-GOST", 12),
        ("ECDSAP256SHA256", 13),
        ("ECDSAP384SHA384", 14),
        ("ED25519", 15),
        ("ED448", 16),
        ("INDIRECT", 252),
        ("PRIVATEDNS", 253),
        ("PRIVATEOID", 254),
    ];
    NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map(|(_, v)| *v)
        .map_or_else(|| parse_u8(s), Ok)
}

/// RRSIG times: `YYYYMMDDHHmmSS` (UTC) or seconds since the epoch (RFC 4034 §3.2).
fn sig_time(s: &str) -> Result<u32, String> {
    if s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit()) {
        let num = |a: usize, b: usize| s.get(a..b).and_then(|x| x.parse::<i64>().ok());
        let (y, mo, d) = (num(0, 4), num(4, 6), num(6, 8));
        let (h, mi, se) = (num(8, 10), num(10, 12), num(12, 14));
        let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(se)) = (y, mo, d, h, mi, se)
        else {
            return Err("bad time".into());
        };
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
            return Err("bad time".into());
        }
        let secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
        // Serial arithmetic (RFC 4034 §3.1.5): the value is taken modulo 2^32.
        return Ok(secs.rem_euclid(1 << 32) as u32);
    }
    parse_u32(s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
#[path = "rdata_tests.rs"]
mod tests;
