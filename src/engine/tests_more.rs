//! Engine tests: referrals, DS, ANY, additional processing, the catalog level, and the
//! proof that a lookup never scans the zone.

use std::cell::Cell;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};

use super::lookup::{Found, Nodes, find};
use super::tests::{APEX_NS, NS1_ADDR, SOA, assert_nodata, example, n, q, s, zone};
use super::{Answer, resolve, resolve_into};
use crate::catalog::{Catalog, ZoneHandle};
use crate::zone::{Node, Zone};

const CHILD_NS: [&str; 2] = [
    "child.example.test. NS ns.child.example.test.",
    "child.example.test. NS ns.other.test.",
];
const GLUE: [&str; 2] = [
    "ns.child.example.test. A 192.0.2.10",
    "ns.child.example.test. AAAA 2001:db8::10",
];

#[test]
fn referrals_at_and_below_a_cut() {
    let z = example();
    for (name, t) in [
        ("child.example.test.", RecordType::A),
        ("child.example.test.", RecordType::NS),
        ("child.example.test.", RecordType::ANY),
        ("www.child.example.test.", RecordType::A),
        // Glue is never answered as data.
        ("ns.child.example.test.", RecordType::A),
        ("www.child.example.test.", RecordType::DS),
    ] {
        let a = q(&z, name, t);
        assert_eq!(a.rcode, ResponseCode::NoError, "{name} {t}");
        assert!(!a.authoritative, "{name} {t}");
        assert!(a.answers.is_empty());
        assert_eq!(s(&a.authorities), CHILD_NS, "{name} {t}");
        assert_eq!(s(&a.additionals), GLUE, "{name} {t}");
    }
    // A cut whose server is elsewhere in the zone: its addresses as well (Knot, NSD).
    let a = q(&z, "x.nsrec.example.test.", RecordType::A);
    assert!(!a.authoritative);
    assert_eq!(
        s(&a.authorities),
        ["nsrec.example.test. NS ns1.example.test."]
    );
    assert_eq!(s(&a.additionals), NS1_ADDR);
}

#[test]
fn ds_at_a_cut_is_parent_data() {
    let z = example();
    let a = q(&z, "child.example.test.", RecordType::DS);
    assert!(a.authoritative);
    assert_eq!(a.answers.len(), 1);
    assert_eq!(a.answers[0].record_type(), RecordType::DS);
    assert!(a.authorities.is_empty() && a.additionals.is_empty());
    // No DS at a cut: NODATA from the parent.
    assert_nodata(&q(&z, "nsrec.example.test.", RecordType::DS));
}

#[test]
fn additional_addresses_for_ns_mx_srv() {
    let z = example();
    let a = q(&z, "example.test.", RecordType::NS);
    assert_eq!(s(&a.answers), APEX_NS);
    assert!(a.authorities.is_empty(), "NS answer is not repeated");
    assert_eq!(s(&a.additionals), NS1_ADDR);
    // mx.child is below a cut and mx.other.test in another zone: no addresses for them.
    let a = q(&z, "example.test.", RecordType::MX);
    assert_eq!(a.answers.len(), 3);
    let mut add = vec!["mail.example.test. A 192.0.2.25"];
    add.extend(NS1_ADDR);
    assert_eq!(s(&a.additionals), add);
    let a = q(&z, "_sip._tcp.example.test.", RecordType::SRV);
    assert_eq!(a.answers.len(), 2);
    let mut add = vec!["sip.example.test. A 192.0.2.60"];
    add.extend(NS1_ADDR);
    assert_eq!(s(&a.additionals), add);
    // A target synthesized from a wildcard gets its addresses, a CNAME target none.
    let a = q(&z, "mxw.example.test.", RecordType::MX);
    let mut add = vec!["foo.wild.example.test. A 192.0.2.99"];
    add.extend(NS1_ADDR);
    assert_eq!(s(&a.additionals), add);
    let a = q(&z, "mxc.example.test.", RecordType::MX);
    assert_eq!(s(&a.additionals), NS1_ADDR);
    // Other types get none but the NS addresses.
    let a = q(&z, "example.test.", RecordType::TXT);
    assert_eq!(s(&a.additionals), NS1_ADDR);
}

