use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::op::Query;
use hickory_proto::rr::rdata::{A, CNAME, NS, SOA, TXT};

use super::*;

pub(super) fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

pub(super) fn a(s: &str) -> RData {
    RData::A(A(s.parse().unwrap()))
}

pub(super) fn rr(name: &str, ttl: u32, class: DNSClass, data: RData) -> Record {
    let mut r = Record::from_rdata(n(name), ttl, data);
    r.dns_class = class;
    r
}

/// A class ANY/NONE record with empty RDATA, as RFC 2136 spells the "no RDATA" forms.
pub(super) fn empty(name: &str, class: DNSClass, t: RecordType) -> Record {
    let mut r = Record::update0(n(name), 0, t);
    r.dns_class = class;
    r
}

pub(super) fn soa(serial: u32) -> RData {
    RData::SOA(SOA::new(
        n("ns1.example.test."),
        n("hostmaster.example.test."),
        serial,
        3600,
        600,
        86400,
        60,
    ))
}

/// The zone of `FILE`, as the loader reads it.
pub(super) fn zone() -> Zone {
    crate::zone::load::load_zone_str(FILE, &n("example.test."), "test", Path::new("."))
        .unwrap()
        .zone
}

pub(super) fn request(prereqs: Vec<Record>, updates: Vec<Record>) -> UpdateRequest {
    UpdateRequest {
        zone: n("example.test."),
        prerequisites: prereqs,
        updates,
    }
}

pub(super) fn rcode(prereqs: Vec<Record>, updates: Vec<Record>) -> ResponseCode {
    match apply_update(&zone(), &request(prereqs, updates), INC, EPOCH) {
        Ok(_) => ResponseCode::NoError,
        Err(r) => r,
    }
}

pub(super) fn applied(updates: Vec<Record>) -> Option<AppliedUpdate> {
    apply_update(&zone(), &request(vec![], updates), INC, EPOCH).unwrap()
}

pub(super) fn rdata_at(z: &Zone, name: &str, t: RecordType) -> Vec<RData> {
    z.node(&LowerName::new(&n(name)))
        .and_then(|node| node.get(t))
        .map(|s| s.rdata.clone())
        .unwrap_or_default()
}

pub(super) fn message(
    zone: &str,
    zclass: DNSClass,
    ztype: RecordType,
    prereqs: Vec<Record>,
    updates: Vec<Record>,
) -> Message {
    let mut m = Message::query();
    m.metadata.op_code = OpCode::Update;
    let mut q = Query::query(n(zone), ztype);
    q.set_query_class(zclass);
    m.queries.push(q);
    m.answers = prereqs;
    m.authorities = updates;
    m
}

pub(super) const INC: SerialPolicy = SerialPolicy::Increment;
pub(super) const EPOCH: SystemTime = UNIX_EPOCH;
pub(super) const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

pub(super) fn open_acl() -> UpdateAcl {
    UpdateAcl {
        rules: vec![AclRule {
            networks: vec!["127.0.0.0/8".parse().unwrap()],
            key: None,
        }],
    }
}

#[test]
fn zone_section_rcodes() {
    let z = zone();
    let acl = open_acl();
    let run = |m: &Message| handle_update(m, Some(&z), &acl, LOCAL, None, INC, EPOCH).rcode;
    let ok = message(
        "example.test.",
        DNSClass::IN,
        RecordType::SOA,
        vec![],
        vec![],
    );
    assert_eq!(run(&ok), ResponseCode::NoError);
    let mut none = ok.clone();
    none.queries.clear();
    assert_eq!(run(&none), ResponseCode::FormErr);
    let mut two = ok.clone();
    two.queries.push(two.queries[0].clone());
    assert_eq!(run(&two), ResponseCode::FormErr);
    let not_soa = message("example.test.", DNSClass::IN, RecordType::A, vec![], vec![]);
    assert_eq!(run(&not_soa), ResponseCode::FormErr);
    let other = message("other.test.", DNSClass::IN, RecordType::SOA, vec![], vec![]);
    assert_eq!(run(&other), ResponseCode::NotAuth);
    let sub = message(
        "b.example.test.",
        DNSClass::IN,
        RecordType::SOA,
        vec![],
        vec![],
    );
    assert_eq!(run(&sub), ResponseCode::NotAuth, "not a zone apex");
    let chaos = message(
        "example.test.",
        DNSClass::CH,
        RecordType::SOA,
        vec![],
        vec![],
    );
    assert_eq!(run(&chaos), ResponseCode::NotAuth);
    let mut query = ok.clone();
    query.metadata.op_code = OpCode::Query;
    assert_eq!(run(&query), ResponseCode::NotImp);
    assert_eq!(
        handle_update(&ok, None, &acl, LOCAL, None, INC, EPOCH).rcode,
        ResponseCode::NotAuth
    );
}

