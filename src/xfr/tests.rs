//! Serving and receiving transfers end to end, in memory: every message the server
//! produces goes through the client's checks.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, NS, TXT};
use hickory_proto::rr::{Name, RData, Record};

use super::acl::Acl;
use super::client::{self, Progress, XfrConsumer, XfrError, XfrOutcome};
use super::server::{self, IxfrPlan, Transport, XfrOptions, XfrStream};
use crate::catalog::ZoneHandle;
use crate::tsig::{self, Keyring, RequestAuth, ResponseSigner, ResponseVerifier, TsigKey};
use crate::zone::Zone;
use crate::zone::diff::Changeset;
use crate::zone::diff::tests::{n, soa};

fn origin() -> Name {
    n("example.test.")
}

fn a(i: u32) -> Record {
    Record::from_rdata(
        n(&format!("h{i}.example.test.")),
        300,
        RData::A(A::from(std::net::Ipv4Addr::from(0x0a00_0000 + i))),
    )
}

fn zone_records(serial: u32, hosts: std::ops::Range<u32>) -> Vec<Record> {
    let mut v = vec![
        soa(serial),
        Record::from_rdata(origin(), 3600, RData::NS(NS(n("ns1.example.test.")))),
    ];
    v.extend(hosts.map(a));
    v
}

fn zone(serial: u32, hosts: std::ops::Range<u32>) -> Arc<Zone> {
    Arc::new(Zone::from_records(origin(), zone_records(serial, hosts)).unwrap())
}

fn cs(from: u32, to: u32, removed: Vec<Record>, added: Vec<Record>) -> Changeset {
    let mut r = vec![soa(from)];
    r.extend(removed);
    let mut ad = vec![soa(to)];
    ad.extend(added);
    Changeset {
        from_serial: from,
        to_serial: to,
        removed: r,
        added: ad,
    }
}

const SRC: &str = "127.0.0.1";

fn src() -> IpAddr {
    SRC.parse().unwrap()
}

fn any() -> Acl {
    Acl::parse(&["127.0.0.0/8"]).unwrap()
}

fn key_set(recs: &[Record]) -> HashSet<String> {
    recs.iter().map(|r| r.to_string().to_lowercase()).collect()
}

/// Runs the server for `req` and feeds every message into `consumer`.
fn run(
    req: &Message,
    z: Arc<Zone>,
    t: Transport,
    history: Option<Vec<Changeset>>,
    opts: XfrOptions,
    consumer: &mut XfrConsumer,
) -> (Vec<Vec<u8>>, Result<XfrOutcome, XfrError>) {
    let wire = req.to_vec().unwrap();
    let req = Message::from_vec(&wire).unwrap();
    let msgs: Vec<Vec<u8>> = server::respond(&req, src(), &any(), Some(z), t, |_| history, opts)
        .map(|m| m.unwrap())
        .collect();
    let mut out = None;
    for m in &msgs {
        match consumer.feed(m) {
            Ok(Progress::More) => {}
            Ok(Progress::Done(o)) => out = Some(Ok(o)),
            Err(e) => return (msgs, Err(e)),
        }
    }
    let res = out.unwrap_or_else(|| consumer.end_of_stream());
    (msgs, res)
}

