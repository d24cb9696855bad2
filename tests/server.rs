//! The transport over real loopback sockets: UDP and TCP answers, truncation, EDNS,
//! NSID, ZONEVERSION, pipelining, idle timeout, error replies. Every wait is bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::rdata::{A, NS, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use zonecast::catalog::{Catalog, ZoneHandle};
use zonecast::engine::Answer;
use zonecast::server::request::Request;
use zonecast::server::{
    Extension, Handler, HandlerConfig, ListenConfig, RequestInfo, Response, Server, TcpOptions,
    Transport,
};
use zonecast::zone::Zone;

const WAIT: Duration = Duration::from_secs(5);

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn zone() -> Zone {
    let o = "example.test.";
    let mut recs = vec![
        Record::from_rdata(
            n(o),
            3600,
            RData::SOA(SOA::new(
                n("ns1.example.test."),
                n("host.example.test."),
                2024010101,
                7200,
                900,
                1209600,
                300,
            )),
        ),
        Record::from_rdata(n(o), 3600, RData::NS(NS(n("ns1.example.test.")))),
        Record::from_rdata(n("ns1.example.test."), 3600, RData::A(A::new(192, 0, 2, 1))),
        Record::from_rdata(n("www.example.test."), 300, RData::A(A::new(192, 0, 2, 10))),
    ];
    for i in 0..30 {
        recs.push(Record::from_rdata(
            n("big.example.test."),
            300,
            RData::TXT(TXT::new(vec![format!("{i:02}{}", "x".repeat(98))])),
        ));
    }
    Zone::from_records(n(o), recs).unwrap()
}

struct Running {
    server: Server,
}

/// A stand-in for the transfer extension of a later issue: claims AXFR, streams three
/// messages over TCP (each with one SOA, numbered by serial), refuses it over UDP.
struct StreamAxfr;

impl Extension for StreamAxfr {
    fn handle(
        &self,
        handler: &Handler,
        _catalog: &Catalog,
        req: &Request<'_>,
        info: &RequestInfo,
        out: &mut Vec<u8>,
    ) -> Option<Response> {
        if req.qtype != RecordType::AXFR {
            return None;
        }
        if info.transport == Transport::Udp {
            handler.write_error(req, info, ResponseCode::NotAuth, out);
            return Some(Response::Message);
        }
        let mut msgs = Vec::new();
        for serial in 1..=3u32 {
            let soa = Record::from_rdata(
                n("example.test."),
                60,
                RData::SOA(SOA::new(n("a."), n("b."), serial, 1, 1, 1, 1)),
            );
            let answer = Answer {
                authoritative: true,
                answers: vec![soa],
                ..Answer::default()
            };
            let mut m = Vec::new();
            handler.write_answer(req, info, &answer, &mut m);
            msgs.push(m);
        }
        Some(Response::Stream(Box::new(msgs.into_iter())))
    }
}

impl Running {
    fn start(config: HandlerConfig, idle: Duration) -> Running {
        Running::start_on(config, idle, &["127.0.0.1:0"], 16)
    }

    fn start_on(
        config: HandlerConfig,
        idle: Duration,
        addrs: &[&str],
        max_conns: usize,
    ) -> Running {
        let mut catalog = Catalog::new();
        catalog.insert(Arc::new(ZoneHandle::new(
            n("example.test."),
            Some(Arc::new(zone())),
        )));
        let handler = Handler::new(Arc::new(ArcSwap::from_pointee(catalog)), config)
            .with_extension(Arc::new(StreamAxfr));
        let listen = ListenConfig {
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            udp_threads: 2,
            tcp: TcpOptions {
                idle_timeout: idle,
                max_connections: max_conns,
            },
        };
        Running {
            server: Server::start(&listen, Arc::new(handler)).unwrap(),
        }
    }

    fn default() -> Running {
        Running::start(HandlerConfig::default(), Duration::from_secs(10))
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addrs()[0]
    }
}

/// A query in wire form; `opt` is (payload, version, DO, options bytes). Its OPT
/// always sets an unassigned EDNS flag (0x0040), which replies must not echo.
fn query(id: u16, name: &str, qtype: u16, opt: Option<(u16, u8, bool, &[u8])>) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(opt.is_some())]);
    for label in name.trim_end_matches('.').split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    if let Some((payload, version, dnssec_ok, options)) = opt {
        m.extend_from_slice(&[0, 0, 41]);
        m.extend_from_slice(&payload.to_be_bytes());
        m.extend_from_slice(&[0, version, if dnssec_ok { 0x80 } else { 0 }, 0x40]);
        m.extend_from_slice(&(options.len() as u16).to_be_bytes());
        m.extend_from_slice(options);
    }
    m
}

