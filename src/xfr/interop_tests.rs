//! Our transfer client against streams captured from real peers (see the READMEs under
//! tests/data).

use std::str::FromStr;

use hickory_proto::op::Message;
use hickory_proto::rr::Name;

use super::client::{Progress, XfrConsumer, XfrError, XfrOutcome};
use crate::tsig::{self, Keyring, RequestAuth, ResponseVerifier, TsigKey};
use crate::zone::Zone;

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn origin() -> Name {
    n("example.test.")
}

fn tcp_messages(mut s: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while s.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([s[0], s[1]]));
        let (m, rest) = s[2..].split_at(len);
        out.push(m);
        s = rest;
    }
    out
}

fn consume(c: &mut XfrConsumer, stream: &[u8]) -> Result<XfrOutcome, XfrError> {
    for m in tcp_messages(stream) {
        if let Progress::Done(o) = c.feed(m)? {
            return Ok(o);
        }
    }
    c.end_of_stream()
}

#[test]
fn consumes_knot_ixfr_answers() {
    // See tests/data/xfr/README.md.
    let steps = include_bytes!("../../tests/data/xfr/knot_ixfr_10_to_12.tcp");
    let out = consume(&mut XfrConsumer::ixfr(origin(), 0x4242, 10), steps).unwrap();
    let XfrOutcome::Incremental { serial, changesets } = out else {
        panic!("{out:?}")
    };
    assert_eq!(serial, 12);
    let shape: Vec<_> = changesets
        .iter()
        .map(|c| (c.from_serial, c.to_serial, c.removed.len(), c.added.len()))
        .collect();
    assert_eq!(shape, vec![(10, 11, 1, 2), (11, 12, 2, 2)]);
    assert_eq!(changesets[1].removed[1].name, n("h3.example.test."));

    let current = include_bytes!("../../tests/data/xfr/knot_ixfr_current.tcp");
    let out = consume(&mut XfrConsumer::ixfr(origin(), 0x4242, 12), current);
    assert_eq!(out, Ok(XfrOutcome::UpToDate { serial: 12 }));

    let full = include_bytes!("../../tests/data/xfr/knot_ixfr_no_history.tcp");
    let out = consume(&mut XfrConsumer::ixfr(origin(), 0x4242, 5), full).unwrap();
    let XfrOutcome::Full { serial, records } = out else {
        panic!("{out:?}")
    };
    assert_eq!(serial, 12);
    assert_eq!(records.len(), 3 + 50 - 1 + 2);
}

#[test]
fn consumes_a_signed_multi_message_axfr_from_knot() {
    // See tests/data/tsig/README.md for how these were captured.
    let req: &[u8] = include_bytes!("../../tests/data/tsig/kdig_axfr_request.bin");
    let stream: &[u8] = include_bytes!("../../tests/data/tsig/knot_axfr_response.tcp");
    let key = TsigKey::new(
        "xfr-key",
        "hmac-sha256",
        "eb4m74KStsFe/HqPwwRldgxCli7IxB579/DQyW9kih4=",
    )
    .unwrap();
    let now = 1795243500;
    let RequestAuth::Verified { mac, .. } =
        tsig::verify_request(req, &Keyring::new(vec![key.clone()]), now)
    else {
        panic!("kdig request does not verify")
    };
    let id = Message::from_vec(req).unwrap().id;
    let mut c = XfrConsumer::axfr(origin(), id).with_tsig(ResponseVerifier::new(key, mac), now);
    let mut done = None;
    for msg in tcp_messages(stream) {
        if let Progress::Done(o) = c.feed(msg).unwrap() {
            done = Some(o);
        }
    }
    let Some(XfrOutcome::Full { serial, records }) = done else {
        panic!("Knot's AXFR did not complete")
    };
    assert_eq!(serial, 10);
    assert_eq!(records.len(), 1503, "SOA, NS, ns1 A and 1500 hosts");
    assert_eq!(c.messages(), 2);
    let z = Zone::from_records(origin(), records).unwrap();
    assert_eq!(z.record_count(), 1503);
}
