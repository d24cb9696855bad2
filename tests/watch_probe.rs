//! The watch prober and discovery over real loopback sockets, against in-test responders.

mod watch_support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::NS;
use hickory_proto::rr::{RData, Record, RecordType};
use watch_support::*;
use zonecast::watch::discover::{DiscoverOptions, discover};
use zonecast::watch::probe::{
    ProbeError, Prober, Question, Target, exchange, probe_authoritative, probe_resolver,
};
use zonecast::watch::{AnswerData, Outcome, Role, SerialSource, ServerSpec};

const TIMEOUT: Duration = Duration::from_secs(2);

fn target(qname: &str) -> Target {
    Target {
        name: name(qname),
        rtype: RecordType::A,
        timeout: TIMEOUT,
    }
}

/// An authoritative server for `example.` with www A 192.0.2.1 at `serial`, sending
/// ZONEVERSION and EXPIRE when asked and `modern` is set.
fn auth_handler(serial: u32, modern: bool) -> Handler {
    Arc::new(move |q: &Message, _| {
        let question = &q.queries[0];
        let mut m = reply_to(q);
        let mut opts = Vec::new();
        match question.query_type() {
            RecordType::SOA if question.name() == &name("example.") => {
                m.add_answer(soa("example.", serial));
                if modern && has_option(q, 9) {
                    opts.push(expire(86_000));
                }
            }
            RecordType::SOA => {
                m.add_authority(soa("example.", serial));
            }
            RecordType::A if question.name() == &name("www.example.") => {
                m.add_answer(a("www.example.", [192, 0, 2, 1], 300));
            }
            _ => {
                m.metadata.response_code = ResponseCode::NXDomain;
                m.add_authority(soa("example.", serial));
            }
        }
        if modern && has_option(q, 19) {
            opts.push(zoneversion(1, serial));
        }
        vec![wire(&with_options(m, &opts))]
    })
}

#[tokio::test]
async fn authoritative_probe_reads_zoneversion_and_expire() {
    let server = Responder::udp(auth_handler(2024, true));
    let (outcome, apex) = probe_authoritative(server.addr, &target("www.example."), None).await;
    let Outcome::Reply(reply) = outcome else {
        panic!("expected a reply, got {outcome:?}");
    };
    assert_eq!(reply.rcode, 0);
    assert!(reply.authoritative);
    assert_eq!(
        reply.answer,
        Some(AnswerData::Records(vec!["A 192.0.2.1".into()]))
    );
    assert_eq!(reply.ttl, Some(300));
    assert_eq!(reply.serial, Some(2024));
    assert_eq!(reply.serial_source, Some(SerialSource::ZoneVersion));
    assert_eq!(apex, Some(name("example.")));
    // The negative answer named the apex, and the SOA was asked again there at once,
    // since servers give EXPIRE only at the apex.
    assert_eq!(reply.expire, Some(86_000));

    // Knowing the apex, the SOA is asked there directly.
    let (outcome, _) =
        probe_authoritative(server.addr, &target("www.example."), apex.as_ref()).await;
    let Outcome::Reply(reply) = outcome else {
        panic!("expected a reply, got {outcome:?}");
    };
    assert_eq!(reply.expire, Some(86_000));

    let queries = server.queries();
    assert_eq!(queries.len(), 5);
    for (q, _) in &queries {
        assert!(
            !q.metadata.recursion_desired,
            "RD must be clear for authoritative servers"
        );
        assert!(has_option(q, 19), "ZONEVERSION asked on every query");
        let is_soa = q.queries[0].query_type() == RecordType::SOA;
        assert_eq!(has_option(q, 9), is_soa, "EXPIRE asked with the SOA only");
    }
    let ids: HashSet<u16> = queries.iter().map(|(q, _)| q.metadata.id).collect();
    assert!(ids.len() >= 3, "query IDs are random: {ids:?}");
}

#[tokio::test]
async fn serial_falls_back_to_the_soa_without_zoneversion() {
    let server = Responder::udp(auth_handler(7, false));
    let (outcome, _) = probe_authoritative(server.addr, &target("www.example."), None).await;
    let Outcome::Reply(reply) = outcome else {
        panic!("expected a reply, got {outcome:?}");
    };
    assert_eq!(reply.serial, Some(7));
    assert_eq!(reply.serial_source, Some(SerialSource::Soa));
    assert_eq!(reply.expire, None);
}

#[tokio::test]
async fn nxdomain_carries_the_negative_ttl() {
    let server = Responder::udp(auth_handler(7, true));
    let (outcome, _) = probe_authoritative(server.addr, &target("nope.example."), None).await;
    let Outcome::Reply(reply) = outcome else {
        panic!("expected a reply, got {outcome:?}");
    };
    assert_eq!(reply.answer, Some(AnswerData::NxDomain));
    assert_eq!(reply.rcode, 3);
    // min(SOA TTL 3600, SOA MINIMUM 30)
    assert_eq!(reply.ttl, Some(30));
}