fn udp_exchange_raw(addr: SocketAddr, msg: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.send_to(msg, addr).unwrap();
    let mut buf = vec![0u8; 65535];
    match s.recv_from(&mut buf) {
        Ok((len, _)) => Some(buf[..len].to_vec()),
        Err(_) => None,
    }
}

fn udp(addr: SocketAddr, msg: &[u8]) -> (Message, usize) {
    let raw = udp_exchange_raw(addr, msg).expect("a UDP reply within the timeout");
    (Message::from_vec(&raw).unwrap(), raw.len())
}

fn tcp_connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, WAIT).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

fn tcp_send(s: &mut TcpStream, msg: &[u8]) {
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(msg);
    s.write_all(&framed).unwrap();
}

fn tcp_read(s: &mut TcpStream) -> Message {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).unwrap();
    Message::from_vec(&buf).unwrap()
}

fn a_addrs(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn answers_over_udp_and_tcp() {
    let srv = Running::default();
    let q = query(0x4242, "www.example.test.", 1, None);
    let (m, _) = udp(srv.addr(), &q);
    assert_eq!(m.metadata.id, 0x4242);
    assert!(m.metadata.authoritative);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_addrs(&m), vec!["192.0.2.10"]);
    assert!(m.edns.is_none(), "no OPT in reply to a query without one");

    let mut s = tcp_connect(srv.addr());
    tcp_send(&mut s, &q);
    let m = tcp_read(&mut s);
    assert_eq!(m.metadata.id, 0x4242);
    assert_eq!(a_addrs(&m), vec!["192.0.2.10"]);
}

#[test]
fn truncates_on_udp_and_answers_fully_on_tcp() {
    let srv = Running::default();
    let q = query(7, "big.example.test.", 16, Some((512, 0, false, &[])));
    let (m, len) = udp(srv.addr(), &q);
    assert!(len <= 512);
    assert!(m.metadata.truncation);
    assert!(
        m.answers.is_empty(),
        "the RRset does not fit and is dropped whole"
    );
    assert!(m.edns.is_some(), "OPT on a truncated reply");

    let (m, _) = udp(srv.addr(), &query(8, "big.example.test.", 16, None));
    assert!(m.metadata.truncation && m.edns.is_none());

    let mut s = tcp_connect(srv.addr());
    tcp_send(&mut s, &q);
    let m = tcp_read(&mut s);
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 30);
}

#[test]
fn edns_payload_cap_and_echo() {
    let srv = Running::start(
        HandlerConfig {
            udp_payload: 1232,
            ..HandlerConfig::default()
        },
        Duration::from_secs(10),
    );
    // The requestor offers 4096; we must not exceed our cap of 1232.
    let (m, len) = udp(
        srv.addr(),
        &query(9, "big.example.test.", 16, Some((4096, 0, true, &[]))),
    );
    assert!(len <= 1232, "reply of {len} bytes exceeds the cap");
    assert!(m.metadata.truncation);
    let e = m.edns.as_ref().unwrap();
    assert_eq!(e.max_payload(), 1232);
    assert!(e.flags().dnssec_ok, "DO echoed");
    assert_eq!(e.flags().z, 0, "the unknown flag the query set is zeroed");
    assert_eq!(e.version(), 0);

    // Unknown options are ignored and the query answered.
    let (m, _) = udp(
        srv.addr(),
        &query(
            10,
            "www.example.test.",
            1,
            Some((1232, 0, false, &[0xfd, 0xe9, 0, 1, 7])),
        ),
    );
    assert_eq!(a_addrs(&m), vec!["192.0.2.10"]);
    assert!(m.edns.as_ref().unwrap().options().as_ref().is_empty());
}

#[test]
fn badvers_for_edns_version_1() {
    let srv = Running::default();
    let (m, _) = udp(
        srv.addr(),
        &query(11, "www.example.test.", 1, Some((1232, 1, false, &[]))),
    );
    assert_eq!(u16::from(m.metadata.response_code), 16, "BADVERS");
    assert!(m.answers.is_empty());
    assert_eq!(m.edns.as_ref().unwrap().version(), 0);
}

#[test]
fn nsid_when_configured_and_asked() {
    let with = Running::start(
        HandlerConfig {
            nsid: Some(b"ns-test".to_vec()),
            ..HandlerConfig::default()
        },
        Duration::from_secs(10),
    );
    let ask = query(
        12,
        "www.example.test.",
        1,
        Some((1232, 0, false, &[0, 3, 0, 0])),
    );
    let (m, _) = udp(with.addr(), &ask);
    match m.edns.as_ref().unwrap().option(EdnsCode::NSID) {
        Some(EdnsOption::NSID(p)) => assert_eq!(p.as_ref(), b"ns-test"),
        other => panic!("no NSID: {other:?}"),
    }
    let (m, _) = udp(
        with.addr(),
        &query(13, "www.example.test.", 1, Some((1232, 0, false, &[]))),
    );
    assert!(
        m.edns.unwrap().option(EdnsCode::NSID).is_none(),
        "not asked"
    );
    let without = Running::default();
    let (m, _) = udp(without.addr(), &ask);
    assert!(
        m.edns.unwrap().option(EdnsCode::NSID).is_none(),
        "none configured"
    );
}

