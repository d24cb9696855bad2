//! Unit tests for every branch of the engine, on a zone modelled on the one the peers
//! were measured with (see the module docs for what they answered).

use std::str::FromStr;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::{Answer, MAX_CHAIN, answer, dname};
use crate::zone::Zone;

pub(super) fn n(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

/// Builds a zone from lines "owner ttl type rdata" with owners relative to `origin`
/// (`@` for the apex) and absolute names in the RDATA.
pub(super) fn zone(origin: &str, lines: &[&str]) -> Arc<Zone> {
    let origin_name = n(origin);
    let recs = lines.iter().map(|line| {
        let mut parts = line.splitn(4, ' ');
        let owner = parts.next().unwrap();
        let ttl: u32 = parts.next().unwrap().parse().unwrap();
        let rtype = RecordType::from_str(parts.next().unwrap()).unwrap();
        let text = parts.next().unwrap();
        let name = if owner == "@" {
            origin_name.clone()
        } else {
            Name::from_str(owner)
                .unwrap()
                .append_domain(&origin_name)
                .unwrap()
        };
        let rdata = if rtype == RecordType::DNAME {
            dname::rdata(&n(text))
        } else {
            RData::try_from_str(rtype, text).unwrap()
        };
        Record::from_rdata(name, ttl, rdata)
    });
    Arc::new(Zone::from_records(origin_name.clone(), recs.collect::<Vec<_>>()).unwrap())
}

pub(super) fn example() -> Arc<Zone> {
    let mut lines = vec![
        "@ 3600 SOA ns1.example.test. hostmaster.example.test. 1 7200 900 1209600 300",
        "@ 3600 NS ns1.example.test.",
        "@ 3600 NS ns2.other.test.",
        "@ 3600 MX 10 mail.example.test.",
        "@ 3600 MX 20 mx.other.test.",
        "@ 3600 MX 30 mx.child.example.test.",
        "@ 3600 TXT apex",
        "ns1 3600 A 192.0.2.53",
        "ns1 3600 AAAA 2001:db8::53",
        "mail 3600 A 192.0.2.25",
        "www 3600 A 192.0.2.80",
        "www 3600 AAAA 2001:db8::80",
        "_sip._tcp 3600 SRV 0 5 5060 sip.example.test.",
        "_sip._tcp 3600 SRV 0 5 5060 nosuch.example.test.",
        "sip 3600 A 192.0.2.60",
        "*.wild 3600 A 192.0.2.99",
        "*.wild 3600 MX 10 mail.example.test.",
        "sub.wild 3600 A 192.0.2.98",
        "a.b.c 3600 TXT deep",
        "cname 3600 CNAME www.example.test.",
        "chain1 3600 CNAME chain2.example.test.",
        "chain2 3600 CNAME www.example.test.",
        "loop1 3600 CNAME loop2.example.test.",
        "loop2 3600 CNAME loop1.example.test.",
        "towild 3600 CNAME foo.wild.example.test.",
        "out 3600 CNAME www.other.test.",
        "tonx 3600 CNAME nothere.example.test.",
        "tocut 3600 CNAME www.child.example.test.",
        "dname 3600 DNAME other.test.",
        "dn2 3600 DNAME wild.example.test.",
        "child 3600 NS ns.child.example.test.",
        "child 3600 NS ns.other.test.",
        "child 3600 DS 12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE50542BE9E8B25C13B3A1F6B2",
        "ns.child 3600 A 192.0.2.10",
        "ns.child 3600 AAAA 2001:db8::10",
        "mx.child 3600 A 192.0.2.11",
        "*.wc2 3600 CNAME www.example.test.",
        "nsrec 3600 NS ns1.example.test.",
        "multi 3600 TXT m",
        "multi 3600 MX 10 mail.example.test.",
        "multi 3600 AAAA 2001:db8::1",
        "mxw 3600 MX 10 foo.wild.example.test.",
        "mxc 3600 MX 10 cname.example.test.",
    ];
    let chain: Vec<String> = (1..=30)
        .map(|i| format!("c{i} 3600 CNAME c{}.example.test.", i + 1))
        .chain(std::iter::once("c31 3600 A 192.0.2.131".to_string()))
        .collect();
    lines.extend(chain.iter().map(String::as_str));
    zone("example.test.", &lines)
}

pub(super) fn q(z: &Arc<Zone>, name: &str, t: RecordType) -> Answer {
    answer(z, &n(name), t)
}

/// "owner type rdata" per record, lower-cased owner, TTL and class left out unless asked.
pub(super) fn s(recs: &[Record]) -> Vec<String> {
    recs.iter()
        .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
        .collect()
}

pub(super) const APEX_NS: [&str; 2] = [
    "example.test. NS ns1.example.test.",
    "example.test. NS ns2.other.test.",
];
pub(super) const NS1_ADDR: [&str; 2] = [
    "ns1.example.test. A 192.0.2.53",
    "ns1.example.test. AAAA 2001:db8::53",
];
pub(super) const SOA: &str =
    "example.test. SOA ns1.example.test. hostmaster.example.test. 1 7200 900 1209600 300";

pub(super) fn assert_nodata(a: &Answer) {
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.authoritative);
    assert_eq!(s(&a.authorities), [SOA]);
    assert_eq!(a.authorities[0].ttl, 300, "min(SOA TTL, MINIMUM)");
    assert!(a.additionals.is_empty());
}