#[tokio::test]
async fn truncated_udp_reply_is_retried_over_tcp() {
    let server = Responder::udp_tcp(Arc::new(|q: &Message, transport| {
        let mut m = reply_to(q);
        if transport == Transport::Udp {
            m.metadata.truncation = true;
        } else {
            for i in 1..=40 {
                m.add_answer(a("big.example.", [192, 0, 2, i], 60));
            }
        }
        vec![wire(&m)]
    }));
    let q = Question {
        name: name("big.example."),
        rtype: RecordType::A,
        recursion: false,
        options: vec![],
    };
    let x = exchange(server.addr, &q, TIMEOUT).await.unwrap();
    assert!(x.tcp);
    assert_eq!(x.message.answers.len(), 40);
    let transports: Vec<Transport> = server.queries().into_iter().map(|(_, t)| t).collect();
    assert_eq!(transports, vec![Transport::Udp, Transport::Tcp]);
}

#[tokio::test]
async fn replies_that_do_not_match_the_query_are_ignored() {
    let server = Responder::udp(Arc::new(|q: &Message, _| {
        let mut wrong_id = reply_to(q);
        wrong_id.metadata.id = q.metadata.id.wrapping_add(1);
        wrong_id.add_answer(a("www.example.", [203, 0, 113, 66], 60));
        let mut wrong_question = reply_to(q);
        wrong_question.queries[0].set_name(name("evil.example."));
        wrong_question.add_answer(a("evil.example.", [203, 0, 113, 66], 60));
        let mut right = reply_to(q);
        right.add_answer(a("www.example.", [192, 0, 2, 1], 60));
        vec![
            wire(&wrong_id),
            b"garbage".to_vec(),
            wire(&wrong_question),
            wire(&right),
        ]
    }));
    let q = Question {
        name: name("www.example."),
        rtype: RecordType::A,
        recursion: false,
        options: vec![],
    };
    let x = exchange(server.addr, &q, TIMEOUT).await.unwrap();
    assert_eq!(
        x.message.answers,
        vec![a("www.example.", [192, 0, 2, 1], 60)]
    );
}

#[tokio::test]
async fn silent_server_times_out_and_closed_port_is_refused() {
    let silent = Responder::udp(Arc::new(|_: &Message, _| vec![]));
    let q = Question {
        name: name("www.example."),
        rtype: RecordType::A,
        recursion: false,
        options: vec![],
    };
    let err = exchange(silent.addr, &q, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, ProbeError::Timeout(_)), "{err}");

    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let err = exchange(addr, &q, TIMEOUT).await.unwrap_err();
    assert!(matches!(err, ProbeError::Io(_)), "{err}");
    let (outcome, _) = probe_authoritative(addr, &target("www.example."), None).await;
    assert!(matches!(outcome, Outcome::Unreachable(_)), "{outcome:?}");
}

#[tokio::test]
async fn servfail_has_no_answer() {
    let server = Responder::udp(Arc::new(|q: &Message, _| vec![servfail(q)]));
    let (outcome, _) = probe_authoritative(server.addr, &target("www.example."), None).await;
    let Outcome::Reply(reply) = outcome else {
        panic!("expected a reply, got {outcome:?}");
    };
    assert_eq!(reply.rcode, 2);
    assert_eq!(reply.answer, None);
}

#[tokio::test]
async fn resolver_probe_sets_rd_and_reads_the_remaining_ttl() {
    let server = Responder::udp(Arc::new(|q: &Message, _| {
        let mut m = reply_to(q);
        m.metadata.authoritative = false;
        m.metadata.recursion_available = true;
        m.add_answer(a("www.example.", [192, 0, 2, 1], 17));
        vec![wire(&m)]
    }));
    let outcome = probe_resolver(server.addr, &target("www.example.")).await;
    let Outcome::Reply(reply) = outcome else {
        panic!("expected a reply, got {outcome:?}");
    };
    assert_eq!(reply.ttl, Some(17));
    assert_eq!(reply.serial, None);
    let queries = server.queries();
    assert_eq!(queries.len(), 1);
    assert!(queries[0].0.metadata.recursion_desired);
}

