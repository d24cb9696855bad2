use super::*;
use crate::zone::diff::tests::{n, soa};
use hickory_proto::rr::rdata::{A, AAAA, NS};
use std::str::FromStr;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ids() -> impl FnMut() -> u16 {
    let mut next = 100u16;
    move || {
        next += 1;
        next
    }
}

fn ack(t: &Transmit, rcode: ResponseCode) -> Message {
    let mut m = Message::new(t.message.id, MessageType::Response, OpCode::Notify);
    m.metadata.authoritative = true;
    m.metadata.response_code = rcode;
    m.queries = t.message.queries.clone();
    m
}

#[test]
fn targets_are_ns_addresses_minus_mname_and_self_plus_also_notify() {
    let origin = n("example.test.");
    let rec = |name: &str, rd: RData| Record::from_rdata(n(name), 300, rd);
    let zone = Zone::from_records(
        origin.clone(),
        vec![
            soa(1),
            rec("example.test.", RData::NS(NS(n("ns1.example.test.")))),
            rec("example.test.", RData::NS(NS(n("ns2.example.test.")))),
            rec("example.test.", RData::NS(NS(n("ns3.example.test.")))),
            rec("example.test.", RData::NS(NS(n("ns.elsewhere.test.")))),
            rec("ns1.example.test.", RData::A(A::new(192, 0, 2, 1))),
            rec("ns2.example.test.", RData::A(A::new(192, 0, 2, 2))),
            rec(
                "ns2.example.test.",
                RData::AAAA(AAAA::from_str("2001:db8::2").unwrap()),
            ),
            rec("ns3.example.test.", RData::A(A::new(192, 0, 2, 3))),
        ],
    )
    .unwrap();
    let own = ["192.0.2.3".parse().unwrap()];
    let (targets, unresolved) = notify_targets(
        &zone,
        &own,
        &[sa("198.51.100.7:5300"), sa("192.0.2.2:53")],
        53,
        &|_| Vec::new(),
    );
    assert_eq!(
        targets,
        vec![
            sa("192.0.2.2:53"),
            sa("[2001:db8::2]:53"),
            sa("198.51.100.7:5300")
        ]
    );
    assert_eq!(unresolved, vec![n("ns.elsewhere.test.")]);
}

#[test]
fn out_of_zone_ns_addresses_come_from_the_other_zones_served() {
    let rec = |name: &str, rd: RData| Record::from_rdata(n(name), 300, rd);
    let zone = Zone::from_records(
        n("example.test."),
        vec![
            soa(1),
            rec("example.test.", RData::NS(NS(n("ns.dns.other.test.")))),
            rec("example.test.", RData::NS(NS(n("ns.nowhere.test.")))),
            rec("example.test.", RData::NS(NS(n("ns.self.test.")))),
        ],
    )
    .unwrap();
    let own: [IpAddr; 1] = ["192.0.2.9".parse().unwrap()];
    let elsewhere = |name: &LowerName| -> Vec<IpAddr> {
        match name.to_string().as_str() {
            "ns.dns.other.test." => vec!["192.0.2.5".parse().unwrap()],
            "ns.self.test." => vec!["192.0.2.9".parse().unwrap()],
            _ => Vec::new(),
        }
    };
    let (targets, unresolved) = notify_targets(&zone, &own, &[], 53, &elsewhere);
    // Our own address is left out even when found elsewhere; a name found nowhere is
    // reported, not guessed.
    assert_eq!(targets, vec![sa("192.0.2.5:53")]);
    assert_eq!(unresolved, vec![n("ns.nowhere.test.")]);
}