#[test]
fn axfr_streams_in_bounded_messages_and_round_trips() {
    let z = zone(42, 0..5000);
    for size in [server::DEFAULT_MESSAGE_SIZE, 65535] {
        let req = client::axfr_request(&origin(), 77);
        let mut c = XfrConsumer::axfr(origin(), 77);
        let opts = XfrOptions {
            message_size: size,
            ..Default::default()
        };
        let (msgs, out) = run(&req, z.clone(), Transport::Tcp, None, opts, &mut c);
        assert!(msgs.len() > 1, "5000 records need several messages");
        for (i, m) in msgs.iter().enumerate() {
            assert!(m.len() <= size, "message {i} is {} bytes", m.len());
            let msg = Message::from_vec(m).unwrap();
            assert_eq!(
                msg.queries.len(),
                usize::from(i == 0),
                "question only first"
            );
            assert!(msg.authoritative);
            assert_eq!(msg.id, 77);
        }
        // Messages are filled: all but the last are at least 3/4 full.
        for m in &msgs[..msgs.len() - 1] {
            assert!(m.len() > size * 3 / 4, "{} of {size}", m.len());
        }
        let first = Message::from_vec(&msgs[0]).unwrap();
        let last = Message::from_vec(msgs.last().unwrap()).unwrap();
        assert_eq!(super::soa_serial(&first.answers[0]), Some(42));
        assert_eq!(super::soa_serial(last.answers.last().unwrap()), Some(42));
        let Ok(XfrOutcome::Full { serial, records }) = out else {
            panic!("{out:?}")
        };
        assert_eq!(serial, 42);
        assert_eq!(records.len(), z.record_count());
        assert_eq!(key_set(&records), key_set(&z.records_canonical()));
        // Name compression: 5000 A records at ~16 bytes each plus owner suffix pointers.
        let total: usize = msgs.iter().map(Vec::len).sum();
        // Knot sends this zone in 109,305 bytes; uncompressed it would be ~165,000.
        assert!(total < 5002 * 23, "{total} bytes: names are not compressed");
    }
}

#[test]
fn axfr_serves_one_snapshot_even_if_an_edit_lands() {
    let handle = ZoneHandle::new(origin(), Some(zone(1, 0..3000)));
    let snapshot = handle.current().unwrap();
    let req = client::axfr_request(&origin(), 5);
    let req = Message::from_vec(&req.to_vec().unwrap()).unwrap();
    let mut stream = server::respond(
        &req,
        src(),
        &any(),
        Some(snapshot),
        Transport::Tcp,
        |_| None,
        XfrOptions::default(),
    );
    let mut c = XfrConsumer::axfr(origin(), 5);
    let first = stream.next().unwrap().unwrap();
    assert_eq!(c.feed(&first).unwrap(), Progress::More);
    handle.publish(zone(2, 5000..9000));
    let mut out = None;
    for m in stream {
        if let Progress::Done(o) = c.feed(&m.unwrap()).unwrap() {
            out = Some(o);
        }
    }
    let Some(XfrOutcome::Full { serial, records }) = out else {
        panic!()
    };
    assert_eq!(serial, 1);
    assert_eq!(key_set(&records), key_set(&zone_records(1, 0..3000)));
}

#[test]
fn ixfr_per_step_and_condensed() {
    let z = zone(3, 1..101);
    let steps = vec![cs(1, 2, vec![a(0)], vec![a(100)]), cs(2, 3, vec![], vec![])];
    let condensed = vec![cs(1, 3, vec![a(0)], vec![a(100)])];
    for history in [steps, condensed] {
        let req = client::ixfr_request(&origin(), 9, soa(1));
        let mut c = XfrConsumer::ixfr(origin(), 9, 1);
        let (msgs, out) = run(
            &req,
            z.clone(),
            Transport::Tcp,
            Some(history.clone()),
            XfrOptions::default(),
            &mut c,
        );
        assert_eq!(msgs.len(), 1);
        assert_eq!(
            out.unwrap(),
            XfrOutcome::Incremental {
                serial: 3,
                changesets: history
            }
        );
    }
}

#[test]
fn ixfr_falls_back_to_axfr_style() {
    let z = zone(3, 0..10);
    let huge = cs(1, 3, (20..40).map(a).collect(), (40..60).map(a).collect());
    let gap = vec![cs(1, 2, vec![], vec![]), cs(5, 3, vec![], vec![])];
    assert_eq!(server::plan_ixfr(&z, 1, None), IxfrPlan::Full);
    assert_eq!(
        server::plan_ixfr(&z, 1, Some(vec![huge.clone()])),
        IxfrPlan::Full
    );
    assert_eq!(server::plan_ixfr(&z, 1, Some(gap.clone())), IxfrPlan::Full);
    assert_eq!(server::plan_ixfr(&z, 3, None), IxfrPlan::UpToDate);
    assert_eq!(server::plan_ixfr(&z, 4, None), IxfrPlan::UpToDate);
    for history in [None, Some(vec![huge]), Some(gap)] {
        let req = client::ixfr_request(&origin(), 9, soa(1));
        let mut c = XfrConsumer::ixfr(origin(), 9, 1);
        let (_, out) = run(
            &req,
            z.clone(),
            Transport::Tcp,
            history,
            XfrOptions::default(),
            &mut c,
        );
        let Ok(XfrOutcome::Full { serial: 3, records }) = out else {
            panic!("{out:?}")
        };
        assert_eq!(key_set(&records), key_set(&zone_records(3, 0..10)));
    }
}