#[test]
fn acl_by_address_and_key() {
    let z = zone();
    let m = message(
        "example.test.",
        DNSClass::IN,
        RecordType::SOA,
        vec![],
        vec![rr("new.example.test.", 60, DNSClass::IN, a("192.0.2.99"))],
    );
    let key = n("upd-key.");
    let acl = UpdateAcl {
        rules: vec![
            AclRule {
                networks: vec![
                    "10.0.0.0/8".parse().unwrap(),
                    "2001:db8::/32".parse().unwrap(),
                ],
                key: None,
            },
            AclRule {
                networks: vec![],
                key: Some(key.clone()),
            },
        ],
    };
    let run = |addr: &str, k: Option<&Name>| {
        handle_update(&m, Some(&z), &acl, addr.parse().unwrap(), k, INC, EPOCH)
    };
    assert_eq!(run("127.0.0.1", None).rcode, ResponseCode::Refused);
    assert!(run("127.0.0.1", None).applied.is_none());
    assert_eq!(run("10.1.2.3", None).rcode, ResponseCode::NoError);
    assert_eq!(run("::ffff:10.1.2.3", None).rcode, ResponseCode::NoError);
    assert_eq!(run("2001:db8::5", None).rcode, ResponseCode::NoError);
    assert_eq!(run("2001:db9::5", None).rcode, ResponseCode::Refused);
    assert_eq!(run("127.0.0.1", Some(&key)).rcode, ResponseCode::NoError);
    assert_eq!(
        run("127.0.0.1", Some(&n("other-key."))).rcode,
        ResponseCode::Refused
    );
    assert_eq!(
        handle_update(
            &m,
            Some(&z),
            &UpdateAcl::default(),
            LOCAL,
            Some(&key),
            INC,
            EPOCH
        )
        .rcode,
        ResponseCode::Refused,
        "an empty allow-update denies everything"
    );
    // Refused before prerequisites are looked at: no probing of the zone.
    let probe = message(
        "example.test.",
        DNSClass::IN,
        RecordType::SOA,
        vec![empty("nope.example.test.", DNSClass::ANY, RecordType::ANY)],
        vec![],
    );
    assert_eq!(
        handle_update(&probe, Some(&z), &acl, LOCAL, None, INC, EPOCH).rcode,
        ResponseCode::Refused
    );
    assert!("10.0.0.0/33".parse::<Cidr>().is_err());
    assert!(
        "0.0.0.0/0"
            .parse::<Cidr>()
            .unwrap()
            .contains("192.0.2.1".parse().unwrap())
    );
}

#[test]
fn prerequisite_rcodes() {
    use DNSClass::{ANY, IN, NONE};
    use ResponseCode::*;
    let www = "www.example.test.";
    let cases: Vec<(Vec<Record>, ResponseCode)> = vec![
        // Name is in use (§2.4.4) / not in use (§2.4.5).
        (vec![empty(www, ANY, RecordType::ANY)], NoError),
        (
            vec![empty("nope.example.test.", ANY, RecordType::ANY)],
            NXDomain,
        ),
        (
            vec![empty("b.example.test.", ANY, RecordType::ANY)],
            NXDomain,
        ),
        (
            vec![empty("nope.example.test.", NONE, RecordType::ANY)],
            NoError,
        ),
        (vec![empty(www, NONE, RecordType::ANY)], YXDomain),
        // RRset exists, value independent (§2.4.1) / does not exist (§2.4.3).
        (vec![empty(www, ANY, RecordType::A)], NoError),
        (vec![empty(www, ANY, RecordType::TXT)], NXRRSet),
        (vec![empty(www, NONE, RecordType::TXT)], NoError),
        (vec![empty(www, NONE, RecordType::A)], YXRRSet),
        // RRset exists, value dependent (§2.4.2): the whole RRset must match.
        (
            vec![
                rr(www, 0, IN, a("192.0.2.11")),
                rr(www, 0, IN, a("192.0.2.10")),
            ],
            NoError,
        ),
        (vec![rr(www, 0, IN, a("192.0.2.10"))], NXRRSet),
        (
            vec![
                rr(www, 0, IN, a("192.0.2.10")),
                rr(www, 0, IN, a("192.0.2.11")),
                rr(www, 0, IN, a("192.0.2.12")),
            ],
            NXRRSet,
        ),
        (
            vec![rr("nope.example.test.", 0, IN, a("192.0.2.10"))],
            NXRRSet,
        ),
        // Form errors and names outside the zone.
        (
            vec![
                rr(www, 5, IN, a("192.0.2.10")),
                rr(www, 5, IN, a("192.0.2.11")),
            ],
            FormErr,
        ),
        (vec![rr(www, 0, ANY, a("192.0.2.10"))], FormErr),
        (vec![rr(www, 0, NONE, a("192.0.2.10"))], FormErr),
        (vec![empty(www, IN, RecordType::A)], FormErr),
        (vec![empty(www, DNSClass::CH, RecordType::A)], FormErr),
        (
            vec![empty("www.other.test.", ANY, RecordType::ANY)],
            NotZone,
        ),
    ];
    for (prereqs, want) in cases {
        assert_eq!(rcode(prereqs.clone(), vec![]), want, "{prereqs:?}");
    }
    // A failed prerequisite applies nothing.
    let r = apply_update(
        &zone(),
        &request(
            vec![empty(www, NONE, RecordType::A)],
            vec![rr("new.example.test.", 60, IN, a("192.0.2.99"))],
        ),
        INC,
        EPOCH,
    );
    assert_eq!(r.unwrap_err(), YXRRSet);
}