#[test]
fn sends_at_once_and_backs_off_until_acknowledged() {
    let t0 = Instant::now();
    let mut s = NotifySender::new(n("example.test."), NotifyConfig::default());
    let mut id = ids();
    s.new_version(
        t0,
        soa(5),
        &[sa("127.0.0.2:53"), sa("127.0.0.3:53")],
        &mut id,
    );
    let a = s.poll_transmit(t0).unwrap();
    let b = s.poll_transmit(t0).unwrap();
    assert!(s.poll_transmit(t0).is_none());
    assert_eq!((a.dest, a.attempt), (sa("127.0.0.2:53"), 1));
    assert_eq!(b.dest, sa("127.0.0.3:53"));
    assert_eq!(a.message.op_code, OpCode::Notify);
    assert!(a.message.authoritative);
    assert_eq!(soa_serial(&a.message.answers[0]), Some(5));
    assert_eq!(s.next_wakeup(), Some(t0 + Duration::from_secs(1)));

    // The first target answers; a reply from the wrong address or ID is not a match.
    assert!(!s.on_response(sa("127.0.0.9:53"), &ack(&a, ResponseCode::NoError)));
    let mut wrong = ack(&a, ResponseCode::NoError);
    wrong.metadata.id = a.message.id.wrapping_add(1);
    assert!(!s.on_response(a.dest, &wrong));
    assert!(s.on_response(a.dest, &ack(&a, ResponseCode::NoError)));

    // The second one never answers: 1, 2, 4, 8 s apart, 5 sends, then it gives up.
    let mut at = t0;
    let mut sends = vec![];
    while let Some(next) = s.next_wakeup() {
        at = next;
        while let Some(t) = s.poll_transmit(at) {
            assert_eq!(t.dest, b.dest);
            assert_eq!(t.message.id, b.message.id, "retransmissions keep the ID");
            sends.push((at - t0).as_secs());
        }
    }
    assert_eq!(sends, vec![1, 3, 7, 15]);
    assert_eq!((at - t0).as_secs(), 31);
    assert!(s.is_idle());
    let states: Vec<_> = s.states().map(|(_, st)| st).collect();
    assert_eq!(states, vec![TargetState::Acknowledged, TargetState::GaveUp]);
}

#[test]
fn a_newer_serial_supersedes_and_errors_stop_retries() {
    let t0 = Instant::now();
    let cfg = NotifyConfig {
        delay: Duration::from_millis(100),
        ..Default::default()
    };
    let mut s = NotifySender::new(n("example.test."), cfg);
    let mut id = ids();
    s.new_version(t0, soa(5), &[sa("127.0.0.2:53")], &mut id);
    assert!(s.poll_transmit(t0).is_none(), "notify-delay");
    let old = s.poll_transmit(t0 + Duration::from_millis(100)).unwrap();
    s.new_version(
        t0 + Duration::from_millis(150),
        soa(6),
        &[sa("127.0.0.2:53")],
        &mut id,
    );
    // The answer to the old NOTIFY does not acknowledge the new one.
    assert!(!s.on_response(old.dest, &ack(&old, ResponseCode::NoError)));
    let new = s.poll_transmit(t0 + Duration::from_millis(250)).unwrap();
    assert_eq!(soa_serial(&new.message.answers[0]), Some(6));
    assert_eq!(new.attempt, 1);
    assert_eq!(s.serial(), Some(6));
    assert!(s.on_response(new.dest, &ack(&new, ResponseCode::Refused)));
    assert!(s.is_idle());
    assert_eq!(
        s.states().next().map(|x| x.1),
        Some(TargetState::Rejected(ResponseCode::Refused))
    );
}

#[test]
fn receiving_checks_primaries_and_echoes_the_question() {
    let primaries = Acl::parse(&["192.0.2.1"]).unwrap();
    let req = notify_message(&n("example.test."), 77, Some(&soa(9)));
    let req = Message::from_vec(&req.to_vec().unwrap()).unwrap();
    let (resp, ev) = handle_notify(&req, "192.0.2.1".parse().unwrap(), Some(&primaries));
    assert_eq!(resp.id, 77);
    assert_eq!(resp.op_code, OpCode::Notify);
    assert_eq!(resp.message_type, MessageType::Response);
    assert!(resp.authoritative);
    assert_eq!(resp.response_code, ResponseCode::NoError);
    assert_eq!(resp.queries, req.queries);
    assert_eq!(
        ev,
        Some(NotifyEvent {
            zone: n("example.test."),
            from: "192.0.2.1".parse().unwrap(),
            serial: Some(9)
        })
    );
    let (resp, ev) = handle_notify(&req, "192.0.2.66".parse().unwrap(), Some(&primaries));
    assert_eq!((resp.response_code, ev), (ResponseCode::Refused, None));
    let (resp, ev) = handle_notify(&req, "192.0.2.1".parse().unwrap(), None);
    assert_eq!((resp.response_code, ev), (ResponseCode::NotAuth, None));
    let mut bad = req.clone();
    bad.queries.clear();
    let (resp, _) = handle_notify(&bad, "192.0.2.1".parse().unwrap(), Some(&primaries));
    assert_eq!(resp.response_code, ResponseCode::FormErr);
    // Without an SOA in the answer section the event has no serial.
    let bare = notify_message(&n("example.test."), 78, None);
    let (_, ev) = handle_notify(&bare, "192.0.2.1".parse().unwrap(), Some(&primaries));
    assert_eq!(ev.unwrap().serial, None);
}