#[test]
fn ixfr_up_to_date_and_udp() {
    let z = zone(3, 0..10);
    // Current client, TCP and UDP: the single SOA.
    for t in [Transport::Tcp, Transport::Udp] {
        for ours in [3, 4] {
            let req = client::ixfr_request(&origin(), 1, soa(ours));
            let mut c = XfrConsumer::ixfr(origin(), 1, ours);
            let (msgs, out) = run(&req, z.clone(), t, None, XfrOptions::default(), &mut c);
            assert_eq!(msgs.len(), 1);
            assert_eq!(Message::from_vec(&msgs[0]).unwrap().answers.len(), 1);
            assert_eq!(out.unwrap(), XfrOutcome::UpToDate { serial: 3 });
        }
    }
    // Behind over UDP: TC, and the client knows to use TCP.
    let req = client::ixfr_request(&origin(), 1, soa(1));
    let mut c = XfrConsumer::ixfr(origin(), 1, 1);
    let (msgs, out) = run(
        &req,
        z.clone(),
        Transport::Udp,
        None,
        XfrOptions::default(),
        &mut c,
    );
    let m = Message::from_vec(&msgs[0]).unwrap();
    assert!(m.truncation && m.answers.is_empty() && m.queries.len() == 1);
    assert_eq!(out, Err(XfrError::Truncated));
    // AXFR over UDP is not implemented (as Knot answers).
    let req = client::axfr_request(&origin(), 2);
    let mut c = XfrConsumer::axfr(origin(), 2);
    let (_, out) = run(&req, z, Transport::Udp, None, XfrOptions::default(), &mut c);
    assert_eq!(out, Err(XfrError::Rcode(ResponseCode::NotImp)));
}

#[test]
fn acl_zone_and_shape_rejections() {
    let z = zone(3, 0..10);
    let rcode = |req: &Message, acl: &Acl, z: Option<Arc<Zone>>| {
        let req = Message::from_vec(&req.to_vec().unwrap()).unwrap();
        let msgs: Vec<_> = server::respond(
            &req,
            src(),
            acl,
            z,
            Transport::Tcp,
            |_| None,
            XfrOptions::default(),
        )
        .collect();
        assert_eq!(msgs.len(), 1);
        Message::from_vec(msgs[0].as_ref().unwrap())
            .unwrap()
            .response_code
    };
    let axfr = client::axfr_request(&origin(), 3);
    assert_eq!(
        rcode(&axfr, &Acl::none(), Some(z.clone())),
        ResponseCode::Refused
    );
    assert_eq!(
        rcode(
            &axfr,
            &Acl::parse(&["192.0.2.0/24"]).unwrap(),
            Some(z.clone())
        ),
        ResponseCode::Refused
    );
    assert_eq!(rcode(&axfr, &any(), None), ResponseCode::ServFail);
    let other = client::axfr_request(&n("other.test."), 3);
    assert_eq!(
        rcode(&other, &any(), Some(z.clone())),
        ResponseCode::NotAuth
    );
    let mut no_soa = client::ixfr_request(&origin(), 3, soa(1));
    no_soa.authorities.clear();
    assert_eq!(rcode(&no_soa, &any(), Some(z)), ResponseCode::FormErr);
}

fn response(id: u16, records: Vec<Record>) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Response, OpCode::Query);
    m.add_query(hickory_proto::op::Query::query(
        origin(),
        hickory_proto::rr::RecordType::IXFR,
    ));
    m.add_answers(records);
    m.to_vec().unwrap()
}