#[tokio::test]
async fn a_round_asks_every_server_concurrently() {
    let auth = Responder::udp(auth_handler(5, true));
    let silent = Responder::udp(Arc::new(|_: &Message, _| vec![]));
    let hits = Arc::new(AtomicUsize::new(0));
    let hits2 = hits.clone();
    let resolver = Responder::udp(Arc::new(move |q: &Message, _| {
        hits2.fetch_add(1, Ordering::SeqCst);
        let mut m = reply_to(q);
        m.add_answer(a("www.example.", [192, 0, 2, 1], 60));
        vec![wire(&m)]
    }));
    let servers = vec![
        ServerSpec {
            name: "auth".into(),
            role: Role::Auth,
            addr: auth.addr,
        },
        ServerSpec {
            name: "silent".into(),
            role: Role::Secondary,
            addr: silent.addr,
        },
        ServerSpec {
            name: "res".into(),
            role: Role::Resolver,
            addr: resolver.addr,
        },
    ];
    let mut prober = Prober::new();
    let mut t = target("www.example.");
    t.timeout = Duration::from_millis(300);
    let obs = prober.probe_round(&servers, &t).await;
    assert_eq!(obs.len(), 3);
    assert!(
        obs.windows(2).all(|w| w[0].at <= w[1].at),
        "ordered by arrival"
    );
    let by_server = |i: usize| &obs.iter().find(|o| o.server == i).unwrap().outcome;
    assert!(matches!(by_server(0), Outcome::Reply(r) if r.serial == Some(5)));
    assert!(matches!(by_server(1), Outcome::Unreachable(e) if e.contains("timeout")));
    assert!(matches!(by_server(2), Outcome::Reply(r) if r.ttl == Some(60)));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // The first round learns the apex (and asks it at once); the second asks it directly.
    prober.probe_round(&servers, &t).await;
    let soa_names: Vec<String> = auth
        .queries()
        .iter()
        .filter(|(q, _)| q.queries[0].query_type() == RecordType::SOA)
        .map(|(q, _)| q.queries[0].name().to_string())
        .collect();
    assert_eq!(soa_names, vec!["www.example.", "example.", "example."]);
}

#[tokio::test]
async fn discovery_walks_to_the_apex_and_resolves_the_ns_set() {
    // A recursive resolver's view of a lab: example. served by ns1 (the primary, per the
    // SOA MNAME) and ns2, both on 127.0.0.x.
    let resolver = Responder::udp(Arc::new(|q: &Message, _| {
        let question = &q.queries[0];
        let qname = question.name().to_string();
        let mut m = reply_to(q);
        m.metadata.authoritative = false;
        match (qname.as_str(), question.query_type()) {
            // No SOA at all for the name itself (as from a broken middlebox): walk up.
            ("a.b.example.", RecordType::SOA) => {}
            ("b.example.", RecordType::SOA) => {
                m.metadata.response_code = ResponseCode::NXDomain;
                m.add_authority(soa("example.", 1));
            }
            ("example.", RecordType::NS) => {
                for ns in ["ns2.example.", "ns1.example."] {
                    m.add_answer(Record::from_rdata(
                        name("example."),
                        60,
                        RData::NS(NS(name(ns))),
                    ));
                }
            }
            ("ns1.example.", RecordType::A) => {
                m.add_answer(a("ns1.example.", [127, 0, 0, 41], 60));
            }
            ("ns2.example.", RecordType::A) => {
                m.add_answer(a("ns2.example.", [127, 0, 0, 42], 60));
            }
            _ => {}
        }
        vec![wire(&m)]
    }));
    let opts = DiscoverOptions {
        resolvers: vec![resolver.addr],
        port: 5394,
        ipv6: false,
        timeout: TIMEOUT,
    };
    let found = discover(&name("a.b.example."), &opts).await.unwrap();
    assert_eq!(found.apex, name("example."));
    let got: Vec<(String, Role, String)> = found
        .servers
        .iter()
        .map(|s| (s.name.clone(), s.role, s.addr.to_string()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "ns1.example".into(),
                Role::Primary,
                "127.0.0.41:5394".into()
            ),
            (
                "ns2.example".into(),
                Role::Secondary,
                "127.0.0.42:5394".into()
            ),
        ]
    );
    assert!(server_queries_have_rd(&resolver));
}

fn server_queries_have_rd(r: &Responder) -> bool {
    let q = r.queries();
    !q.is_empty() && q.iter().all(|(m, _)| m.metadata.recursion_desired)
}

#[tokio::test]
async fn a_slow_server_does_not_hold_back_the_others() {
    let fast = Responder::udp(auth_handler(5, true));
    let silent = Responder::udp(Arc::new(|_: &Message, _| vec![]));
    let servers = vec![
        ServerSpec {
            name: "fast".into(),
            role: Role::Auth,
            addr: fast.addr,
        },
        ServerSpec {
            name: "silent".into(),
            role: Role::Auth,
            addr: silent.addr,
        },
    ];
    let mut prober = Prober::new();
    let mut t = target("www.example.");
    t.timeout = Duration::from_millis(400);
    prober.start_round(&servers, &t);
    // Collect until the fast one answered: the silent one stays in flight.
    let first = prober
        .collect(Some(
            tokio::time::Instant::now() + Duration::from_millis(200),
        ))
        .await;
    assert_eq!(first.iter().map(|o| o.server).collect::<Vec<_>>(), vec![0]);
    // The next round asks the fast server again but not the one still in flight.
    prober.start_round(&servers, &t);
    let rest = prober.collect(None).await;
    let mut servers_seen: Vec<usize> = rest.iter().map(|o| o.server).collect();
    servers_seen.sort();
    assert_eq!(servers_seen, vec![0, 1]);
    let silent_queries = silent
        .queries()
        .iter()
        .filter(|(q, _)| q.queries[0].query_type() == RecordType::A)
        .count();
    assert_eq!(silent_queries, 1, "never asked twice at once");
    assert!(matches!(
        &rest.iter().find(|o| o.server == 1).unwrap().outcome,
        Outcome::Unreachable(e) if e.contains("timeout")
    ));
}