#[test]
fn positive_answer_has_apex_ns_and_its_addresses() {
    let z = example();
    let a = q(&z, "www.example.test.", RecordType::A);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.authoritative);
    assert_eq!(s(&a.answers), ["www.example.test. A 192.0.2.80"]);
    assert_eq!(a.answers[0].ttl, 3600);
    assert_eq!(s(&a.authorities), APEX_NS);
    assert_eq!(s(&a.additionals), NS1_ADDR);
    assert_eq!(a.zone.as_ref().map(|z| z.serial()), Some(1));
}

#[test]
fn owners_echo_the_query_case() {
    let z = example();
    let qn = n("WwW.ExAmPlE.TeSt.");
    let a = answer(&z, &qn, RecordType::A);
    assert!(a.answers[0].name.eq_case(&qn));
    assert!(a.authorities[0].name.eq_case(&n("ExAmPlE.TeSt.")));
    let a = q(&z, "NX.ExAmPlE.TeSt.", RecordType::A);
    assert!(a.authorities[0].name.eq_case(&n("ExAmPlE.TeSt.")));
    let a = q(&z, "Www.Child.ExAmPlE.TeSt.", RecordType::A);
    assert!(a.authorities[0].name.eq_case(&n("Child.ExAmPlE.TeSt.")));
    let a = q(&z, "x.DName.example.test.", RecordType::A);
    assert!(a.answers[0].name.eq_case(&n("DName.example.test.")));
    assert!(a.answers[1].name.eq_case(&n("x.DName.example.test.")));
}

#[test]
fn nodata_and_nxdomain_carry_the_soa() {
    let z = example();
    assert_nodata(&q(&z, "www.example.test.", RecordType::MX));
    assert_nodata(&q(&z, "www.example.test.", RecordType::RRSIG));
    assert_nodata(&q(&z, "example.test.", RecordType::NSEC));
    assert_nodata(&q(&z, "www.example.test.", RecordType::Unknown(999)));
    let a = q(&z, "nx.example.test.", RecordType::A);
    assert_eq!(a.rcode, ResponseCode::NXDomain);
    assert!(a.authoritative && a.answers.is_empty());
    assert_eq!(s(&a.authorities), [SOA]);
    assert_eq!(a.authorities[0].ttl, 300);
}

#[test]
fn negative_ttl_is_the_smaller_of_soa_ttl_and_minimum() {
    let z = zone(
        "low.test.",
        &[
            "@ 60 SOA ns.low.test. h.low.test. 9 1 1 1 600",
            "@ 60 NS ns.low.test.",
        ],
    );
    let a = q(&z, "nx.low.test.", RecordType::A);
    assert_eq!(a.authorities[0].ttl, 60);
}