#[test]
fn any_answers_one_rrset() {
    let z = example();
    let a = q(&z, "example.test.", RecordType::ANY);
    assert_eq!(s(&a.answers), APEX_NS, "lowest type at the apex is NS");
    assert!(a.authorities.is_empty());
    assert_eq!(s(&a.additionals), NS1_ADDR);
    let a = q(&z, "multi.example.test.", RecordType::ANY);
    assert_eq!(
        s(&a.answers),
        ["multi.example.test. MX 10 mail.example.test."]
    );
    assert_eq!(s(&a.additionals), ["mail.example.test. A 192.0.2.25"]);
    let a = q(&z, "cname.example.test.", RecordType::ANY);
    assert_eq!(
        s(&a.answers),
        ["cname.example.test. CNAME www.example.test."]
    );
    let a = q(&z, "foo.wild.example.test.", RecordType::ANY);
    assert_eq!(s(&a.answers), ["foo.wild.example.test. A 192.0.2.99"]);
    assert_nodata(&q(&z, "c.example.test.", RecordType::ANY));
    assert_eq!(
        q(&z, "nx.example.test.", RecordType::ANY).rcode,
        ResponseCode::NXDomain
    );
}

#[test]
fn answer_refuses_names_outside_the_zone() {
    let z = example();
    assert_eq!(
        q(&z, "www.other.test.", RecordType::A).rcode,
        ResponseCode::Refused
    );
}

fn other() -> Arc<Zone> {
    zone(
        "other.test.",
        &[
            "@ 600 SOA ns2.other.test. h.other.test. 1 7200 900 1209600 60",
            "@ 600 NS ns2.other.test.",
            "ns2 600 A 192.0.2.200",
            "www 600 A 192.0.2.201",
        ],
    )
}

fn child() -> Arc<Zone> {
    zone(
        "child.example.test.",
        &[
            "@ 60 SOA ns.child.example.test. h.child.example.test. 5 1 1 1 60",
            "@ 60 NS ns.child.example.test.",
            "@ 60 DS 1 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE50542BE9E8B25C13B3A1F6B2",
            "www 60 A 192.0.2.77",
        ],
    )
}

fn catalog() -> (Catalog, Arc<ZoneHandle>) {
    let mut c = Catalog::new();
    let ex = Arc::new(ZoneHandle::new(n("example.test."), Some(example())));
    c.insert(ex.clone());
    c.insert(Arc::new(ZoneHandle::new(n("other.test."), Some(other()))));
    c.insert(Arc::new(ZoneHandle::new(
        n("child.example.test."),
        Some(child()),
    )));
    c.insert(Arc::new(ZoneHandle::new(n("empty.test."), None)));
    (c, ex)
}

#[test]
fn resolve_picks_the_most_specific_zone() {
    let (c, _) = catalog();
    let a = resolve(
        &c,
        &n("www.child.example.test."),
        RecordType::A,
        DNSClass::IN,
    );
    assert!(a.authoritative);
    assert_eq!(s(&a.answers), ["www.child.example.test. A 192.0.2.77"]);
    assert_eq!(a.zone.map(|z| z.serial()), Some(5));
    // The CNAME into another served zone is not followed.
    let a = resolve(&c, &n("out.example.test."), RecordType::A, DNSClass::IN);
    assert_eq!(a.answers.len(), 1);
    // DS of a served child comes from the parent.
    let a = resolve(&c, &n("child.example.test."), RecordType::DS, DNSClass::IN);
    assert_eq!(a.zone.map(|z| z.serial()), Some(1));
    assert_eq!(a.answers.len(), 1);
}