#[test]
fn broken_streams_are_classified() {
    let feed_all = |c: &mut XfrConsumer, msgs: &[Vec<u8>]| -> Result<XfrOutcome, XfrError> {
        for m in msgs {
            if let Progress::Done(o) = c.feed(m)? {
                return Ok(o);
            }
        }
        c.end_of_stream()
    };
    // Missing final SOA.
    let mut c = XfrConsumer::ixfr(origin(), 1, 1);
    let e = feed_all(&mut c, &[response(1, vec![soa(2), a(1)])]).unwrap_err();
    assert_eq!(e, XfrError::Incomplete);
    assert!(e.fallback_to_axfr());
    // History from a serial we do not have.
    let mut c = XfrConsumer::ixfr(origin(), 1, 1);
    let e = feed_all(&mut c, &[response(1, vec![soa(3), soa(2), soa(3), soa(3)])]);
    assert_eq!(e, Err(XfrError::Inconsistent { got: 2, want: 1 }));
    // A changeset chain with a gap.
    let mut c = XfrConsumer::ixfr(origin(), 1, 1);
    let e = feed_all(
        &mut c,
        &[response(
            1,
            vec![soa(4), soa(1), soa(2), soa(3), soa(4), soa(4)],
        )],
    );
    assert_eq!(e, Err(XfrError::Inconsistent { got: 3, want: 2 }));
    // Records after the end, in the same or a later message.
    let mut c = XfrConsumer::ixfr(origin(), 1, 1);
    let e = feed_all(&mut c, &[response(1, vec![soa(2), a(1), soa(2), a(2)])]);
    assert_eq!(e, Err(XfrError::TrailingRecords));
    // Wrong ID, first record not SOA, out-of-zone record, REFUSED.
    let mut c = XfrConsumer::ixfr(origin(), 1, 1);
    assert!(matches!(
        c.feed(&response(2, vec![soa(2)])),
        Err(XfrError::IdMismatch { .. })
    ));
    let mut c = XfrConsumer::ixfr(origin(), 1, 1);
    assert_eq!(c.feed(&response(1, vec![a(1)])), Err(XfrError::NotSoa));
    let mut c = XfrConsumer::ixfr(origin(), 1, 1);
    let stray = Record::from_rdata(
        n("x.other.test."),
        1,
        RData::TXT(TXT::new(vec!["x".into()])),
    );
    assert!(matches!(
        c.feed(&response(1, vec![soa(2), stray])),
        Err(XfrError::OutOfZone(_))
    ));
    let mut refused = Message::from_vec(&response(1, vec![])).unwrap();
    refused.metadata.response_code = ResponseCode::Refused;
    let mut c = XfrConsumer::ixfr(origin(), 1, 1);
    let e = c.feed(&refused.to_vec().unwrap()).unwrap_err();
    assert_eq!(e, XfrError::Rcode(ResponseCode::Refused));
    assert!(e.fallback_to_axfr());
    assert!(!XfrError::Rcode(ResponseCode::NotAuth).fallback_to_axfr());
    // A single newer SOA over TCP: the server will not do IXFR from our serial.
    let mut c = XfrConsumer::ixfr(origin(), 1, 1);
    let e = c.feed(&response(1, vec![soa(2)])).unwrap_err();
    assert_eq!(e, XfrError::SoaOnly(2));
    assert!(e.fallback_to_axfr());
    // A garbage message.
    let mut c = XfrConsumer::axfr(origin(), 1);
    assert!(matches!(c.feed(&[1, 2, 3]), Err(XfrError::Decode(_))));
}

#[test]
fn soa_query_and_answer() {
    let q = client::soa_query(&origin(), 11);
    let q = Message::from_vec(&q.to_vec().unwrap()).unwrap();
    assert_eq!(
        super::expire::parse(q.edns.as_ref().unwrap()),
        Some(super::expire::ExpireOption::Requested)
    );
    let mut r = Message::new(11, MessageType::Response, OpCode::Query);
    r.queries = q.queries.clone();
    r.add_answer(soa(9));
    let mut e = hickory_proto::op::Edns::new();
    super::expire::set(&mut e, super::expire::value_option(500));
    r.set_edns(e);
    let r = Message::from_vec(&r.to_vec().unwrap()).unwrap();
    assert_eq!(
        client::parse_soa_answer(&origin(), 11, &r).unwrap(),
        client::SoaAnswer {
            serial: 9,
            expire: Some(500)
        }
    );
    assert!(client::parse_soa_answer(&origin(), 12, &r).is_err());
}