#[test]
fn zoneversion_when_asked() {
    let srv = Running::default();
    let (m, _) = udp(
        srv.addr(),
        &query(
            14,
            "www.example.test.",
            1,
            Some((1232, 0, false, &[0, 19, 0, 0])),
        ),
    );
    let e = m.edns.unwrap();
    match e.option(EdnsCode::Unknown(19)) {
        Some(EdnsOption::Unknown(19, data)) => {
            let mut want = vec![2u8, 0];
            want.extend_from_slice(&2024010101u32.to_be_bytes());
            assert_eq!(data, &want);
        }
        other => panic!("no ZONEVERSION: {other:?}"),
    }
    // Not asked: not sent.
    let (m, _) = udp(
        srv.addr(),
        &query(15, "www.example.test.", 1, Some((1232, 0, false, &[]))),
    );
    assert!(m.edns.unwrap().option(EdnsCode::Unknown(19)).is_none());
}

#[test]
fn pipelined_queries_on_one_connection() {
    let srv = Running::default();
    let mut s = tcp_connect(srv.addr());
    let ids = [900u16, 5, 65000, 17, 300, 2];
    let mut burst = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let (name, qtype) = if i % 2 == 0 {
            ("www.example.test.", 1)
        } else {
            ("big.example.test.", 16)
        };
        let q = query(*id, name, qtype, None);
        burst.extend_from_slice(&(q.len() as u16).to_be_bytes());
        burst.extend_from_slice(&q);
    }
    s.write_all(&burst).unwrap();
    let mut got: Vec<u16> = (0..ids.len())
        .map(|_| {
            let m = tcp_read(&mut s);
            let want = if ids.iter().position(|i| *i == m.metadata.id).unwrap() % 2 == 0 {
                1
            } else {
                30
            };
            assert_eq!(m.answers.len(), want, "reply matches its query");
            m.metadata.id
        })
        .collect();
    got.sort_unstable();
    let mut want = ids.to_vec();
    want.sort_unstable();
    assert_eq!(got, want);
}

#[test]
fn idle_connections_are_closed() {
    let srv = Running::start(HandlerConfig::default(), Duration::from_millis(200));
    let mut s = tcp_connect(srv.addr());
    tcp_send(&mut s, &query(16, "www.example.test.", 1, None));
    assert_eq!(tcp_read(&mut s).metadata.id, 16);
    let start = Instant::now();
    let mut buf = [0u8; 1];
    // The read times out after WAIT if the server never closes.
    assert_eq!(s.read(&mut buf).unwrap(), 0, "server closed the connection");
    assert!(start.elapsed() < WAIT);
}

#[test]
fn formerr_notimp_refused() {
    let srv = Running::default();
    let mut garbage = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    garbage.extend_from_slice(&[0x3f, 1, 2, 3]);
    let (m, _) = udp(srv.addr(), &garbage);
    assert_eq!(m.metadata.id, 0xabcd);
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);

    let mut two_questions = query(17, "www.example.test.", 1, None);
    two_questions[5] = 2;
    let tail = two_questions[12..].to_vec();
    two_questions.extend_from_slice(&tail);
    let (m, _) = udp(srv.addr(), &two_questions);
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);

    let mut opcode3 = query(18, "www.example.test.", 1, Some((1232, 0, false, &[])));
    opcode3[2] = 3 << 3;
    let (m, _) = udp(srv.addr(), &opcode3);
    assert_eq!(m.metadata.response_code, ResponseCode::NotImp);
    assert!(m.edns.is_some(), "OPT echoed on error replies");
    assert_eq!(m.queries.len(), 1);

    // A header-only message with an unknown opcode: NOTIMP, not FORMERR (Knot, NSD).
    let header_only = [0x12, 0x34, 15 << 3, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let (m, _) = udp(srv.addr(), &header_only);
    assert_eq!(m.metadata.id, 0x1234);
    assert_eq!(m.metadata.response_code, ResponseCode::NotImp);

    let (m, _) = udp(srv.addr(), &query(19, "example.test.", 251, None));
    assert_eq!(m.metadata.response_code, ResponseCode::Refused, "IXFR");
    let (m, _) = udp(srv.addr(), &query(20, "www.other.", 1, None));
    assert_eq!(m.metadata.response_code, ResponseCode::Refused, "no zone");
}

