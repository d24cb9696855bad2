//! A lean parse of an incoming DNS message: the header, the one question, and the OPT
//! record. The hot path needs no more than that, and parsing it by hand keeps the
//! question name's case exactly as sent (it is echoed in the reply) and lets us decide
//! precisely which malformations get FORMERR and which get no reply at all.

use hickory_proto::op::OpCode;
use hickory_proto::rr::{DNSClass, Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

/// The fixed DNS header length.
pub const HEADER_LEN: usize = 12;

/// EDNS option codes this server understands.
pub const OPT_NSID: u16 = 3;
pub const OPT_EDE: u16 = 15;
pub const OPT_ZONEVERSION: u16 = 19;

/// What the requestor said in its OPT record (RFC 6891 §6.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdnsRequest {
    /// The requestor's UDP payload size, as sent (values below 512 are treated as 512).
    pub payload: u16,
    pub version: u8,
    /// The DO bit (RFC 3225), echoed in the reply.
    pub dnssec_ok: bool,
    /// An NSID option was present (RFC 5001).
    pub nsid: bool,
    /// An empty ZONEVERSION option was present (RFC 9660 §3: non-empty ones are ignored).
    pub zoneversion: bool,
}

/// A parsed query. `bytes` is the whole message as received, so extensions (TSIG,
/// NOTIFY, transfers) can re-parse what this lean view skips.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub bytes: &'a [u8],
    pub id: u16,
    pub opcode: OpCode,
    /// The raw opcode value, kept for opcodes hickory does not name.
    pub opcode_raw: u8,
    pub recursion_desired: bool,
    pub checking_disabled: bool,
    /// The question name with the case it was sent with.
    pub qname: Name,
    pub qtype: RecordType,
    pub qclass: DNSClass,
    pub edns: Option<EdnsRequest>,
}

/// Why a message cannot be answered normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// No reply at all: too short to carry a header, or a response (QR=1), which must
    /// never be answered (that way lies reflection loops).
    Drop,
    /// FORMERR with the header fields we could read. `edns` says whether a well-formed
    /// OPT was seen (so the reply carries one, RFC 6891 §7).
    FormErr {
        id: u16,
        opcode_raw: u8,
        recursion_desired: bool,
        edns: Option<EdnsRequest>,
    },
}

/// Reads the first two header bytes cheaply to decide whether a reply is possible.
pub fn header_id(bytes: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]))
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

/// Parses a query. Any malformation after the header yields FORMERR; the answer and
/// authority sections are skipped (their content is the business of extensions such as
/// NOTIFY and UPDATE, which re-parse `bytes`).
pub fn parse(bytes: &[u8]) -> Result<Request<'_>, Reject> {
    if bytes.len() < HEADER_LEN {
        return Err(Reject::Drop);
    }
    let id = be16(bytes, 0).ok_or(Reject::Drop)?;
    let b2 = bytes[2];
    let b3 = bytes[3];
    if b2 & 0x80 != 0 {
        return Err(Reject::Drop);
    }
    let opcode_raw = (b2 >> 3) & 0x0f;
    let recursion_desired = b2 & 0x01 != 0;
    let checking_disabled = b3 & 0x10 != 0;
    let formerr = |edns: Option<EdnsRequest>| Reject::FormErr {
        id,
        opcode_raw,
        recursion_desired,
        edns,
    };
    let qdcount = be16(bytes, 4).unwrap_or(0);
    let ancount = be16(bytes, 6).unwrap_or(0);
    let nscount = be16(bytes, 8).unwrap_or(0);
    let arcount = be16(bytes, 10).unwrap_or(0);

    let mut dec = BinDecoder::new(bytes);
    // Skip the header we already read.
    if dec.read_slice(HEADER_LEN).is_err() {
        return Err(Reject::Drop);
    }
    // Read the question before deciding on QDCOUNT so the other sections stay aligned
    // for OPT discovery; a FORMERR for QDCOUNT != 1 still echoes the client's OPT.
    let mut question = None;
    for _ in 0..qdcount {
        let name = Name::read(&mut dec).map_err(|_| formerr(None))?;
        let qtype = dec.read_u16().map_err(|_| formerr(None))?.unverified();
        let qclass = dec.read_u16().map_err(|_| formerr(None))?.unverified();
        if question.is_none() {
            question = Some((name, qtype, qclass));
        }
    }
    for _ in 0..(u32::from(ancount) + u32::from(nscount)) {
        skip_record(&mut dec).ok_or_else(|| formerr(None))?;
    }
    let mut edns = None;
    let mut opt_count = 0;
    for _ in 0..arcount {
        let name = Name::read(&mut dec).map_err(|_| formerr(None))?;
        let rtype = read16(&mut dec).ok_or_else(|| formerr(None))?;
        let class = read16(&mut dec).ok_or_else(|| formerr(None))?;
        let ttl_hi = read16(&mut dec).ok_or_else(|| formerr(None))?;
        let ttl_lo = read16(&mut dec).ok_or_else(|| formerr(None))?;
        let rdlen = read16(&mut dec).ok_or_else(|| formerr(None))?;
        let rdata = dec
            .read_slice(usize::from(rdlen))
            .map_err(|_| formerr(None))?
            .unverified();
        if rtype != u16::from(RecordType::OPT) {
            continue;
        }
        opt_count += 1;
        if !name.is_root() {
            return Err(formerr(None));
        }
        let mut e = EdnsRequest {
            payload: class,
            version: (ttl_hi & 0xff) as u8,
            dnssec_ok: ttl_lo & 0x8000 != 0,
            nsid: false,
            zoneversion: false,
        };
        let mut at = 0usize;
        while at < rdata.len() {
            let (Some(code), Some(len)) = (be16(rdata, at), be16(rdata, at + 2)) else {
                return Err(formerr(None));
            };
            let end = at + 4 + usize::from(len);
            if end > rdata.len() {
                return Err(formerr(None));
            }
            match code {
                OPT_NSID => e.nsid = true,
                OPT_ZONEVERSION if len == 0 => e.zoneversion = true,
                _ => {}
            }
            at = end;
        }
        edns = Some(e);
    }
    // RFC 6891 §6.1.1: more than one OPT is a FORMERR (and no OPT in the reply).
    if opt_count > 1 {
        return Err(formerr(None));
    }
    let Some((qname, qtype, qclass)) = question.filter(|_| qdcount == 1) else {
        return Err(formerr(edns));
    };
    Ok(Request {
        bytes,
        id,
        opcode: OpCode::from_u8(opcode_raw),
        opcode_raw,
        recursion_desired,
        checking_disabled,
        qname,
        qtype: RecordType::from(qtype),
        qclass: DNSClass::from(qclass),
        edns,
    })
}

