//! The request path without sockets: parse, engine, encode, per query. Prints ns per
//! query for a few query shapes so transport changes can be judged apart from the
//! kernel's share. Run with `cargo bench --bench handler`.

use std::hint::black_box;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::rdata::{A, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use zonecast::catalog::{Catalog, ZoneHandle};
use zonecast::server::{Handler, HandlerConfig, RequestInfo, Transport};
use zonecast::zone::Zone;

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn main() {
    let mut recs = vec![
        Record::from_rdata(
            n("example.test."),
            3600,
            RData::SOA(SOA::new(
                n("ns1.example.test."),
                n("host.example.test."),
                1,
                7200,
                900,
                1209600,
                300,
            )),
        ),
        Record::from_rdata(
            n("example.test."),
            3600,
            RData::NS(NS(n("ns1.example.test."))),
        ),
        Record::from_rdata(n("ns1.example.test."), 3600, RData::A(A::new(192, 0, 2, 1))),
    ];
    for i in 0..10_000u32 {
        recs.push(Record::from_rdata(
            n(&format!("host{i}.example.test.")),
            300,
            RData::A(A::from(std::net::Ipv4Addr::from(0xc000_0200 + i))),
        ));
    }
    let mut catalog = Catalog::new();
    catalog.insert(Arc::new(ZoneHandle::new(
        n("example.test."),
        Some(Arc::new(
            Zone::from_records(n("example.test."), recs).unwrap(),
        )),
    )));
    let catalog = Arc::new(ArcSwap::from_pointee(catalog));
    let cached = Handler::new(catalog.clone(), HandlerConfig::default());
    let uncached = Handler::new(
        catalog,
        HandlerConfig {
            answer_cache: false,
            ..HandlerConfig::default()
        },
    );
    let info = RequestInfo {
        transport: Transport::Udp,
        peer: "127.0.0.1:53000".parse().unwrap(),
    };
    for (label, name, edns, handler) in [
        ("positive A", "host42.example.test.", false, &uncached),
        ("positive A, EDNS", "host42.example.test.", true, &uncached),
        ("NXDOMAIN", "nothere.example.test.", false, &uncached),
        ("positive A, cached", "host42.example.test.", false, &cached),
        (
            "positive A, EDNS, c.",
            "host42.example.test.",
            true,
            &cached,
        ),
        ("NXDOMAIN, cached", "nothere.example.test.", false, &cached),
    ] {
        // ZC_BENCH_SET=cached or uncached runs one half (to count instructions apart).
        let cached_run = std::ptr::eq(handler, &cached);
        match std::env::var("ZC_BENCH_SET").as_deref() {
            Ok("cached") if !cached_run => continue,
            Ok("uncached") if cached_run => continue,
            _ => {}
        }
        let mut q = Message::query();
        q.add_query(Query::query(n(name), RecordType::A));
        if edns {
            q.set_edns(hickory_proto::op::Edns::new());
        }
        let wire = q.to_vec().unwrap();
        let mut out = Vec::with_capacity(1232);
        // Fewer rounds under callgrind: ZC_BENCH_ROUNDS=20000.
        let rounds: u32 = std::env::var("ZC_BENCH_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300_000);
        let start = Instant::now();
        for _ in 0..rounds {
            black_box(handler.handle(black_box(&wire), &info, &mut out));
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(rounds);
        println!("{label:20} {ns:8.0} ns/query ({} bytes)", out.len());
    }
}