#[test]
fn resolve_refuses_and_fails() {
    let (c, ex) = catalog();
    let a = resolve(&c, &n("www.nowhere."), RecordType::A, DNSClass::IN);
    assert_eq!((a.rcode, a.authoritative), (ResponseCode::Refused, false));
    assert!(a.zone.is_none());
    for class in [DNSClass::CH, DNSClass::HS, DNSClass::NONE] {
        let a = resolve(&c, &n("www.example.test."), RecordType::A, class);
        assert_eq!(a.rcode, ResponseCode::Refused, "{class}");
    }
    let a = resolve(&c, &n("www.empty.test."), RecordType::A, DNSClass::IN);
    assert_eq!((a.rcode, a.ede), (ResponseCode::ServFail, None));
    ex.set_expired(true);
    let a = resolve(&c, &n("www.example.test."), RecordType::A, DNSClass::IN);
    assert_eq!((a.rcode, a.ede), (ResponseCode::ServFail, Some(24)));
    assert!(a.answers.is_empty());
}

#[test]
fn class_any_is_answered_without_aa() {
    let (c, _) = catalog();
    let a = resolve(&c, &n("www.example.test."), RecordType::A, DNSClass::ANY);
    assert!(!a.authoritative);
    assert_eq!(s(&a.answers), ["www.example.test. A 192.0.2.80"]);
    assert!(a.authorities.is_empty() && a.additionals.is_empty());
    let a = resolve(&c, &n("nx.example.test."), RecordType::A, DNSClass::ANY);
    assert_eq!(a.rcode, ResponseCode::NXDomain);
    assert!(a.authorities.is_empty());
    let a = resolve(
        &c,
        &n("www.nsrec.example.test."),
        RecordType::A,
        DNSClass::ANY,
    );
    assert_eq!(a.authorities.len(), 1, "referrals keep their sections");
    let a = resolve(&c, &n("c.example.test."), RecordType::A, DNSClass::IN);
    assert_eq!(s(&a.authorities), [SOA]);
}

/// Counts node lookups, to show the cost of a lookup does not grow with the zone.
struct Counting<'a> {
    zone: &'a Zone,
    lookups: Cell<usize>,
}

impl Nodes for Counting<'_> {
    fn node(&self, name: &LowerName) -> Option<&Node> {
        self.lookups.set(self.lookups.get() + 1);
        self.zone.node(name)
    }
    fn apex(&self) -> &Node {
        self.zone.apex()
    }
    fn origin_lower(&self) -> &LowerName {
        self.zone.origin_lower()
    }
}

fn lookups(z: &Zone, name: &str) -> (usize, bool) {
    let c = Counting {
        zone: z,
        lookups: Cell::new(0),
    };
    let f = find(&c, &LowerName::new(&n(name)), RecordType::A);
    (c.lookups.get(), matches!(f, Found::NxDomain))
}

