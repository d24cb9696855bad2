//! Fitting an answer into one DNS message: header, question (as sent), the three
//! sections RRset by RRset, and the OPT record with NSID, ZONEVERSION and Extended DNS
//! Error options.
//!
//! Truncation follows RFC 2181 §9 and what Knot and NSD do (checked with dig): RRsets
//! of the answer and authority sections are kept whole while they fit; the first that
//! does not fit sets TC and ends the message (nothing after it, no additional data),
//! while additional data that does not fit is silently left out, except a referral's
//! in-domain glue: if that does not all fit, TC is set and what fits is kept (RFC 9471
//! §3.1, as Knot does). The OPT record is reserved up front, so it is present on truncated
//! replies too (RFC 6891 §7).

use super::request::{EdnsRequest, HEADER_LEN, OPT_EDE, OPT_NSID, OPT_ZONEVERSION};
use super::wire::Writer;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

/// The smallest reply size a UDP client must accept (RFC 1035 §4.2.1).
pub const MIN_UDP: u16 = 512;

/// Everything in a reply besides the record sections.
#[derive(Debug, Clone)]
pub struct ReplyHead<'a> {
    pub id: u16,
    pub opcode_raw: u8,
    pub authoritative: bool,
    pub recursion_desired: bool,
    /// RA: set by the resolver, clear for authoritative service.
    pub recursion_available: bool,
    pub checking_disabled: bool,
    pub rcode: ResponseCode,
    /// The question to echo; `None` for messages whose question could not be read.
    pub question: Option<(&'a Name, RecordType, DNSClass)>,
    /// The requestor's OPT; a reply carries an OPT exactly when the query did.
    pub edns: Option<EdnsRequest>,
    /// The UDP payload size we advertise in our OPT.
    pub our_payload: u16,
    /// NSID to send when the query asked for it.
    pub nsid: Option<&'a [u8]>,
    /// (apex label count, SOA serial) for ZONEVERSION when the query asked for it.
    pub zoneversion: Option<(u8, u32)>,
    /// An Extended DNS Error info code (RFC 8914).
    pub ede: Option<u16>,
}

/// The largest reply a UDP requestor can take: 512 without EDNS, else its advertised
/// size (at least 512), capped by our configured payload size.
pub fn udp_limit(edns: Option<&EdnsRequest>, cap: u16) -> u16 {
    match edns {
        None => MIN_UDP,
        Some(e) => e.payload.max(MIN_UDP).min(cap.max(MIN_UDP)),
    }
}

impl ReplyHead<'_> {
    fn opt_options(&self) -> (usize, bool, bool, bool) {
        let Some(e) = &self.edns else {
            return (0, false, false, false);
        };
        let nsid = e.nsid && self.nsid.is_some();
        let zv = e.zoneversion && self.zoneversion.is_some();
        let ede = self.ede.is_some();
        let len = if nsid {
            4 + self.nsid.map_or(0, <[u8]>::len)
        } else {
            0
        } + if zv { 4 + 6 } else { 0 }
            + if ede { 4 + 2 } else { 0 };
        (len, nsid, zv, ede)
    }

    /// Bytes the OPT record takes: root name, type, class, TTL, RDLENGTH, options.
    pub(crate) fn opt_len(&self) -> usize {
        if self.edns.is_none() {
            return 0;
        }
        11 + self.opt_options().0
    }
}

/// The additional section of a reply: its records, of which the first `required` must
/// all fit or the reply is truncated.
#[derive(Debug, Clone, Copy)]
pub struct Additional<'a> {
    pub records: &'a [Record],
    pub required: usize,
}

impl<'a> Additional<'a> {
    pub const NONE: Additional<'static> = Additional {
        records: &[],
        required: 0,
    };

    /// Additional data that may all be left out.
    pub fn optional(records: &'a [Record]) -> Self {
        Additional {
            records,
            required: 0,
        }
    }
}

