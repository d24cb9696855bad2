//! A deliberately small authoritative responder and a copy of the shipped lab hierarchy,
//! so the iterator can be tested (sans-IO, and over loopback in `tests/resolver.rs`)
//! without the real engine. It knows referrals with glue, CNAME within a zone, NXDOMAIN,
//! NODATA and empty non-terminals; nothing else (no wildcards, no DNSSEC).
//!
//! Once `serve` can run the shipped `zones/` the loopback test should use it instead;
//! this module then only backs the sans-IO tests.

use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// One zone: its apex and records (absolute owner names).
#[derive(Debug, Clone)]
pub struct LabZone {
    pub apex: Name,
    pub records: Vec<Record>,
}

/// Parses `owner ttl TYPE rdata` lines (absolute names, `;` comments).
pub fn parse_records(text: &str) -> Result<Vec<Record>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split(';').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.splitn(4, char::is_whitespace);
        let (Some(owner), Some(ttl), Some(rtype), Some(rdata)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "line {}: expected owner ttl type rdata: {line}",
                i + 1
            ));
        };
        let name = Name::from_str(owner).map_err(|e| format!("line {}: {e}", i + 1))?;
        let ttl: u32 = ttl.parse().map_err(|e| format!("line {}: {e}", i + 1))?;
        let rtype = RecordType::from_str(rtype).map_err(|e| format!("line {}: {e}", i + 1))?;
        let rdata =
            RData::try_from_str(rtype, rdata.trim()).map_err(|e| format!("line {}: {e}", i + 1))?;
        out.push(Record::from_rdata(name, ttl, rdata));
    }
    Ok(out)
}

impl LabZone {
    pub fn parse(apex: &str, text: &str) -> Result<Self, String> {
        Ok(LabZone {
            apex: Name::from_str(apex).map_err(|e| e.to_string())?,
            records: parse_records(text)?,
        })
    }

    fn at(&self, name: &Name) -> impl Iterator<Item = &Record> {
        let name = name.clone();
        self.records.iter().filter(move |r| r.name == name)
    }

    fn soa_negative(&self) -> Vec<Record> {
        self.at(&self.apex)
            .filter(|r| r.record_type() == RecordType::SOA)
            .map(|r| {
                let mut r = r.clone();
                r.ttl = super::cache::negative_ttl(&r);
                r
            })
            .collect()
    }

    /// Answers one question (RFC 1034 §4.3.2, without wildcards).
    fn answer(&self, qname: &Name, qtype: RecordType, resp: &mut Message) {
        // A zone cut between the apex and the name: refer.
        let depth = qname.num_labels();
        for labels in (self.apex.num_labels() + 1)..=depth {
            let cut = qname.trim_to(usize::from(labels));
            let ns: Vec<Record> = self
                .at(&cut)
                .filter(|r| r.record_type() == RecordType::NS)
                .cloned()
                .collect();
            if ns.is_empty() {
                continue;
            }
            for n in &ns {
                if let RData::NS(target) = &n.data {
                    resp.additionals.extend(
                        self.at(&target.0)
                            .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
                            .cloned(),
                    );
                }
            }
            resp.authorities.extend(ns);
            return;
        }
        resp.metadata.authoritative = true;
        let mut name = qname.clone();
        for _ in 0..8 {
            let here: Vec<Record> = self.at(&name).cloned().collect();
            let matching: Vec<Record> = here
                .iter()
                .filter(|r| r.record_type() == qtype)
                .cloned()
                .collect();
            if !matching.is_empty() {
                resp.answers.extend(matching);
                return;
            }
            if let Some(c) = here.iter().find(|r| r.record_type() == RecordType::CNAME) {
                resp.answers.push(c.clone());
                let RData::CNAME(t) = &c.data else { return };
                if !self.apex.zone_of(&t.0) {
                    return;
                }
                name = t.0.clone();
                continue;
            }
            let exists = self.records.iter().any(|r| name.zone_of(&r.name));
            if !exists {
                resp.metadata.response_code = ResponseCode::NXDomain;
            }
            resp.authorities.extend(self.soa_negative());
            return;
        }
    }
}

/// One lab server: the zones it is authoritative for.
#[derive(Debug, Clone)]
pub struct LabServer {
    pub addr: IpAddr,
    pub zones: Vec<LabZone>,
}

