//! Transfer encoding and decoding speed, and IXFR size, on a 1,000,000-record zone.
//!
//! `cargo bench --bench xfr` (optionally `-- RECORDS`). Prints medians of 3 runs; no
//! network, so this measures the sans-IO code alone: the server's message stream and the
//! client's parsing, as a secondary would see them.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::{A, NS, SOA};
use hickory_proto::rr::{Name, RData, Record};
use zonecast::xfr::acl::Acl;
use zonecast::xfr::client::{self, Progress, XfrConsumer};
use zonecast::xfr::server::{self, Transport, XfrOptions};
use zonecast::zone::Zone;
use zonecast::zone::diff::Changeset;

#[path = "common/axfr.rs"]
mod axfr;

fn n(s: &str) -> Name {
    Name::from_str(s).expect("static name")
}

fn soa(serial: u32) -> Record {
    Record::from_rdata(
        n("example.test."),
        300,
        RData::SOA(SOA::new(
            n("ns1.example.test."),
            n("host.example.test."),
            serial,
            7200,
            900,
            1209600,
            300,
        )),
    )
}

fn host(i: u32) -> Record {
    Record::from_rdata(
        n(&format!("host{i}.example.test.")),
        300,
        RData::A(A::from(std::net::Ipv4Addr::from(i))),
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let count: u32 = std::env::args()
        .filter_map(|a| a.parse().ok())
        .next()
        .unwrap_or(1_000_000);
    let mut recs = vec![
        soa(2),
        Record::from_rdata(
            n("example.test."),
            300,
            RData::NS(NS(n("ns1.example.test."))),
        ),
    ];
    recs.extend((0..count).map(host));
    let zone = Arc::new(Zone::from_records(n("example.test."), recs).expect("zone"));
    let acl = Acl::parse(&["127.0.0.1"]).expect("acl");
    let src = "127.0.0.1".parse().expect("ip");
    let wire = |m: Message| Message::from_vec(&m.to_vec().expect("encode")).expect("decode");

    let (mut enc, mut dec) = (Vec::new(), Vec::new());
    let (mut msgs_n, mut bytes) = (0, 0);
    for _ in 0..3 {
        let t = Instant::now();
        let msgs = axfr::messages(&zone);
        enc.push(t.elapsed());
        msgs_n = msgs.len();
        bytes = msgs.iter().map(Vec::len).sum::<usize>();
        let t = Instant::now();
        let mut c = XfrConsumer::axfr(n("example.test."), 1);
        let mut done = false;
        for m in &msgs {
            done |= matches!(c.feed(m).expect("valid stream"), Progress::Done(_));
        }
        assert!(done);
        dec.push(t.elapsed());
    }
    println!(
        "AXFR {} records: encode {:?}, decode {:?} (medians of 3), {msgs_n} messages, {bytes} bytes",
        zone.record_count(),
        median(enc),
        median(dec)
    );

    let change = vec![Changeset {
        from_serial: 1,
        to_serial: 2,
        removed: vec![soa(1), host(count)],
        added: vec![soa(2), host(0)],
    }];
    let req = wire(client::ixfr_request(&n("example.test."), 2, soa(1)));
    let t = Instant::now();
    let msgs: Vec<Vec<u8>> = server::respond(
        &req,
        src,
        &acl,
        Some(zone.clone()),
        Transport::Tcp,
        |_| Some(change),
        XfrOptions::default(),
    )
    .map(|m| m.expect("message"))
    .collect();
    let took = t.elapsed();
    let size: usize = msgs.iter().map(|m| m.len() + 2).sum();
    println!(
        "IXFR one-record change: {} message(s), {size} bytes on the wire (TCP framing included), built in {took:?}",
        msgs.len()
    );
}