#[test]
fn nxdomain_costs_the_same_on_small_and_large_zones() {
    let head = [
        "@ 60 SOA ns.big.test. h.big.test. 1 1 1 1 60".to_string(),
        "@ 60 NS ns.big.test.".to_string(),
        "a.deep 60 A 192.0.2.1".to_string(),
    ];
    let small: Vec<String> = head
        .iter()
        .cloned()
        .chain((0..10).map(|i| format!("h{i} 60 A 192.0.2.2")))
        .collect();
    let small = zone(
        "big.test.",
        &small.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let origin = n("big.test.");
    let mut recs = small.records_canonical();
    recs.extend((0..100_000).map(|i| {
        let owner = Name::from_ascii(format!("h{i}.g{}", i % 100))
            .unwrap()
            .append_domain(&origin)
            .unwrap();
        Record::from_rdata(owner, 60, RData::A(A::new(192, 0, 2, 2)))
    }));
    let large = Zone::from_records(origin, recs).unwrap();
    assert!(large.record_count() > 100_000);
    for name in [
        "nx.big.test.",
        "x.y.z.nx.big.test.",
        "x.a.deep.big.test.",
        "zz.deep.big.test.",
    ] {
        let (cs, nx_s) = lookups(&small, name);
        let (cl, nx_l) = lookups(&large, name);
        assert!(nx_s && nx_l, "{name} is NXDOMAIN in both");
        assert_eq!(cs, cl, "{name}: same lookups on 13 and 100k names");
        // One lookup per label walked plus the wildcard probe, never more.
        assert!(cl < n(name).iter().len(), "{name}: {cl} lookups");
    }
}

#[test]
fn a_reused_answer_carries_nothing_over() {
    let (c, _) = catalog();
    let mut a = Answer::default();
    resolve_into(
        &c,
        &n("example.test."),
        RecordType::MX,
        DNSClass::IN,
        &mut a,
    );
    assert_eq!(a.answers.len(), 3);
    resolve_into(
        &c,
        &n("nx.example.test."),
        RecordType::A,
        DNSClass::IN,
        &mut a,
    );
    assert_eq!(a.rcode, ResponseCode::NXDomain);
    assert!(a.answers.is_empty() && a.additionals.is_empty());
    assert_eq!(s(&a.authorities), [SOA]);
    resolve_into(&c, &n("www.nowhere."), RecordType::A, DNSClass::IN, &mut a);
    assert_eq!((a.rcode, a.authoritative), (ResponseCode::Refused, false));
    assert!(a.authorities.is_empty() && a.zone.is_none());
}

#[test]
fn answer_rrsets_are_not_repeated_in_additional() {
    let z = example();
    // ns1 is an apex NS target: its A is the answer, so only its AAAA stays in additional.
    let a = q(&z, "ns1.example.test.", RecordType::A);
    assert_eq!(s(&a.answers), ["ns1.example.test. A 192.0.2.53"]);
    assert_eq!(s(&a.authorities), APEX_NS);
    assert_eq!(s(&a.additionals), ["ns1.example.test. AAAA 2001:db8::53"]);
}

#[test]
fn apex_ns_targets_below_a_cut_get_their_glue() {
    // The shape of a root zone whose server name lives under a delegated TLD.
    let root = zone(
        ".",
        &[
            "@ 86400 SOA a.root-servers.test. hostmaster.test. 1 1800 900 604800 86400",
            "@ 518400 NS a.root-servers.test.",
            "test. 172800 NS ns1.nic.test.",
            "ns1.nic.test. 172800 A 127.0.0.12",
            "a.root-servers.test. 518400 A 127.0.0.11",
        ],
    );
    let a = q(&root, ".", RecordType::NS);
    assert!(a.authoritative);
    assert_eq!(s(&a.answers), [". NS a.root-servers.test."]);
    assert_eq!(s(&a.additionals), ["a.root-servers.test. A 127.0.0.11"]);
    let a = q(&root, ".", RecordType::SOA);
    assert_eq!(s(&a.authorities), [". NS a.root-servers.test."]);
    assert_eq!(s(&a.additionals), ["a.root-servers.test. A 127.0.0.11"]);
    // An MX target below the cut stays occluded (NSD, BIND).
    let a = q(&root, "test.", RecordType::A);
    assert!(!a.authoritative, "still a referral");
}

#[test]
fn referrals_put_in_domain_glue_first_and_add_sibling_glue() {
    let z = zone(
        "example.test.",
        &[
            "@ 3600 SOA ns1.example.test. h.example.test. 1 3600 900 604800 300",
            "@ 3600 NS ns1.example.test.",
            "ns1 3600 A 192.0.2.53",
            "a 3600 NS ns.b.example.test.",
            "a 3600 NS ns.a.example.test.",
            "a 3600 NS ns1.example.test.",
            "a 3600 NS ns.elsewhere.test.",
            "ns.a 3600 A 192.0.2.1",
            "b 3600 NS ns.b.example.test.",
            "ns.b 3600 A 192.0.2.2",
        ],
    );
    let a = q(&z, "www.a.example.test.", RecordType::A);
    assert!(!a.authoritative);
    // ns.a is in-domain glue and must fit; ns.b (glue of the sibling cut b) and ns1
    // (authoritative data) come after it, optional.
    assert_eq!(
        s(&a.additionals),
        [
            "ns.a.example.test. A 192.0.2.1",
            "ns.b.example.test. A 192.0.2.2",
            "ns1.example.test. A 192.0.2.53",
        ]
    );
    assert_eq!(a.required_additionals, 1);
    // Answers that are not referrals require nothing.
    let a = q(&z, "example.test.", RecordType::NS);
    assert_eq!(a.required_additionals, 0);
}