#[test]
fn empty_non_terminals_are_nodata_and_block_nothing_below() {
    let z = example();
    assert_nodata(&q(&z, "c.example.test.", RecordType::A));
    assert_nodata(&q(&z, "b.c.example.test.", RecordType::A));
    let a = q(&z, "a.b.c.example.test.", RecordType::TXT);
    assert_eq!(s(&a.answers), ["a.b.c.example.test. TXT deep"]);
    let a = q(&z, "x.a.b.c.example.test.", RecordType::A);
    assert_eq!(a.rcode, ResponseCode::NXDomain);
}

#[test]
fn wildcard_synthesis_uses_the_query_name() {
    let z = example();
    let a = q(&z, "foo.wild.example.test.", RecordType::A);
    assert_eq!(s(&a.answers), ["foo.wild.example.test. A 192.0.2.99"]);
    assert_eq!(s(&a.authorities), APEX_NS);
    let a = q(&z, "a.b.wild.example.test.", RecordType::A);
    assert_eq!(s(&a.answers), ["a.b.wild.example.test. A 192.0.2.99"]);
    let a = q(&z, "foo.wild.example.test.", RecordType::MX);
    assert_eq!(
        s(&a.answers),
        ["foo.wild.example.test. MX 10 mail.example.test."]
    );
    let mut add = vec!["mail.example.test. A 192.0.2.25"];
    add.extend(NS1_ADDR);
    assert_eq!(s(&a.additionals), add);
    // The wildcard owner itself is an ordinary name.
    let a = q(&z, "*.wild.example.test.", RecordType::A);
    assert_eq!(s(&a.answers), ["*.wild.example.test. A 192.0.2.99"]);
}

#[test]
fn wildcard_nodata_and_blocking() {
    let z = example();
    assert_nodata(&q(&z, "foo.wild.example.test.", RecordType::TXT));
    // The wildcard's parent is an empty non-terminal: NODATA, not a match.
    assert_nodata(&q(&z, "wild.example.test.", RecordType::A));
    // An existing child of the closest encloser blocks the wildcard below it.
    let a = q(&z, "sub.wild.example.test.", RecordType::A);
    assert_eq!(s(&a.answers), ["sub.wild.example.test. A 192.0.2.98"]);
    assert_nodata(&q(&z, "sub.wild.example.test.", RecordType::MX));
    let a = q(&z, "x.sub.wild.example.test.", RecordType::A);
    assert_eq!(a.rcode, ResponseCode::NXDomain);
}

#[test]
fn cname_chains_are_followed_in_zone() {
    let z = example();
    let a = q(&z, "chain1.example.test.", RecordType::A);
    assert_eq!(
        s(&a.answers),
        [
            "chain1.example.test. CNAME chain2.example.test.",
            "chain2.example.test. CNAME www.example.test.",
            "www.example.test. A 192.0.2.80",
        ]
    );
    assert_eq!(s(&a.authorities), APEX_NS);
    let a = q(&z, "cname.example.test.", RecordType::CNAME);
    assert_eq!(
        s(&a.answers),
        ["cname.example.test. CNAME www.example.test."]
    );
    // CNAME, then NODATA at the target.
    let a = q(&z, "cname.example.test.", RecordType::MX);
    assert_eq!(
        s(&a.answers),
        ["cname.example.test. CNAME www.example.test."]
    );
    assert_eq!(s(&a.authorities), [SOA]);
    // Into a wildcard, and a wildcard CNAME.
    let a = q(&z, "towild.example.test.", RecordType::A);
    assert_eq!(s(&a.answers)[1], "foo.wild.example.test. A 192.0.2.99");
    let a = q(&z, "foo.wc2.example.test.", RecordType::A);
    assert_eq!(
        s(&a.answers),
        [
            "foo.wc2.example.test. CNAME www.example.test.",
            "www.example.test. A 192.0.2.80"
        ]
    );
}