#[test]
fn update_section_form_errors_apply_nothing() {
    use DNSClass::{ANY, IN, NONE};
    let good = rr("new.example.test.", 60, IN, a("192.0.2.99"));
    let cases = vec![
        (
            rr("x.other.test.", 60, IN, a("192.0.2.1")),
            ResponseCode::NotZone,
        ),
        (
            empty("x.example.test.", IN, RecordType::A),
            ResponseCode::FormErr,
        ),
        (
            rr("x.example.test.", 60, ANY, a("192.0.2.1")),
            ResponseCode::FormErr,
        ),
        (
            {
                let mut r = empty("x.example.test.", ANY, RecordType::A);
                r.ttl = 5;
                r
            },
            ResponseCode::FormErr,
        ),
        (
            rr("x.example.test.", 5, NONE, a("192.0.2.1")),
            ResponseCode::FormErr,
        ),
        (
            empty("x.example.test.", NONE, RecordType::A),
            ResponseCode::FormErr,
        ),
        (
            empty("x.example.test.", ANY, RecordType::AXFR),
            ResponseCode::FormErr,
        ),
        (
            rr("x.example.test.", 60, DNSClass::CH, a("192.0.2.1")),
            ResponseCode::FormErr,
        ),
    ];
    for (bad, want) in cases {
        // The good RR comes first: the prescan must reject the whole message.
        assert_eq!(
            rcode(vec![], vec![good.clone(), bad.clone()]),
            want,
            "{bad:?}"
        );
    }
}

#[test]
fn adds_merge_into_rrsets_and_bump_serial() {
    let up = applied(vec![
        rr("www.example.test.", 300, DNSClass::IN, a("192.0.2.12")),
        rr("www.example.test.", 300, DNSClass::IN, a("192.0.2.10")),
        rr(
            "new.example.test.",
            60,
            DNSClass::IN,
            RData::TXT(TXT::new(vec!["hi".into()])),
        ),
    ])
    .unwrap();
    assert_eq!((up.from_serial, up.to_serial), (7, 8));
    assert_eq!(up.zone.serial(), 8);
    assert_eq!(
        rdata_at(&up.zone, "www.example.test.", RecordType::A).len(),
        3
    );
    assert_eq!(up.removed, vec![]);
    assert_eq!(up.added.len(), 2, "the duplicate 192.0.2.10 adds nothing");
    let cs = up.changeset();
    assert_eq!(cs.removed[0].record_type(), RecordType::SOA);
    assert_eq!(cs.added[0].data, soa(8));
    assert_eq!(cs.added.len(), 3);
    // An add with another TTL changes the RRset's TTL: remove and re-add in the diff.
    let up = applied(vec![rr(
        "www.example.test.",
        30,
        DNSClass::IN,
        a("192.0.2.10"),
    )])
    .unwrap();
    assert_eq!((up.removed.len(), up.added.len()), (2, 2));
    let set = up
        .zone
        .node(&LowerName::new(&n("www.example.test.")))
        .unwrap();
    assert_eq!(set.get(RecordType::A).unwrap().ttl, 30);
}

