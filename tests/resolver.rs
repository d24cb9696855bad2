//! The resolver end to end over loopback: a lab hierarchy of small authoritative
//! responders on 127.0.0.11-15 (one shared port, as glue carries none), and the resolver
//! walking it from a local root hint, answering a stub client over UDP and TCP.
//!
//! The responders come from `zonecast::resolver::lab`. To run against the shipped
//! `zones/` served by zonecast instead, replace `Lab::start` by starting `serve` on the
//! same addresses; the assertions only depend on the zone contents.
//!
//! Time in the resolver is a hand-advanced clock, so TTL expiry is tested without
//! sleeping. Every network wait is bounded.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use zonecast::resolver::config::ResolverConfig;
use zonecast::resolver::driver::{Resolver, Running};
use zonecast::resolver::lab;
use zonecast::resolver::lab_net::Lab;

const WAIT: Duration = Duration::from_secs(5);

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

/// A clock the test advances by hand.
#[derive(Clone)]
struct ManualClock {
    base: Instant,
    offset_ms: Arc<AtomicU64>,
}

impl ManualClock {
    fn new() -> Self {
        ManualClock {
            base: Instant::now(),
            offset_ms: Arc::new(AtomicU64::new(0)),
        }
    }
    fn advance(&self, secs: u64) {
        self.offset_ms.fetch_add(secs * 1000, Ordering::SeqCst);
    }
}

async fn start_resolver(
    lab: &Lab,
    clock: &ManualClock,
    cfg: ResolverConfig,
) -> (Arc<Resolver>, Running) {
    let cfg = ResolverConfig {
        upstream_port: lab.port,
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        ..cfg
    };
    let c = clock.clone();
    let r = Arc::new(
        Resolver::with_hints(&cfg, lab::root_hints())
            .unwrap()
            .with_clock(Arc::new(move || {
                c.base + Duration::from_millis(c.offset_ms.load(Ordering::SeqCst))
            })),
    );
    let running = r.serve(&cfg.listen).await.unwrap();
    (r, running)
}

fn query(name: &str, t: RecordType) -> Message {
    let mut m = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(n(name), t));
    let mut e = Edns::new();
    e.set_max_payload(1232);
    m.set_edns(e);
    m
}

async fn ask_udp(server: SocketAddr, name: &str, t: RecordType) -> Message {
    send_udp(server, &query(name, t)).await
}

/// Sends one query message over UDP and returns the reply (same ID), waiting boundedly.
async fn send_udp(server: SocketAddr, q: &Message) -> Message {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&q.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let (len, _) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
        .await
        .expect("resolver answers within the bound")
        .unwrap();
    let m = Message::from_vec(&buf[..len]).unwrap();
    assert_eq!(m.metadata.id, q.metadata.id);
    m
}