impl LabServer {
    /// The response to a query message, from the most specific zone held; REFUSED when
    /// none contains the name.
    pub fn respond(&self, query: &Message) -> Message {
        let mut resp = Message::new(
            query.metadata.id,
            MessageType::Response,
            query.metadata.op_code,
        );
        resp.metadata.recursion_desired = query.metadata.recursion_desired;
        resp.queries = query.queries.clone();
        let Some(q) = query.queries.first() else {
            resp.metadata.response_code = ResponseCode::FormErr;
            return resp;
        };
        let zone = self
            .zones
            .iter()
            .filter(|z| z.apex.zone_of(q.name()))
            .max_by_key(|z| z.apex.num_labels());
        match zone {
            Some(z) => z.answer(q.name(), q.query_type(), &mut resp),
            None => resp.metadata.response_code = ResponseCode::Refused,
        }
        resp
    }
}

const ROOT: &str = "
. 86400 SOA a.root-servers.test. hostmaster.nic.test. 2026112101 1800 900 604800 86400
. 86400 NS a.root-servers.test.
test. 86400 NS ns1.nic.test.
ns1.nic.test. 86400 A 127.0.0.12
a.root-servers.test. 86400 A 127.0.0.11
";

const TEST: &str = "
test. 3600 SOA ns1.nic.test. hostmaster.nic.test. 2026112101 1800 300 1209600 300
test. 3600 NS ns1.nic.test.
ns1.nic.test. 3600 A 127.0.0.12
a.root-servers.test. 3600 A 127.0.0.11
example.test. 3600 NS ns1.example.test.
example.test. 3600 NS ns2.example.test.
example.test. 3600 NS ns3.example.test.
ns1.example.test. 3600 A 127.0.0.13
ns2.example.test. 3600 A 127.0.0.14
ns3.example.test. 3600 A 127.0.0.15
shop.test. 3600 NS ns.shop-dns.example.test.
";

const EXAMPLE: &str = "
example.test. 300 SOA ns1.example.test. hostmaster.example.test. 1 300 60 1209600 60
example.test. 300 NS ns1.example.test.
example.test. 300 NS ns2.example.test.
example.test. 300 NS ns3.example.test.
ns1.example.test. 300 A 127.0.0.13
ns2.example.test. 300 A 127.0.0.14
ns3.example.test. 300 A 127.0.0.15
www.example.test. 30 A 192.0.2.10
www.example.test. 30 AAAA 2001:db8::10
alias.example.test. 300 CNAME www.example.test.
shopalias.example.test. 300 CNAME www.shop.test.
host.a.ent.example.test. 300 A 192.0.2.99
sub.example.test. 300 NS ns.sub.example.test.
ns.sub.example.test. 300 A 127.0.0.13
ns.shop-dns.example.test. 300 A 127.0.0.13
";

const SUB: &str = "
sub.example.test. 300 SOA ns.sub.example.test. hostmaster.sub.example.test. 1 300 60 1209600 60
sub.example.test. 300 NS ns.sub.example.test.
ns.sub.example.test. 300 A 127.0.0.13
www.sub.example.test. 300 A 192.0.2.30
";

const SHOP: &str = "
shop.test. 300 SOA ns.shop-dns.example.test. hostmaster.shop.test. 1 300 60 1209600 60
shop.test. 300 NS ns.shop-dns.example.test.
www.shop.test. 300 A 192.0.2.40
";

/// The shipped hierarchy (`zones/`), as far as the lab responder can express it: root
/// on .11, `test.` on .12, `example.test.` on .13-.15, `sub.example.test.` and
/// `shop.test.` on .13.
pub fn hierarchy() -> Vec<LabServer> {
    let z = |apex: &str, text: &str| LabZone::parse(apex, text).unwrap_or_else(|e| panic!("{e}"));
    let ip = |last: u8| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
    vec![
        LabServer {
            addr: ip(11),
            zones: vec![z(".", ROOT)],
        },
        LabServer {
            addr: ip(12),
            zones: vec![z("test.", TEST)],
        },
        LabServer {
            addr: ip(13),
            zones: vec![
                z("example.test.", EXAMPLE),
                z("sub.example.test.", SUB),
                z("shop.test.", SHOP),
            ],
        },
        LabServer {
            addr: ip(14),
            zones: vec![z("example.test.", EXAMPLE)],
        },
        LabServer {
            addr: ip(15),
            zones: vec![z("example.test.", EXAMPLE)],
        },
    ]
}

/// The root hint for the lab: `a.root-servers.test.` at 127.0.0.11.
pub fn root_hints() -> Vec<(Name, Vec<IpAddr>)> {
    vec![(
        Name::from_ascii("a.root-servers.test.").unwrap_or_else(|_| Name::root()),
        vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11))],
    )]
}