fn read16(dec: &mut BinDecoder<'_>) -> Option<u16> {
    dec.read_u16().ok().map(|v| v.unverified())
}

fn skip_record(dec: &mut BinDecoder<'_>) -> Option<()> {
    Name::read(dec).ok()?;
    dec.read_slice(8).ok()?;
    let rdlen = read16(dec)?;
    dec.read_slice(usize::from(rdlen)).ok()?;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &[u8], qtype: u16, arcount: u16, extra: &[u8]) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(&arcount.to_be_bytes());
        m.extend_from_slice(name);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(extra);
        m
    }

    fn opt(payload: u16, version: u8, flags: u16, options: &[u8]) -> Vec<u8> {
        let mut o = vec![0, 0, 41];
        o.extend_from_slice(&payload.to_be_bytes());
        o.extend_from_slice(&[0, version]);
        o.extend_from_slice(&flags.to_be_bytes());
        o.extend_from_slice(&(options.len() as u16).to_be_bytes());
        o.extend_from_slice(options);
        o
    }

    const WWW: &[u8] = b"\x03WwW\x07example\x04test\x00";

    #[test]
    fn parses_question_and_keeps_case() {
        let m = query(WWW, 1, 0, &[]);
        let r = parse(&m).unwrap();
        assert_eq!(r.id, 0x1234);
        assert!(r.recursion_desired);
        assert_eq!(r.qname.to_string(), "WwW.example.test.");
        assert_eq!(r.qtype, RecordType::A);
        assert_eq!(r.qclass, DNSClass::IN);
        assert!(r.edns.is_none());
    }

    #[test]
    fn parses_opt_options() {
        let o = opt(4096, 0, 0x8000, &[0, 3, 0, 0, 0, 19, 0, 0, 0, 99, 0, 1, 7]);
        let m = query(WWW, 1, 1, &o);
        let e = parse(&m).unwrap().edns.unwrap();
        assert_eq!(e.payload, 4096);
        assert!(e.dnssec_ok && e.nsid && e.zoneversion);
        let o = opt(512, 1, 0, &[0, 19, 0, 1, 5]);
        let e = parse(&query(WWW, 1, 1, &o)).unwrap().edns.unwrap();
        assert_eq!(e.version, 1);
        assert!(!e.zoneversion, "a non-empty ZONEVERSION is ignored");
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(parse(&[1, 2, 3]).unwrap_err(), Reject::Drop);
        let mut resp = query(WWW, 1, 0, &[]);
        resp[2] |= 0x80;
        assert_eq!(parse(&resp).unwrap_err(), Reject::Drop);
        let truncated = &query(WWW, 1, 0, &[])[..20];
        assert!(matches!(parse(truncated), Err(Reject::FormErr { .. })));
        let mut two_opts = opt(1232, 0, 0, &[]);
        two_opts.extend(opt(1232, 0, 0, &[]));
        assert!(matches!(
            parse(&query(WWW, 1, 2, &two_opts)),
            Err(Reject::FormErr { edns: None, .. })
        ));
        let bad_option = opt(1232, 0, 0, &[0, 3, 0, 9]);
        assert!(matches!(
            parse(&query(WWW, 1, 1, &bad_option)),
            Err(Reject::FormErr { .. })
        ));
        let mut no_q = query(WWW, 1, 1, &opt(1232, 0, 0, &[]));
        no_q[5] = 0;
        // The question bytes now sit where the OPT is expected: malformed either way.
        assert!(matches!(parse(&no_q), Err(Reject::FormErr { .. })));
        let mut empty = vec![0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        empty.extend(opt(1232, 0, 0, &[]));
        match parse(&empty) {
            Err(Reject::FormErr { edns: Some(e), .. }) => assert_eq!(e.payload, 1232),
            other => panic!("unexpected {other:?}"),
        }
    }
}
