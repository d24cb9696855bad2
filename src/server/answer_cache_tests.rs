//! The cached reply path must write the bytes the engine and encoder write, whatever the
//! query's case, EDNS size and options, on every branch of the engine.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RecordType};

use crate::catalog::{Catalog, ZoneHandle};
use crate::engine;
use crate::server::handler::{Handler, HandlerConfig, RequestInfo, Response, Transport};
use crate::server::request;
use crate::zone::load::load_zone_str;

const ZONE: &str = "\
$TTL 3600
@ SOA ns1 hostmaster 7 7200 900 1209600 300
@ NS ns1
@ NS ns2.other.test.
@ MX 10 mail
ns1 A 192.0.2.53
ns1 AAAA 2001:db8::53
mail A 192.0.2.25
www A 192.0.2.80
www AAAA 2001:db8::80
big TXT \"0123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"1123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"2123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"3123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"4123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"5123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"6123456789012345678901234567890123456789012345678901234567890123456789\"
big TXT \"7123456789012345678901234567890123456789012345678901234567890123456789\"
*.wild A 192.0.2.99
*.wild MX 10 mail
c1 CNAME c2
c2 CNAME www
tonx CNAME nothere
child NS ns.child
child NS ns.other.test.
ns.child A 192.0.2.10
a.b.c TXT deep
dn DNAME www.example.test.
_sip._tcp SRV 0 5 5060 www
fat NS a.fat
fat NS b.fat
manymx MX 10 host-number-00.a-long-label-to-fill-the-message
manymx MX 10 host-number-01.a-long-label-to-fill-the-message
manymx MX 10 host-number-02.a-long-label-to-fill-the-message
manymx MX 10 host-number-03.a-long-label-to-fill-the-message
manymx MX 10 host-number-04.a-long-label-to-fill-the-message
manymx MX 10 host-number-05.a-long-label-to-fill-the-message
";

/// ZONE plus records too many to write out: glue of `fat` that does not fit in 512
/// bytes (required: TC) and addresses of the MX hosts (optional: left out silently).
fn zone_text() -> String {
    let mut text = ZONE.to_string();
    for i in 0..20 {
        text.push_str(&format!("a.fat A 192.0.2.{i}\nb.fat A 198.51.100.{i}\n"));
    }
    for i in 0..6 {
        let host = format!("host-number-{i:02}.a-long-label-to-fill-the-message");
        text.push_str(&format!(
            "{host} A 192.0.2.{i}\n{host} AAAA 2001:db8::{i}\n"
        ));
    }
    text
}

fn handler() -> Handler {
    let origin = Name::from_str("example.test.").unwrap();
    let zone = load_zone_str(&zone_text(), &origin, "test", Path::new("."))
        .unwrap()
        .zone;
    let mut catalog = Catalog::new();
    catalog.insert(Arc::new(ZoneHandle::new(origin, Some(Arc::new(zone)))));
    Handler::new(
        Arc::new(ArcSwap::from_pointee(catalog)),
        HandlerConfig {
            nsid: Some(b"n1".to_vec()),
            ..HandlerConfig::default()
        },
    )
}

/// A query written by hand: hickory's encoder does not keep the name's case.
fn query(name: &str, qtype: RecordType, edns: Option<(u16, bool)>) -> Vec<u8> {
    let mut m = vec![
        0x42,
        0x42,
        0x01,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        u8::from(edns.is_some()),
    ];
    for label in name.split('.').filter(|l| !l.is_empty()) {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&u16::from(qtype).to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    if let Some((size, options)) = edns {
        m.extend_from_slice(&[0, 0, 41]);
        m.extend_from_slice(&size.to_be_bytes());
        m.extend_from_slice(&[0, 0, 0x80, 0]);
        let opts: &[u8] = if options {
            &[0, 3, 0, 0, 0, 19, 0, 0]
        } else {
            &[]
        };
        m.extend_from_slice(&(opts.len() as u16).to_be_bytes());
        m.extend_from_slice(opts);
    }
    m
}

/// The reply as the engine and encoder write it, bypassing the cache.
fn uncached(h: &Handler, wire: &[u8], info: &RequestInfo) -> Vec<u8> {
    let req = request::parse(wire).unwrap();
    let answer = engine::resolve(&h.catalog().load(), &req.qname, req.qtype, req.qclass);
    let mut out = Vec::new();
    h.write_answer(&req, info, &answer, &mut out);
    out
}

#[test]
fn cached_replies_equal_fresh_ones() {
    let h = handler();
    let names = [
        "www.example.test.",
        "example.test.",
        "big.example.test.",
        "x.wild.example.test.",
        "c1.example.test.",
        "tonx.example.test.",
        "www.child.example.test.",
        "child.example.test.",
        "nothere.example.test.",
        "b.c.example.test.",
        "x.dn.example.test.",
        "_sip._tcp.example.test.",
        "outside.test.",
        "www.fat.example.test.",
        "manymx.example.test.",
    ];
    let types = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::MX,
        RecordType::TXT,
        RecordType::NS,
        RecordType::SOA,
        RecordType::SRV,
        RecordType::ANY,
        RecordType::DS,
    ];
    // Largest first, so a stored reply meets smaller limits it does not fit; then the
    // largest again, so a reply cut down for a small limit meets a larger one.
    let edns = [
        Some((4096, false)),
        None,
        Some((512, false)),
        Some((1232, true)),
        Some((4096, false)),
    ];
    let before = super::HITS.with(|h| h.get());
    for transport in [Transport::Udp, Transport::Tcp] {
        let info = RequestInfo {
            transport,
            peer: "127.0.0.1:5300".parse().unwrap(),
        };
        for name in names {
            for qtype in types {
                for e in edns {
                    // The same question in three spellings: the first fills the cache,
                    // the others must read it back with their own case.
                    let upper = name.to_ascii_uppercase();
                    let mixed: String = name
                        .chars()
                        .enumerate()
                        .map(|(i, c)| {
                            if i % 2 == 0 {
                                c.to_ascii_uppercase()
                            } else {
                                c
                            }
                        })
                        .collect();
                    for spelling in [name, upper.as_str(), mixed.as_str()] {
                        let wire = query(spelling, qtype, e);
                        let mut out = Vec::new();
                        assert!(matches!(
                            h.handle(&wire, &info, &mut out),
                            Response::Message
                        ));
                        let fresh = uncached(&h, &wire, &info);
                        assert_eq!(out, fresh, "{spelling} {qtype} {e:?} {transport:?}");
                        Message::from_vec(&out).unwrap();
                    }
                }
            }
        }
    }
    let hits = super::HITS.with(|h| h.get()) - before;
    assert!(hits > 500, "only {hits} cache hits");
}