/// Encodes a reply into `out` (cleared first), no larger than `limit` bytes. Returns
/// whether TC was set.
pub fn encode(
    out: &mut Vec<u8>,
    head: &ReplyHead<'_>,
    answers: &[Record],
    authorities: &[Record],
    additional: Additional<'_>,
    limit: u16,
) -> bool {
    out.clear();
    let opt_len = head.opt_len();
    let body_limit = usize::from(limit).saturating_sub(opt_len).max(HEADER_LEN);
    let mut counts = [0u16; 4];
    let mut truncated = false;
    {
        let mut w = Writer::new(out, body_limit);
        w.out.extend_from_slice(&[0; HEADER_LEN]);
        if let Some((name, qtype, qclass)) = head.question {
            let m = w.mark();
            w.name(name, true);
            w.u16(qtype.into());
            w.u16(qclass.into());
            if w.fits() {
                counts[0] = 1;
            } else {
                // Cannot happen with a 512-byte floor, but never send half a question.
                w.rollback(m);
            }
        }
        for (i, section) in [answers, authorities].into_iter().enumerate() {
            match emit_rrsets(&mut w, section) {
                Ok(n) => counts[i + 1] = n,
                Err(n) => {
                    counts[i + 1] = n;
                    truncated = true;
                    break;
                }
            }
        }
        if !truncated {
            counts[3] = match emit_rrsets(&mut w, additional.records) {
                Ok(n) => n,
                Err(n) => {
                    truncated = usize::from(n) < additional.required;
                    n
                }
            };
        }
        w.set_limit(usize::from(u16::MAX));
        if head.edns.is_some() {
            emit_opt(w.out, head);
            counts[3] += 1;
        }
    }
    write_header(out, head, truncated, counts);
    truncated
}

/// Writes a reply from a body [`encode`] wrote earlier for the same answer (the records
/// after the question, before the OPT, with their `counts`), when all of it fits under
/// `limit`: then `encode` would write these very bytes. Returns false, writing nothing
/// useful, when it does not fit.
pub(crate) fn encode_reused(
    out: &mut Vec<u8>,
    head: &ReplyHead<'_>,
    question: &[u8],
    body: &[u8],
    counts: [u16; 3],
    limit: u16,
) -> bool {
    if HEADER_LEN + question.len() + body.len() + head.opt_len() > usize::from(limit) {
        return false;
    }
    out.clear();
    out.extend_from_slice(&[0; HEADER_LEN]);
    out.extend_from_slice(question);
    out.extend_from_slice(body);
    let mut all = [1, counts[0], counts[1], counts[2]];
    if head.edns.is_some() {
        emit_opt(out, head);
        all[3] += 1;
    }
    write_header(out, head, false, all);
    true
}

/// Emits whole RRsets (runs of records with the same owner, type and class) while they
/// fit; on the first that does not, rolls back to its start and returns `Err(count)`.
fn emit_rrsets(w: &mut Writer<'_>, records: &[Record]) -> Result<u16, u16> {
    let mut written: u16 = 0;
    let mut set_start = w.mark();
    let mut set_count: u16 = 0;
    let mut prev: Option<&Record> = None;
    // Where the current RRset's first owner was written: later records of the set
    // point there instead of walking the same name again.
    let mut owner_at = 0usize;
    for rec in records {
        let same_set = prev.is_some_and(|p| {
            p.record_type() == rec.record_type()
                && p.dns_class == rec.dns_class
                && p.name == rec.name
        });
        if same_set {
            w.record_after(rec, Some(owner_at));
        } else {
            written += set_count;
            set_count = 0;
            set_start = w.mark();
            owner_at = w.out.len();
            w.record(rec);
        }
        if !w.fits() {
            w.rollback(set_start);
            return Err(written);
        }
        set_count += 1;
        prev = Some(rec);
    }
    Ok(written + set_count)
}

fn emit_opt(out: &mut Vec<u8>, head: &ReplyHead<'_>) {
    let (opt_len, nsid, zv, ede) = head.opt_options();
    let dnssec_ok = head.edns.is_some_and(|e| e.dnssec_ok);
    let b = out;
    b.push(0); // root owner
    b.extend_from_slice(&u16::from(RecordType::OPT).to_be_bytes());
    b.extend_from_slice(&head.our_payload.to_be_bytes());
    // Extended RCODE, version 0, flags: DO echoed, every other flag zeroed (RFC 6891 §6.1.4).
    b.push(head.rcode.high());
    b.push(0);
    b.extend_from_slice(&(if dnssec_ok { 0x8000u16 } else { 0 }).to_be_bytes());
    b.extend_from_slice(&(opt_len as u16).to_be_bytes());
    if nsid {
        let data = head.nsid.unwrap_or_default();
        push_option(b, OPT_NSID, data);
    }
    if let (true, Some((labels, serial))) = (zv, head.zoneversion) {
        let mut data = [0u8; 6];
        data[0] = labels;
        data[1] = 0; // SOA-SERIAL
        data[2..].copy_from_slice(&serial.to_be_bytes());
        push_option(b, OPT_ZONEVERSION, &data);
    }
    if let (true, Some(code)) = (ede, head.ede) {
        push_option(b, OPT_EDE, &code.to_be_bytes());
    }
}