async fn ask_tcp(server: SocketAddr, name: &str, t: RecordType) -> Message {
    let mut s = tokio::time::timeout(WAIT, TcpStream::connect(server))
        .await
        .unwrap()
        .unwrap();
    let q = query(name, t).to_vec().unwrap();
    s.write_all(&u16::try_from(q.len()).unwrap().to_be_bytes())
        .await
        .unwrap();
    s.write_all(&q).await.unwrap();
    let mut len = [0u8; 2];
    tokio::time::timeout(WAIT, s.read_exact(&mut len))
        .await
        .unwrap()
        .unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    tokio::time::timeout(WAIT, s.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    Message::from_vec(&buf).unwrap()
}

fn data(m: &Message) -> Vec<String> {
    m.answers.iter().map(|r| r.data.to_string()).collect()
}

#[tokio::test]
async fn walks_the_lab_hierarchy() {
    let lab = Lab::start(0).await.unwrap();
    let clock = ManualClock::new();
    let (_r, running) = start_resolver(&lab, &clock, ResolverConfig::default()).await;
    let srv = running.addrs[0];

    let m = ask_udp(srv, "www.example.test.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.recursion_available && !m.metadata.authoritative);
    assert_eq!(data(&m), vec!["192.0.2.10"]);

    // A CNAME leaving the zone, into a zone whose server has no glue.
    let m = ask_udp(srv, "shopalias.example.test.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(data(&m), vec!["www.shop.test.", "192.0.2.40"]);

    let m = ask_udp(srv, "nope.example.test.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    assert!(m.authorities[0].ttl <= 60);

    let m = ask_udp(srv, "www.sub.example.test.", RecordType::AAAA).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities[0].name, n("sub.example.test."));

    let m = ask_tcp(srv, "www.sub.example.test.", RecordType::A).await;
    assert_eq!(data(&m), vec!["192.0.2.30"]);
    let m = ask_tcp(srv, "www.shop.test.", RecordType::A).await;
    assert_eq!(data(&m), vec!["192.0.2.40"]);
}

#[tokio::test]
async fn old_answer_until_ttl_runs_out_then_new() {
    let lab = Lab::start(0).await.unwrap();
    let clock = ManualClock::new();
    let (_r, running) = start_resolver(&lab, &clock, ResolverConfig::default()).await;
    let srv = running.addrs[0];

    let m = ask_udp(srv, "www.example.test.", RecordType::A).await;
    assert_eq!(
        (data(&m), m.answers[0].ttl),
        (vec!["192.0.2.10".to_string()], 30)
    );
    lab.edit_example(|rs| {
        for r in rs.iter_mut() {
            if r.name == n("www.example.test.") && r.record_type() == RecordType::A {
                r.data = RData::A("192.0.2.11".parse().unwrap());
            }
        }
    });
    let mut last_ttl = 30;
    for step in [10, 10, 9] {
        clock.advance(step);
        let m = ask_udp(srv, "www.example.test.", RecordType::A).await;
        assert_eq!(data(&m), vec!["192.0.2.10"], "still the cached value");
        assert!(m.answers[0].ttl < last_ttl, "TTL falls");
        last_ttl = m.answers[0].ttl;
    }
    assert_eq!(last_ttl, 1);
    clock.advance(1);
    let m = ask_udp(srv, "www.example.test.", RecordType::A).await;
    assert_eq!(data(&m), vec!["192.0.2.11"], "expired, fetched anew");
    assert_eq!(m.answers[0].ttl, 30);
}

#[tokio::test]
async fn negative_turns_positive_only_after_negative_ttl() {
    let lab = Lab::start(0).await.unwrap();
    let clock = ManualClock::new();
    let (_r, running) = start_resolver(&lab, &clock, ResolverConfig::default()).await;
    let srv = running.addrs[0];

    let m = ask_udp(srv, "new.example.test.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    lab.edit_example(|rs| {
        rs.push(Record::from_rdata(
            n("new.example.test."),
            300,
            RData::A("192.0.2.77".parse().unwrap()),
        ))
    });
    clock.advance(59);
    let m = ask_udp(srv, "new.example.test.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.authorities[0].ttl, 1);
    clock.advance(1);
    let m = ask_udp(srv, "new.example.test.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(data(&m), vec!["192.0.2.77"]);
}

#[tokio::test]
async fn recursion_refused_outside_acl() {
    let lab = Lab::start(0).await.unwrap();
    let clock = ManualClock::new();
    let cfg = ResolverConfig {
        allow_recursion: vec!["10.0.0.0/8".into()],
        ..ResolverConfig::default()
    };
    let (_r, running) = start_resolver(&lab, &clock, cfg).await;
    let m = ask_udp(running.addrs[0], "www.example.test.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(m.answers.is_empty());
}

#[tokio::test]
async fn forged_replies_on_the_wire_are_ignored() {
    let lab = Lab::start(0).await.unwrap();
    for last in 11..=15 {
        lab.node(last).unwrap().forge.store(true, Ordering::SeqCst);
    }
    let clock = ManualClock::new();
    let (r, running) = start_resolver(&lab, &clock, ResolverConfig::default()).await;
    let m = ask_udp(running.addrs[0], "www.example.test.", RecordType::A).await;
    assert_eq!(data(&m), vec!["192.0.2.10"]);
    let m = ask_udp(running.addrs[0], "www.shop.test.", RecordType::A).await;
    assert_eq!(data(&m), vec!["192.0.2.40"]);
    for e in r.dump() {
        assert!(
            !e.data.iter().any(|d| d.contains("6.6.6.6")),
            "poisoned: {e:?}"
        );
    }
}

#[tokio::test]
async fn non_recursive_queries_are_refused() {
    let lab = Lab::start(0).await.unwrap();
    let clock = ManualClock::new();
    let (_r, running) = start_resolver(&lab, &clock, ResolverConfig::default()).await;
    let mut q = query("www.example.test.", RecordType::A);
    q.metadata.recursion_desired = false;
    let m = send_udp(running.addrs[0], &q).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
}

#[tokio::test]
async fn resolve_command_prints_the_walk_and_the_cache() {
    use zonecast::cli::resolve::{ResolveArgs, report};
    let lab = Lab::start(0).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hints = dir.path().join("lab.root");
    std::fs::write(
        &hints,
        ".  3600000 NS a.root-servers.test.\na.root-servers.test. 3600000 A 127.0.0.11\n",
    )
    .unwrap();
    let args = ResolveArgs {
        name: "shopalias.example.test".into(),
        rtype: "a".into(),
        trace: true,
        root_hints: Some(hints),
        upstream_port: lab.port,
        server: None,
        no_qname_minimisation: false,
    };
    let text = report(&args).await.unwrap();
    assert!(text.contains(";; status: NOERROR, answers: 2"), "{text}");
    assert!(text.contains("referral to example.test."), "{text}");
    assert!(text.contains("NS name without address"), "{text}");
    assert!(
        text.contains("www.shop.test.\t300\tIN\tA\t192.0.2.40"),
        "{text}"
    );
    assert!(text.contains(";; CACHE"), "{text}");
    let bad = ResolveArgs {
        rtype: "NOTATYPE".into(),
        ..args
    };
    assert!(report(&bad).await.is_err());
}

#[tokio::test]
async fn cache_dump_flush_and_stub_mode() {
    use zonecast::cli::resolve::{ResolveArgs, report};
    use zonecast::resolver::control;
    let lab = Lab::start(0).await.unwrap();
    let clock = ManualClock::new();
    let (r, running) = start_resolver(&lab, &clock, ResolverConfig::default()).await;
    let args = ResolveArgs {
        name: "www.sub.example.test".into(),
        rtype: "A".into(),
        trace: false,
        root_hints: None,
        upstream_port: 53,
        server: Some(running.addrs[0].to_string()),
        no_qname_minimisation: false,
    };
    let text = report(&args).await.unwrap();
    assert!(text.contains("192.0.2.30"), "{text}");

    clock.advance(100);
    let dump = control::run(&r, "dump").unwrap();
    let line = dump
        .lines()
        .find(|l| l.starts_with("www.sub.example.test. IN A "))
        .unwrap_or_else(|| panic!("{dump}"));
    assert!(line.contains(" 200/300 AuthAnswer 192.0.2.30"), "{line}");
    assert_eq!(
        control::run(&r, "flush www.sub.example.test").unwrap(),
        "flushed 1\n"
    );
    assert!(
        !control::run(&r, "dump")
            .unwrap()
            .contains("www.sub.example.test. IN A")
    );
    let n = control::run(&r, "flush-subtree example.test.").unwrap();
    assert_ne!(n, "flushed 0\n");
    assert!(
        !control::run(&r, "dump")
            .unwrap()
            .contains("example.test. IN NS")
    );
    control::run(&r, "flush-all").unwrap();
    assert_eq!(control::run(&r, "dump").unwrap(), "");
    assert!(control::run(&r, "flush").is_err());
    assert!(control::run(&r, "bogus").is_err());
    // After a flush the resolver walks again and still answers.
    let m = ask_udp(running.addrs[0], "www.sub.example.test.", RecordType::A).await;
    assert_eq!(data(&m), vec!["192.0.2.30"]);
}

/// With every example.test server down after the TTL ran out: SERVFAIL, unless
/// serve-stale is on, which answers the expired data with the 30 s stale TTL.
#[tokio::test]
async fn serve_stale_only_when_enabled() {
    for serve_stale in [false, true] {
        let lab = Lab::start(0).await.unwrap();
        let clock = ManualClock::new();
        let mut cfg = ResolverConfig {
            upstream_timeout_ms: 150,
            ..ResolverConfig::default()
        };
        cfg.cache.serve_stale = serve_stale;
        let (_r, running) = start_resolver(&lab, &clock, cfg).await;
        let srv = running.addrs[0];
        let m = ask_udp(srv, "www.example.test.", RecordType::A).await;
        assert_eq!(data(&m), vec!["192.0.2.10"]);
        for last in 13..=15 {
            lab.node(last).unwrap().mute.store(true, Ordering::SeqCst);
        }
        clock.advance(31);
        let m = ask_udp(srv, "www.example.test.", RecordType::A).await;
        if serve_stale {
            assert_eq!(m.metadata.response_code, ResponseCode::NoError);
            assert_eq!(data(&m), vec!["192.0.2.10"]);
            assert_eq!(m.answers[0].ttl, 30);
        } else {
            assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
            assert!(m.answers.is_empty());
        }
    }
}

/// A burst of identical cold queries costs the upstream work of one.
#[tokio::test]
async fn identical_misses_share_one_resolution() {
    let mut counts = Vec::new();
    for clients in [1usize, 20] {
        let lab = Lab::start(0).await.unwrap();
        let clock = ManualClock::new();
        let (_r, running) = start_resolver(&lab, &clock, ResolverConfig::default()).await;
        let srv = running.addrs[0];
        let asks = (0..clients).map(|_| ask_udp(srv, "www.shop.test.", RecordType::A));
        for m in futures_join(asks).await {
            assert_eq!(data(&m), vec!["192.0.2.40"]);
        }
        counts.push(lab.queries());
    }
    assert!(counts[0] > 0);
    assert_eq!(
        counts[0], counts[1],
        "upstream queries for 1 and for 20 clients"
    );
}

/// Runs the futures concurrently on this task and collects their outputs in order.
async fn futures_join<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futs.map(|f| Some(Box::pin(f))).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    results.into_iter().flatten().collect()
}

/// With prefetch on, a popular answer asked for in the last tenth of its TTL is
/// refreshed in the background: the client gets the cached answer at once, and the
/// cache then holds the new data with a full TTL before the old one ran out.
#[tokio::test]
async fn prefetch_refreshes_popular_entries_before_expiry() {
    let lab = Lab::start(0).await.unwrap();
    let clock = ManualClock::new();
    let mut cfg = ResolverConfig::default();
    cfg.cache.prefetch = true;
    let (_r, running) = start_resolver(&lab, &clock, cfg).await;
    let srv = running.addrs[0];
    let m = ask_udp(srv, "www.example.test.", RecordType::A).await;
    assert_eq!(data(&m), vec!["192.0.2.10"]);
    lab.edit_example(|rs| {
        for r in rs.iter_mut() {
            if r.name == n("www.example.test.") && r.record_type() == RecordType::A {
                r.data = RData::A("192.0.2.12".parse().unwrap());
            }
        }
    });
    clock.advance(10);
    let m = ask_udp(srv, "www.example.test.", RecordType::A).await;
    assert_eq!(
        (data(&m), m.answers[0].ttl),
        (vec!["192.0.2.10".to_string()], 20)
    );
    clock.advance(18);
    // Popular (second hit) and 2 s of 30 left: served from cache, refresh triggered.
    let m = ask_udp(srv, "www.example.test.", RecordType::A).await;
    assert_eq!(data(&m), vec!["192.0.2.10"]);
    let mut refreshed = None;
    for _ in 0..500 {
        let m = ask_udp(srv, "www.example.test.", RecordType::A).await;
        if data(&m) == vec!["192.0.2.12"] {
            refreshed = Some(m);
            break;
        }
        tokio::task::yield_now().await;
    }
    let m = refreshed.expect("the prefetch landed while the old entry was still valid");
    assert_eq!(m.answers[0].ttl, 30);
}

#[tokio::test]
async fn unknown_edns_version_gets_badvers() {
    let lab = Lab::start(0).await.unwrap();
    let clock = ManualClock::new();
    let (_r, running) = start_resolver(&lab, &clock, ResolverConfig::default()).await;
    // Cached first, so the replay path is exercised too.
    ask_udp(running.addrs[0], "www.example.test.", RecordType::A).await;
    ask_udp(running.addrs[0], "www.example.test.", RecordType::A).await;
    let mut q = query("www.example.test.", RecordType::A);
    let mut e = Edns::new();
    e.set_version(1);
    q.set_edns(e);
    let m = send_udp(running.addrs[0], &q).await;
    // BADVERS and BADSIG share the value 16; hickory decodes it as BADSIG.
    assert_eq!(u16::from(m.metadata.response_code), 16);
    assert!(m.edns.is_some() && m.answers.is_empty());
}

/// The DO bit is echoed (RFC 3225 §3), also when the answer is a replayed one built for
/// a query without it.
#[tokio::test]
async fn do_bit_is_echoed_on_every_path() {
    let lab = Lab::start(0).await.unwrap();
    let clock = ManualClock::new();
    let (_r, running) = start_resolver(&lab, &clock, ResolverConfig::default()).await;
    let srv = running.addrs[0];
    for _ in 0..3 {
        let m = ask_udp(srv, "www.example.test.", RecordType::A).await;
        assert!(!m.edns.as_ref().unwrap().flags().dnssec_ok);
        let mut q = query("www.example.test.", RecordType::A);
        q.edns.as_mut().unwrap().set_dnssec_ok(true);
        let m = send_udp(srv, &q).await;
        assert_eq!(data(&m), vec!["192.0.2.10"]);
        assert!(m.edns.as_ref().unwrap().flags().dnssec_ok);
    }
}