#[test]
fn deletes_rrset_name_and_rr() {
    use DNSClass::{ANY, NONE};
    let up = applied(vec![empty("www.example.test.", ANY, RecordType::A)]).unwrap();
    assert!(rdata_at(&up.zone, "www.example.test.", RecordType::A).is_empty());
    assert_eq!(up.removed.len(), 2);
    let up = applied(vec![empty("a.b.example.test.", ANY, RecordType::ANY)]).unwrap();
    assert!(
        up.zone
            .node(&LowerName::new(&n("b.example.test.")))
            .is_none(),
        "ENT goes too"
    );
    let up = applied(vec![rr("www.example.test.", 0, NONE, a("192.0.2.10"))]).unwrap();
    assert_eq!(
        rdata_at(&up.zone, "www.example.test.", RecordType::A),
        vec![a("192.0.2.11")]
    );
    // Absent data: NOERROR, no new version.
    assert!(applied(vec![rr("www.example.test.", 0, NONE, a("192.0.2.99"))]).is_none());
    assert!(applied(vec![empty("nope.example.test.", ANY, RecordType::ANY)]).is_none());
    // Add then delete in one message: net nothing.
    let r = rr("t.example.test.", 60, DNSClass::IN, a("192.0.2.5"));
    let mut d = r.clone();
    d.dns_class = NONE;
    d.ttl = 0;
    assert!(applied(vec![r, d]).is_none());
}

#[test]
fn apex_soa_and_ns_are_protected() {
    use DNSClass::{ANY, IN, NONE};
    let apex = "example.test.";
    assert!(applied(vec![empty(apex, ANY, RecordType::SOA)]).is_none());
    assert!(applied(vec![empty(apex, ANY, RecordType::NS)]).is_none());
    assert!(applied(vec![rr(apex, 0, NONE, soa(7))]).is_none());
    assert!(
        applied(vec![rr(
            apex,
            0,
            NONE,
            RData::NS(NS(n("ns1.example.test.")))
        )])
        .is_none(),
        "the last apex NS stays"
    );
    // Delete-all at the apex keeps SOA and NS and removes the rest.
    let up = applied(vec![
        rr(apex, 60, IN, RData::TXT(TXT::new(vec!["x".into()]))),
        empty(apex, ANY, RecordType::ANY),
    ]);
    assert!(up.is_none(), "the TXT added and removed again");
    // With a second NS, one may go.
    let ns2 = RData::NS(NS(n("ns2.example.test.")));
    let up = applied(vec![
        rr(apex, 3600, IN, ns2.clone()),
        rr(apex, 0, NONE, RData::NS(NS(n("ns1.example.test.")))),
    ])
    .unwrap();
    assert_eq!(rdata_at(&up.zone, apex, RecordType::NS), vec![ns2]);
}

#[test]
fn soa_replacement_needs_a_newer_serial() {
    let apex = "example.test.";
    assert!(applied(vec![rr(apex, 3600, DNSClass::IN, soa(7))]).is_none());
    assert!(applied(vec![rr(apex, 3600, DNSClass::IN, soa(6))]).is_none());
    let up = applied(vec![rr(apex, 3600, DNSClass::IN, soa(100))]).unwrap();
    assert_eq!(
        up.to_serial, 100,
        "a newer SOA from the update is used as is"
    );
    assert!(up.removed.is_empty() && up.added.is_empty());
    // An SOA at a non-apex name is ignored.
    assert!(applied(vec![rr("www.example.test.", 3600, DNSClass::IN, soa(100))]).is_none());
}

#[test]
fn cname_conflicts() {
    let cname = |t: &str| RData::CNAME(CNAME(n(t)));
    // CNAME where other data lives: ignored.
    assert!(
        applied(vec![rr(
            "www.example.test.",
            60,
            DNSClass::IN,
            cname("x.test.")
        )])
        .is_none()
    );
    // Other data where a CNAME lives: ignored.
    assert!(
        applied(vec![rr(
            "alias.example.test.",
            60,
            DNSClass::IN,
            a("192.0.2.1")
        )])
        .is_none()
    );
    // A CNAME replaces a CNAME.
    let up = applied(vec![rr(
        "alias.example.test.",
        60,
        DNSClass::IN,
        cname("x.test."),
    )])
    .unwrap();
    assert_eq!(
        rdata_at(&up.zone, "alias.example.test.", RecordType::CNAME),
        vec![cname("x.test.")]
    );
    assert_eq!((up.removed.len(), up.added.len()), (1, 1));
}

pub(super) const FILE: &str = "\
$ORIGIN example.test.
$TTL 300
@ 3600 IN SOA ns1 hostmaster ( 7 3600 600 86400 60 ) ; keep me
  3600 IN NS ns1
ns1 A 192.0.2.1
www A 192.0.2.10 ; web
    A 192.0.2.11
alias CNAME www
a.b A 192.0.2.20
";