#[test]
fn question_case_is_echoed() {
    let srv = Running::default();
    let (m, _) = udp(srv.addr(), &query(21, "WwW.ExAmPle.TEST.", 1, None));
    assert_eq!(m.queries[0].name().to_string(), "WwW.ExAmPle.TEST.");
    assert_eq!(a_addrs(&m), vec!["192.0.2.10"]);
}

#[test]
fn responses_get_no_reply() {
    let srv = Running::default();
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut response = query(22, "www.example.test.", 1, None);
    response[2] |= 0x80;
    s.send_to(&response, srv.addr()).unwrap();
    // A normal query sent after it is answered, and it is the only reply we get.
    s.send_to(&query(23, "www.example.test.", 1, None), srv.addr())
        .unwrap();
    let mut buf = [0u8; 512];
    let (len, _) = s.recv_from(&mut buf).unwrap();
    let m = Message::from_vec(&buf[..len]).unwrap();
    assert_eq!(m.metadata.id, 23);
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(s.recv_from(&mut buf).is_err(), "no reply to the response");
}

#[test]
fn several_listen_addresses_v4_and_v6() {
    let v6_available = UdpSocket::bind("[::1]:0").is_ok();
    let addrs: &[&str] = if v6_available {
        &["127.0.0.1:0", "[::1]:0"]
    } else {
        &["127.0.0.1:0", "127.0.0.2:0"]
    };
    let srv = Running::start_on(HandlerConfig::default(), Duration::from_secs(10), addrs, 16);
    assert_eq!(srv.server.local_addrs().len(), 2);
    for (i, addr) in srv.server.local_addrs().iter().enumerate() {
        assert_ne!(addr.port(), 0);
        let q = query(30 + i as u16, "www.example.test.", 1, None);
        let raw = {
            let s = UdpSocket::bind(SocketAddr::new(addr.ip(), 0)).unwrap();
            s.set_read_timeout(Some(WAIT)).unwrap();
            s.send_to(&q, addr).unwrap();
            let mut buf = [0u8; 512];
            let (len, _) = s.recv_from(&mut buf).expect("UDP reply");
            buf[..len].to_vec()
        };
        assert_eq!(
            a_addrs(&Message::from_vec(&raw).unwrap()),
            vec!["192.0.2.10"]
        );
        let mut t = tcp_connect(*addr);
        tcp_send(&mut t, &q);
        assert_eq!(a_addrs(&tcp_read(&mut t)), vec!["192.0.2.10"]);
    }
}

#[test]
fn connections_beyond_the_limit_are_closed() {
    let srv = Running::start_on(
        HandlerConfig::default(),
        Duration::from_secs(10),
        &["127.0.0.1:0"],
        2,
    );
    let q = query(40, "www.example.test.", 1, None);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = tcp_connect(srv.addr());
        tcp_send(&mut s, &q);
        assert_eq!(tcp_read(&mut s).metadata.id, 40);
        held.push(s);
    }
    let mut third = tcp_connect(srv.addr());
    let _ = third.write_all(&q);
    let mut buf = [0u8; 2];
    // Closed at once: EOF or reset, never a reply (bounded by the read timeout).
    match third.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0),
        Err(e) => assert_ne!(
            e.kind(),
            std::io::ErrorKind::WouldBlock,
            "no close within {WAIT:?}"
        ),
    }
    // Closing one frees its slot: a new connection is then served.
    drop(held.pop());
    let deadline = Instant::now() + WAIT;
    loop {
        let mut s = tcp_connect(srv.addr());
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        let mut len = [0u8; 2];
        if s.write_all(&framed).is_ok() && s.read_exact(&mut len).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed");
    }
}

#[test]
fn extensions_claim_messages_and_stream_over_tcp() {
    let srv = Running::default();
    let axfr = query(50, "example.test.", 252, None);
    let (m, _) = udp(srv.addr(), &axfr);
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::NotAuth,
        "claimed on UDP too"
    );
    let mut s = tcp_connect(srv.addr());
    tcp_send(&mut s, &axfr);
    // A normal query pipelined behind the stream is answered after all of it.
    tcp_send(&mut s, &query(51, "www.example.test.", 1, None));
    for serial in 1..=3u32 {
        let m = tcp_read(&mut s);
        assert_eq!(m.metadata.id, 50);
        match &m.answers[0].data {
            RData::SOA(soa) => assert_eq!(soa.serial, serial),
            other => panic!("unexpected {other:?}"),
        }
    }
    let m = tcp_read(&mut s);
    assert_eq!(
        (m.metadata.id, a_addrs(&m)),
        (51, vec!["192.0.2.10".to_string()])
    );
}