fn push_option(b: &mut Vec<u8>, code: u16, data: &[u8]) {
    b.extend_from_slice(&code.to_be_bytes());
    b.extend_from_slice(&(data.len() as u16).to_be_bytes());
    b.extend_from_slice(data);
}

fn write_header(out: &mut [u8], head: &ReplyHead<'_>, truncated: bool, counts: [u16; 4]) {
    let Some(h) = out.get_mut(..HEADER_LEN) else {
        return;
    };
    h[0..2].copy_from_slice(&head.id.to_be_bytes());
    h[2] = 0x80
        | ((head.opcode_raw & 0x0f) << 3)
        | if head.authoritative { 0x04 } else { 0 }
        | if truncated { 0x02 } else { 0 }
        | u8::from(head.recursion_desired);
    h[3] = if head.recursion_available { 0x80 } else { 0 }
        | if head.checking_disabled { 0x10 } else { 0 }
        | head.rcode.low();
    for (i, c) in counts.iter().enumerate() {
        h[4 + 2 * i..6 + 2 * i].copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Message;
    use hickory_proto::rr::RData;
    use hickory_proto::rr::rdata::{A, TXT};
    use std::str::FromStr;

    fn head<'a>(name: &'a Name, edns: Option<EdnsRequest>) -> ReplyHead<'a> {
        ReplyHead {
            id: 7,
            opcode_raw: 0,
            authoritative: true,
            recursion_desired: true,
            recursion_available: false,
            checking_disabled: false,
            rcode: ResponseCode::NoError,
            question: Some((name, RecordType::TXT, DNSClass::IN)),
            edns,
            our_payload: 1232,
            nsid: Some(b"ns-a"),
            zoneversion: Some((2, 42)),
            ede: None,
        }
    }

    fn edns(payload: u16) -> EdnsRequest {
        EdnsRequest {
            payload,
            version: 0,
            dnssec_ok: true,
            nsid: true,
            zoneversion: true,
        }
    }

    fn txts(owner: &str, n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| {
                Record::from_rdata(
                    Name::from_str(owner).unwrap(),
                    300,
                    RData::TXT(TXT::new(vec![format!("{i:0100}")])),
                )
            })
            .collect()
    }

    #[test]
    fn limits() {
        assert_eq!(udp_limit(None, 1232), 512);
        assert_eq!(udp_limit(Some(&edns(100)), 1232), 512);
        assert_eq!(udp_limit(Some(&edns(4096)), 1232), 1232);
        assert_eq!(udp_limit(Some(&edns(1000)), 1232), 1000);
    }

    #[test]
    fn whole_rrsets_and_opt_survive_truncation() {
        let name = Name::from_ascii("Big.Example.Test.").unwrap();
        let mut answers = txts("a.example.test.", 2);
        answers.extend(txts("big.example.test.", 6));
        let extra = vec![Record::from_rdata(
            Name::from_str("ns.example.test.").unwrap(),
            1,
            RData::A(A::new(192, 0, 2, 1)),
        )];
        let mut out = Vec::new();
        let h = head(&name, Some(edns(512)));
        assert!(encode(
            &mut out,
            &h,
            &answers,
            &extra,
            Additional::optional(&extra),
            512
        ));
        assert!(out.len() <= 512);
        let m = Message::from_vec(&out).unwrap();
        assert!(m.metadata.truncation);
        assert_eq!(
            m.answers.len(),
            2,
            "first RRset kept whole, second dropped whole"
        );
        assert!(m.authorities.is_empty() && m.additionals.is_empty());
        let e = m.edns.as_ref().expect("OPT on a truncated reply");
        assert!(e.flags().dnssec_ok);
        assert_eq!(e.max_payload(), 1232);
        assert_eq!(m.queries[0].name().to_string(), "Big.Example.Test.");

        assert!(!encode(
            &mut out,
            &h,
            &answers,
            &extra,
            Additional::optional(&extra),
            u16::MAX
        ));
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(
            (m.answers.len(), m.authorities.len(), m.additionals.len()),
            (8, 1, 1)
        );
    }

    #[test]
    fn additional_overflow_is_silent() {
        let name = Name::from_str("x.example.test.").unwrap();
        let mut out = Vec::new();
        let h = head(&name, None);
        let answers = txts("x.example.test.", 1);
        let extra = txts("y.example.test.", 8);
        assert!(!encode(
            &mut out,
            &h,
            &answers,
            &[],
            Additional::optional(&extra),
            512
        ));
        let m = Message::from_vec(&out).unwrap();
        assert!(!m.metadata.truncation);
        assert_eq!((m.answers.len(), m.additionals.len()), (1, 0));
        assert!(m.edns.is_none(), "no OPT without one in the query");
    }

    #[test]
    fn required_glue_that_does_not_fit_sets_tc_and_keeps_what_fits() {
        let name = Name::from_str("www.child.example.test.").unwrap();
        let h = head(&name, None);
        let ns = txts("child.example.test.", 1);
        // Two glue RRsets of ~150 bytes each: one fits in 512, both do not.
        let mut glue = txts("a.child.example.test.", 3);
        glue.extend(txts("b.child.example.test.", 3));
        let mut out = Vec::new();
        let required = Additional {
            records: &glue,
            required: glue.len(),
        };
        assert!(encode(&mut out, &h, &[], &ns, required, 512));
        let m = Message::from_vec(&out).unwrap();
        assert!(m.metadata.truncation);
        assert_eq!((m.authorities.len(), m.additionals.len()), (1, 3));
        // Only the first RRset required: the rest may be dropped silently.
        let first_only = Additional {
            records: &glue,
            required: 3,
        };
        assert!(!encode(&mut out, &h, &[], &ns, first_only, 512));
        // With room for everything, no TC.
        assert!(!encode(&mut out, &h, &[], &ns, required, 1232));
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.additionals.len(), 6);
    }

    #[test]
    fn options_and_extended_rcode() {
        let name = Name::from_str("example.test.").unwrap();
        let mut h = head(&name, Some(edns(1232)));
        h.rcode = ResponseCode::BADVERS;
        h.ede = Some(24);
        let mut out = Vec::new();
        encode(&mut out, &h, &[], &[], Additional::NONE, 1232);
        // Locate the OPT: it is the last record; parse its RDATA by hand.
        let n = out.len();
        let opt_rdata_len = u16::from_be_bytes([out[n - 26], out[n - 25]]);
        assert_eq!(opt_rdata_len, 24);
        let opts = &out[n - 24..];
        assert_eq!(&opts[..8], b"\x00\x03\x00\x04ns-a");
        assert_eq!(&opts[8..18], b"\x00\x13\x00\x06\x02\x00\x00\x00\x00\x2a");
        assert_eq!(&opts[18..24], b"\x00\x0f\x00\x02\x00\x18");
        let m = Message::from_vec(&out).unwrap();
        // 16 is BADVERS in an OPT context; hickory names it BADSIG.
        assert_eq!(u16::from(m.metadata.response_code), 16);
    }

    /// Later records of an RRset repeat the owner as a pointer without walking the name:
    /// the bytes are those of writing every record in full through the compressor.
    #[test]
    fn repeated_owners_match_full_compression() {
        use hickory_proto::rr::rdata::{MX, NS};
        let q = Name::from_str("WwW.Example.TEST.").unwrap();
        let rec = |o: &str, rd: RData| Record::from_rdata(Name::from_str(o).unwrap(), 60, rd);
        let ns = |t: &str| RData::NS(NS(Name::from_str(t).unwrap()));
        let answers = vec![
            rec("www.example.test.", RData::A(A::new(192, 0, 2, 1))),
            rec("WWW.example.test.", RData::A(A::new(192, 0, 2, 2))),
            rec(
                "www.example.test.",
                RData::MX(MX::new(1, Name::from_str("m.example.test.").unwrap())),
            ),
            rec(
                "www.example.test.",
                RData::MX(MX::new(2, Name::from_str("n.other.").unwrap())),
            ),
        ];
        let authorities = vec![
            rec("example.test.", ns("ns1.example.test.")),
            rec("example.test.", ns("ns2.example.test.")),
            rec("a.very.long.owner.example.test.", ns("ns.other.")),
            rec("a.very.long.owner.example.test.", ns("ns2.other.")),
        ];
        let additionals = vec![
            rec("ns1.example.test.", RData::A(A::new(192, 0, 2, 53))),
            rec("ns1.example.test.", RData::A(A::new(192, 0, 2, 54))),
        ];
        let mut h = head(&q, None);
        h.question = Some((&q, RecordType::A, DNSClass::IN));
        let mut out = Vec::new();
        encode(
            &mut out,
            &h,
            &answers,
            &authorities,
            Additional::optional(&additionals),
            u16::MAX,
        );

        let mut full = vec![0u8; HEADER_LEN];
        let mut w = Writer::new(&mut full, 65535);
        w.name(&q, true);
        w.u16(RecordType::A.into());
        w.u16(DNSClass::IN.into());
        for r in answers.iter().chain(&authorities).chain(&additionals) {
            w.record(r);
        }
        assert_eq!(out[HEADER_LEN..], full[HEADER_LEN..]);
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(
            (m.answers.len(), m.authorities.len(), m.additionals.len()),
            (4, 4, 2)
        );
    }
}