#[test]
fn cname_chain_ends() {
    let z = example();
    // Out of zone: the CNAME alone, no authority.
    let a = q(&z, "out.example.test.", RecordType::A);
    assert_eq!((a.rcode, a.authoritative), (ResponseCode::NoError, true));
    assert_eq!(s(&a.answers), ["out.example.test. CNAME www.other.test."]);
    assert!(a.authorities.is_empty() && a.additionals.is_empty());
    // Target missing: NXDOMAIN with the CNAME.
    let a = q(&z, "tonx.example.test.", RecordType::A);
    assert_eq!(a.rcode, ResponseCode::NXDomain);
    assert_eq!(
        s(&a.answers),
        ["tonx.example.test. CNAME nothere.example.test."]
    );
    assert_eq!(s(&a.authorities), [SOA]);
    // Loop: both CNAMEs once, NOERROR, nothing else.
    let a = q(&z, "loop1.example.test.", RecordType::A);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert_eq!(a.answers.len(), 2);
    assert!(a.authorities.is_empty());
    // A chain longer than the limit stops after MAX_CHAIN + 1 CNAMEs.
    let a = q(&z, "c1.example.test.", RecordType::A);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert_eq!(a.answers.len(), MAX_CHAIN + 1);
    assert!(
        a.answers
            .iter()
            .all(|r| r.record_type() == RecordType::CNAME)
    );
    // A shorter one is followed to the end.
    let a = q(&z, "c20.example.test.", RecordType::A);
    assert_eq!(a.answers.len(), 12);
    assert_eq!(a.answers[11].record_type(), RecordType::A);
    // Into a cut: CNAME (AA kept) then the referral.
    let a = q(&z, "tocut.example.test.", RecordType::A);
    assert!(a.authoritative);
    assert_eq!(
        s(&a.answers),
        ["tocut.example.test. CNAME www.child.example.test."]
    );
    assert_eq!(a.authorities.len(), 2);
    assert_eq!(a.authorities[0].record_type(), RecordType::NS);
    assert_eq!(a.additionals.len(), 2);
}

#[test]
fn dname_substitution() {
    let z = example();
    let a = q(&z, "x.dname.example.test.", RecordType::A);
    assert_eq!(a.answers.len(), 2);
    assert_eq!(a.answers[0].record_type(), RecordType::DNAME);
    assert_eq!(a.answers[0].name, n("dname.example.test."));
    assert_eq!(
        s(&a.answers[1..]),
        ["x.dname.example.test. CNAME x.other.test."]
    );
    assert_eq!(a.answers[1].ttl, 3600);
    assert!(a.authorities.is_empty(), "out-of-zone target: nothing more");
    // In-zone target, landing on a wildcard.
    let a = q(&z, "y.dn2.example.test.", RecordType::A);
    assert_eq!(
        s(&a.answers[1..]),
        [
            "y.dn2.example.test. CNAME y.wild.example.test.",
            "y.wild.example.test. A 192.0.2.99"
        ]
    );
    assert_eq!(s(&a.authorities), APEX_NS);
    // The DNAME owner itself is ordinary data.
    let a = q(&z, "dname.example.test.", RecordType::DNAME);
    assert_eq!(a.answers.len(), 1);
    assert_nodata(&q(&z, "dname.example.test.", RecordType::A));
}

#[test]
fn dname_overflow_is_yxdomain() {
    let long = format!(
        "{}.{}.{}.test.",
        "a".repeat(60),
        "b".repeat(60),
        "c".repeat(60)
    );
    let owner_line = format!("d 60 DNAME {long}");
    let z = zone(
        "y.test.",
        &[
            "@ 60 SOA ns.y.test. h.y.test. 1 1 1 1 60",
            "@ 60 NS ns.y.test.",
            &owner_line,
        ],
    );
    let qn = format!("{}.{}.d.y.test.", "x".repeat(60), "z".repeat(30));
    let a = q(&z, &qn, RecordType::A);
    assert_eq!(a.rcode, ResponseCode::YXDomain);
    assert_eq!(a.answers.len(), 1);
    assert_eq!(a.answers[0].record_type(), RecordType::DNAME);
}