#[test]
fn tsig_signed_axfr_round_trip() {
    let key = TsigKey::new("xfr.", "hmac-sha256", "c2VjcmV0c2VjcmV0c2VjcmV0").unwrap();
    let z = zone(7, 0..3000);
    let now = 1_700_000_000;
    let req = client::axfr_request(&origin(), 21);
    let (wire, mac) = tsig::sign_request(&req.to_vec().unwrap(), &key, now).unwrap();
    let RequestAuth::Verified { key: k, mac: seen } =
        tsig::verify_request(&wire, &Keyring::new(vec![key.clone()]), now + 3)
    else {
        panic!()
    };
    let opts = XfrOptions {
        signer: Some(ResponseSigner::new(k, seen)),
        now: now + 3,
        ..Default::default()
    };
    let req = Message::from_vec(&wire).unwrap();
    let msgs: Vec<Vec<u8>> = server::respond(
        &req,
        src(),
        &any(),
        Some(z.clone()),
        Transport::Tcp,
        |_| None,
        opts,
    )
    .map(|m| m.unwrap())
    .collect();
    assert!(msgs.len() > 1);
    assert!(msgs.iter().all(|m| m.len() <= server::DEFAULT_MESSAGE_SIZE));
    let mut c = XfrConsumer::axfr(origin(), 21)
        .with_tsig(ResponseVerifier::new(key.clone(), mac.clone()), now);
    let mut done = None;
    for m in &msgs {
        if let Progress::Done(o) = c.feed(m).unwrap() {
            done = Some(o);
        }
    }
    assert!(matches!(done, Some(XfrOutcome::Full { serial: 7, .. })));
    // With the wrong request MAC the first message fails.
    let mut c =
        XfrConsumer::axfr(origin(), 21).with_tsig(ResponseVerifier::new(key, vec![0; 32]), now);
    assert!(matches!(c.feed(&msgs[0]), Err(XfrError::Tsig(_))));
}

#[test]
fn large_ixfr_spans_messages_and_round_trips() {
    let z = zone(2, 1500..6000);
    let history = vec![cs(
        1,
        2,
        (0..1500).map(a).collect(),
        (4500..6000).map(a).collect(),
    )];
    assert!(matches!(
        server::plan_ixfr(&z, 1, Some(history.clone())),
        IxfrPlan::Incremental(_)
    ));
    let req = client::ixfr_request(&origin(), 4, soa(1));
    let mut c = XfrConsumer::ixfr(origin(), 4, 1);
    let (msgs, out) = run(
        &req,
        z,
        Transport::Tcp,
        Some(history.clone()),
        XfrOptions::default(),
        &mut c,
    );
    assert!(msgs.len() > 2);
    assert_eq!(
        out.unwrap(),
        XfrOutcome::Incremental {
            serial: 2,
            changesets: history
        }
    );
}

#[test]
fn a_record_limit_stops_a_runaway_transfer() {
    let z = zone(2, 0..3000);
    let req = client::axfr_request(&origin(), 4);
    let mut c = XfrConsumer::axfr(origin(), 4).with_max_records(1000);
    let (_, out) = run(&req, z, Transport::Tcp, None, XfrOptions::default(), &mut c);
    assert_eq!(out, Err(XfrError::TooLarge(1000)));
}

#[test]
fn an_unsigned_error_answer_reports_its_rcode_under_tsig() {
    let key = TsigKey::new("xfr.", "hmac-sha256", "c2VjcmV0c2VjcmV0c2VjcmV0").unwrap();
    let mut m = Message::from_vec(&response(4, vec![])).unwrap();
    m.metadata.response_code = ResponseCode::NotAuth;
    let mut c =
        XfrConsumer::ixfr(origin(), 4, 1).with_tsig(ResponseVerifier::new(key, vec![1; 32]), 0);
    let e = c.feed(&m.to_vec().unwrap()).unwrap_err();
    assert_eq!(e, XfrError::Rcode(ResponseCode::NotAuth));
    assert!(!e.fallback_to_axfr());
}

#[test]
fn state_machines_can_move_between_tasks() {
    fn send<T: Send + 'static>() {}
    send::<XfrStream>();
    send::<XfrConsumer>();
    send::<crate::secondary::Secondary>();
    send::<crate::notify::NotifySender>();
}
