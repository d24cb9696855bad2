//! Classifies an upstream response the way RFC 1034 §5.3.3 step 4 does: an answer (with
//! its CNAME chain), a referral, a negative answer, or something to distrust.
//!
//! Bailiwick is enforced here, once: only records the queried server is responsible for
//! (owners at or below the zone it was asked as) survive. Everything else in a response
//! is dropped before it can reach the cache, which is the core cache-poisoning defence
//! next to the transaction checks in the iterator.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// How an answer section ends after its CNAME chain is followed from the query name.
#[derive(Debug, Clone, PartialEq)]
pub enum AnswerEnd {
    /// The chain reached records of the queried type.
    Complete(Vec<Record>),
    /// The chain leaves this server's data: resolve this name from its own zone.
    Chase(Name),
    /// The chain's target does not exist (NXDOMAIN after a CNAME, RFC 2308 §2.1).
    NxDomain(Option<Record>),
    /// The chain's target has no data of the type (RFC 2308 §2.2).
    NoData(Option<Record>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Classified {
    Answer {
        /// The CNAME records followed, in order, starting at the query name.
        cnames: Vec<Record>,
        end: AnswerEnd,
    },
    Referral {
        zone: Name,
        ns: Vec<Record>,
        /// In-bailiwick address records for the NS names.
        glue: Vec<Record>,
    },
    NxDomain(Option<Record>),
    NoData(Option<Record>),
    /// The server is not usable for this question (refusal, error, upward referral...).
    Lame(String),
}

/// Longest chain followed inside one response; the iterator has its own overall limit.
const MAX_CHAIN_IN_RESPONSE: usize = 16;

/// The SOA of a negative answer, if one in bailiwick came with it.
fn negative_soa(msg: &Message, name: &Name, zone: &Name) -> Option<Record> {
    msg.authorities
        .iter()
        .find(|r| {
            r.record_type() == RecordType::SOA && zone.zone_of(&r.name) && r.name.zone_of(name)
        })
        .cloned()
}

/// Classifies `msg`, the response to `qname`/`qtype` from a server asked as authoritative
/// for `zone` (the root for forwarders, which may answer anything).
pub fn classify(msg: &Message, qname: &Name, qtype: RecordType, zone: &Name) -> Classified {
    let rcode = msg.metadata.response_code;
    if rcode != ResponseCode::NoError && rcode != ResponseCode::NXDomain {
        return Classified::Lame(format!("rcode {rcode}"));
    }
    let in_zone = |r: &&Record| zone.zone_of(&r.name);
    let answers: Vec<&Record> = msg.answers.iter().filter(in_zone).collect();

    if answers.iter().any(|r| r.name == *qname) {
        let mut cnames = Vec::new();
        let mut cur = qname.clone();
        for _ in 0..MAX_CHAIN_IN_RESPONSE {
            let here: Vec<Record> = answers
                .iter()
                .filter(|r| {
                    r.name == cur
                        && (r.record_type() == qtype
                            || (qtype == RecordType::ANY && r.record_type() != RecordType::RRSIG))
                })
                .map(|r| (*r).clone())
                .collect();
            if !here.is_empty() {
                return Classified::Answer {
                    cnames,
                    end: AnswerEnd::Complete(here),
                };
            }
            let Some(cname) = answers
                .iter()
                .find(|r| r.name == cur && r.record_type() == RecordType::CNAME)
            else {
                break;
            };
            let RData::CNAME(target) = &cname.data else {
                break;
            };
            cnames.push((*cname).clone());
            cur = target.0.clone();
            if cnames.iter().any(|c| c.name == cur) {
                return Classified::Lame("CNAME loop".into());
            }
        }
        if cnames.is_empty() {
            return Classified::Lame("answer without the queried type".into());
        }
        let end = if rcode == ResponseCode::NXDomain {
            AnswerEnd::NxDomain(negative_soa(msg, &cur, zone))
        } else if let Some(soa) = negative_soa(msg, &cur, zone).filter(|_| zone.zone_of(&cur)) {
            AnswerEnd::NoData(Some(soa))
        } else {
            AnswerEnd::Chase(cur)
        };
        return Classified::Answer { cnames, end };
    }

    if rcode == ResponseCode::NXDomain {
        return Classified::NxDomain(negative_soa(msg, qname, zone));
    }

    // A referral: an NS set for a zone strictly below the server's, enclosing the name.
    let cut = msg
        .authorities
        .iter()
        .find(|r| r.record_type() == RecordType::NS)
        .map(|r| r.name.clone());
    if let Some(cut) = cut
        && msg.answers.is_empty()
    {
        if !(zone.zone_of(&cut) && cut != *zone && cut.zone_of(qname)) {
            if msg.metadata.authoritative && cut == *zone {
                // Some servers add their own NS set to a NODATA answer.
                return Classified::NoData(negative_soa(msg, qname, zone));
            }
            return Classified::Lame(format!("referral to {cut} from {zone} server"));
        }
        let ns: Vec<Record> = msg
            .authorities
            .iter()
            .filter(|r| r.record_type() == RecordType::NS && r.name == cut)
            .cloned()
            .collect();
        let glue = msg
            .additionals
            .iter()
            .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
            .filter(|r| zone.zone_of(&r.name))
            .filter(|r| {
                ns.iter()
                    .any(|n| matches!(&n.data, RData::NS(t) if t.0 == r.name))
            })
            .cloned()
            .collect();
        return Classified::Referral {
            zone: cut,
            ns,
            glue,
        };
    }

    let soa = negative_soa(msg, qname, zone);
    if msg.metadata.authoritative || soa.is_some() {
        return Classified::NoData(soa);
    }
    Classified::Lame("neither answer, referral nor authoritative negative".into())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use hickory_proto::op::{MessageType, OpCode};
    use hickory_proto::rr::rdata::{A, CNAME, NS, SOA};

    use super::*;

    fn n(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    fn msg() -> Message {
        Message::new(1, MessageType::Response, OpCode::Query)
    }

    fn a(name: &str) -> Record {
        Record::from_rdata(n(name), 60, RData::A(A::new(127, 0, 0, 1)))
    }

    fn soa(zone: &str) -> Record {
        Record::from_rdata(
            n(zone),
            60,
            RData::SOA(SOA::new(n("ns."), n("h."), 1, 1, 1, 1, 30)),
        )
    }

    #[test]
    fn out_of_bailiwick_records_are_dropped() {
        let mut m = msg();
        m.metadata.authoritative = true;
        m.answers.push(Record::from_rdata(
            n("alias.example.test."),
            60,
            RData::CNAME(CNAME(n("www.shop.test."))),
        ));
        // A poisoning attempt: the example.test server speaks for shop.test.
        m.answers.push(a("www.shop.test."));
        let c = classify(
            &m,
            &n("alias.example.test."),
            RecordType::A,
            &n("example.test."),
        );
        let Classified::Answer { cnames, end } = c else {
            panic!("{c:?}")
        };
        assert_eq!(cnames.len(), 1);
        assert_eq!(end, AnswerEnd::Chase(n("www.shop.test.")));
    }

    #[test]
    fn referral_keeps_only_in_bailiwick_glue() {
        let mut m = msg();
        m.authorities.push(Record::from_rdata(
            n("example.test."),
            60,
            RData::NS(NS(n("ns1.example.test."))),
        ));
        m.authorities.push(Record::from_rdata(
            n("example.test."),
            60,
            RData::NS(NS(n("ns.other.org."))),
        ));
        m.additionals.push(a("ns1.example.test."));
        m.additionals.push(a("ns.other.org."));
        let c = classify(&m, &n("www.example.test."), RecordType::A, &n("test."));
        let Classified::Referral { zone, ns, glue } = c else {
            panic!("{c:?}")
        };
        assert_eq!(zone, n("example.test."));
        assert_eq!(ns.len(), 2);
        assert_eq!(glue, vec![a("ns1.example.test.")]);
    }

    #[test]
    fn upward_or_sideways_referral_is_lame() {
        let mut m = msg();
        m.authorities.push(Record::from_rdata(
            n("."),
            60,
            RData::NS(NS(n("a.root-servers.test."))),
        ));
        let c = classify(
            &m,
            &n("www.example.test."),
            RecordType::A,
            &n("example.test."),
        );
        assert!(matches!(c, Classified::Lame(_)), "{c:?}");
    }

    #[test]
    fn negative_answers() {
        let mut m = msg();
        m.metadata.authoritative = true;
        m.metadata.response_code = ResponseCode::NXDomain;
        m.authorities.push(soa("example.test."));
        let c = classify(
            &m,
            &n("nope.example.test."),
            RecordType::A,
            &n("example.test."),
        );
        assert_eq!(c, Classified::NxDomain(Some(soa("example.test."))));
        m.metadata.response_code = ResponseCode::NoError;
        let c = classify(
            &m,
            &n("www.example.test."),
            RecordType::AAAA,
            &n("example.test."),
        );
        assert_eq!(c, Classified::NoData(Some(soa("example.test."))));
        // An SOA from outside the server's zone is not used.
        let mut m = msg();
        m.metadata.authoritative = true;
        m.authorities.push(soa("evil.test."));
        let c = classify(
            &m,
            &n("www.example.test."),
            RecordType::AAAA,
            &n("example.test."),
        );
        assert_eq!(c, Classified::NoData(None));
    }
}
