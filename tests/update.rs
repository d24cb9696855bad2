//! RFC 2136 dynamic update against an in-process primary with a secondary behind it:
//! additions and deletions reach the secondary by NOTIFY and IXFR, are written back to the
//! zone file, and survive the reload that follows; failed prerequisites and refused
//! clients change nothing; TSIG-signed updates get signed answers.
//!
//! Every wait polls what a node answers until a deadline; nothing sleeps for a timer.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::rdata::tsig::TsigError;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use zonecast::config::{NodeConfig, ZoneConfig};
use zonecast::control::{ControlRequest, request_blocking};
use zonecast::node::{Node, NodeOptions};
use zonecast::tsig::{ResponseVerifier, TsigKey, is_signed, response_error, sign_request};
use zonecast::update::{AclRule, UpdateAcl};

mod node_support;
use node_support::{addr, free_port};
const DEADLINE: Duration = Duration::from_secs(15);
const ZONE: &str = "upd.test.";
const SECRET: &str = "HBTIcN60WFRgfrtyKSz1IV6f4uewPe77pgSH/EQ3bRk=";

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

const FILE: &str = "$TTL 60\n\
; the update keeps this comment\n\
@ IN SOA ns1.example.net. hostmaster.example.net. 1 3600 3600 86400 60\n\
@ NS ns1.example.net.\n\
www A 192.0.2.1\n\
mail A 192.0.2.25\n";

fn node(port: u16, data: PathBuf, zone: ZoneConfig, keys: Vec<TsigKey>) -> Node {
    let cfg = NodeConfig {
        listen: vec![addr(port)],
        threads: Some(1),
        data_dir: Some(data),
        zones: vec![zone],
        keys,
        ..NodeConfig::default()
    };
    let opts = NodeOptions {
        no_signals: true,
        ..NodeOptions::default()
    };
    Node::start(&cfg, opts).unwrap()
}

fn key(name: &str, secret: &str) -> TsigKey {
    TsigKey::new(name, "hmac-sha256", secret).unwrap()
}

fn rid() -> u16 {
    rand::random()
}

/// One query over UDP; None on timeout.
fn ask(port: u16, qname: &str, qtype: RecordType) -> Option<Message> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut m = Message::new(rid(), MessageType::Query, OpCode::Query);
    m.add_query(Query::query(n(qname), qtype));
    m.set_edns(Edns::new());
    sock.send_to(&m.to_vec().unwrap(), addr(port)).unwrap();
    let mut buf = [0u8; 4096];
    let (len, _) = sock.recv_from(&mut buf).ok()?;
    Message::from_vec(buf.get(..len)?).ok()
}

fn served_serial(port: u16) -> Option<u32> {
    ask(port, ZONE, RecordType::SOA)?
        .answers
        .iter()
        .find_map(|r| match &r.data {
            RData::SOA(s) => Some(s.serial),
            _ => None,
        })
}

fn wait_serial(port: u16, serial: u32) {
    let t0 = Instant::now();
    while t0.elapsed() < DEADLINE {
        if served_serial(port) == Some(serial) {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("port {port} serves {:?}, not {serial}", served_serial(port));
}

fn addrs(port: u16, qname: &str) -> Vec<String> {
    let m = ask(port, qname, RecordType::A).expect("an answer");
    let mut v: Vec<String> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.to_string()),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

fn a_rr(name: &str, ip: &str) -> Record {
    Record::from_rdata(n(name), 60, RData::A(A(ip.parse().unwrap())))
}

/// A class ANY/NONE record without RDATA, RFC 2136's form for RRset prerequisites and
/// deletions.
fn empty(name: &str, class: DNSClass, t: RecordType) -> Record {
    let mut r = Record::update0(n(name), 0, t);
    r.dns_class = class;
    r
}

fn update(zone: &str, prereqs: Vec<Record>, updates: Vec<Record>) -> Message {
    let mut m = Message::new(rid(), MessageType::Query, OpCode::Update);
    m.add_query(Query::query(n(zone), RecordType::SOA));
    m.answers = prereqs;
    m.authorities = updates;
    m
}

/// Sends over UDP from `src` and returns the raw reply.
fn send_udp(port: u16, src: IpAddr, wire: &[u8]) -> Vec<u8> {
    let sock = UdpSocket::bind(SocketAddr::new(src, 0)).unwrap();
    sock.set_read_timeout(Some(DEADLINE)).unwrap();
    sock.send_to(wire, addr(port)).unwrap();
    let mut buf = vec![0u8; 4096];
    let (len, _) = sock.recv_from(&mut buf).expect("an UPDATE reply");
    buf.truncate(len);
    buf
}

fn send_tcp(port: u16, wire: &[u8]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr(port)).unwrap();
    tcp.set_read_timeout(Some(DEADLINE)).unwrap();
    tcp.write_all(&(wire.len() as u16).to_be_bytes()).unwrap();
    tcp.write_all(wire).unwrap();
    let mut len = [0u8; 2];
    tcp.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    tcp.read_exact(&mut buf).unwrap();
    buf
}

fn rcode_of(wire: &[u8]) -> ResponseCode {
    let m = Message::from_vec(wire).unwrap();
    assert_eq!(m.metadata.op_code, OpCode::Update);
    m.metadata.response_code
}

fn unsigned(port: u16, src: &str, m: &Message) -> ResponseCode {
    rcode_of(&send_udp(port, src.parse().unwrap(), &m.to_vec().unwrap()))
}

/// Signs, sends over TCP, and checks that the answer is signed by the same key.
fn signed(port: u16, k: &TsigKey, m: &Message) -> ResponseCode {
    let now = unix_now();
    let (wire, mac) = sign_request(&m.to_vec().unwrap(), k, now).unwrap();
    let reply = send_tcp(port, &wire);
    let msg = Message::from_vec(&reply).unwrap();
    assert!(is_signed(&msg), "the answer to a signed UPDATE is signed");
    ResponseVerifier::new(k.clone(), mac)
        .verify(&reply, true, now)
        .expect("the answer's TSIG verifies");
    msg.metadata.response_code
}

fn reload(node: &Node) -> String {
    let r = request_blocking(
        node.control_addr(),
        &ControlRequest::Reload {
            zone: Some(ZONE.into()),
        },
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(r.ok, "{r:?}");
    r.message.unwrap_or_default()
}

struct Setup {
    _dir: tempfile::TempDir,
    file: PathBuf,
    pp: u16,
    sp: u16,
    primary: Node,
    secondary: Node,
    upd: TsigKey,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let d: &Path = dir.path();
    let file = d.join("upd.test.zone");
    std::fs::write(&file, FILE).unwrap();
    let (pp, sp) = (free_port(), free_port());
    let upd = key("upd-key", SECRET);
    let other = key("other-key", SECRET);
    let mut z = ZoneConfig::primary(n(ZONE), file.clone());
    z.also_notify = vec![addr(sp)];
    z.allow_update = UpdateAcl {
        rules: ["127.0.0.2", "key upd-key"]
            .iter()
            .map(|r| AclRule::from_str(r).unwrap())
            .collect(),
    };
    let primary = node(pp, d.join("p"), z, vec![upd.clone(), other]);
    let secondary = node(
        sp,
        d.join("s"),
        ZoneConfig::secondary(n(ZONE), vec![addr(pp)]),
        vec![],
    );
    wait_serial(sp, 1);
    Setup {
        _dir: dir,
        file,
        pp,
        sp,
        primary,
        secondary,
        upd,
    }
}

#[test]
fn updates_reach_the_secondary_and_the_file() {
    let s = setup();
    let www = format!("www.{ZONE}");
    let new = format!("new.{ZONE}");

    // Add, unsigned, from the allowed address, over UDP.
    let m = update(ZONE, vec![], vec![a_rr(&new, "192.0.2.10")]);
    assert_eq!(unsigned(s.pp, "127.0.0.2", &m), ResponseCode::NoError);
    // Acknowledged only once served: no wait needed on the primary.
    assert_eq!(served_serial(s.pp), Some(2));
    assert_eq!(addrs(s.pp, &new), ["192.0.2.10"]);
    wait_serial(s.sp, 2);
    assert_eq!(addrs(s.sp, &new), ["192.0.2.10"]);
    let text = std::fs::read_to_string(&s.file).unwrap();
    assert!(text.contains("192.0.2.10"), "{text}");
    assert!(text.contains("; the update keeps this comment"), "{text}");
    assert!(text.contains(" 2 3600 3600 86400 60"), "{text}");

    // Delete an RRset, signed, over TCP, with a prerequisite that holds.
    let m = update(
        ZONE,
        vec![empty(&www, DNSClass::ANY, RecordType::A)],
        vec![empty(&www, DNSClass::ANY, RecordType::A)],
    );
    assert_eq!(signed(s.pp, &s.upd, &m), ResponseCode::NoError);
    assert_eq!(served_serial(s.pp), Some(3));
    assert!(addrs(s.pp, &www).is_empty());
    wait_serial(s.sp, 3);
    assert!(addrs(s.sp, &www).is_empty());
    let status = request_blocking(
        s.secondary.control_addr(),
        &ControlRequest::ZoneStatus {
            zone: Some(ZONE.into()),
        },
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(
        status.data[0]["last_transfer"]["kind"], "ixfr",
        "{status:?}"
    );
    let text = std::fs::read_to_string(&s.file).unwrap();
    assert!(!text.contains("192.0.2.1\n"), "{text}");
    assert!(text.contains(" 3 3600 3600 86400 60"), "{text}");

    // The file now says what is served: a reload finds nothing to do, and reads only
    // the lines the write-back changed (against the version before the updates).
    let msg = reload(&s.primary);
    assert!(msg.contains("unchanged (serial 3) (incremental"), "{msg}");
    assert_eq!(served_serial(s.pp), Some(3));

    // A later hand edit without a serial bump keeps the updates and moves forward.
    let edited = std::fs::read_to_string(&s.file).unwrap() + "hand A 192.0.2.99\n";
    std::fs::write(&s.file, edited).unwrap();
    let msg = reload(&s.primary);
    assert!(msg.contains("serial 3 -> 4"), "{msg}");
    assert!(msg.contains("incremental"), "{msg}");
    assert_eq!(addrs(s.pp, &new), ["192.0.2.10"]);
    assert!(addrs(s.pp, &www).is_empty());
    assert_eq!(addrs(s.pp, &format!("hand.{ZONE}")), ["192.0.2.99"]);
    wait_serial(s.sp, 4);
    s.secondary.shutdown();
    s.primary.shutdown();
}

#[test]
fn failures_change_nothing() {
    let s = setup();
    let www = format!("www.{ZONE}");
    let new = format!("new.{ZONE}");
    let add = || vec![a_rr(&new, "192.0.2.10")];
    let before = std::fs::read_to_string(&s.file).unwrap();
    let cases = [
        // "Name is not in use" on a name that exists.
        (
            vec![empty(&www, DNSClass::NONE, RecordType::ANY)],
            ResponseCode::YXDomain,
        ),
        // "Name is in use" on an absent name.
        (
            vec![empty(&format!("nx.{ZONE}"), DNSClass::ANY, RecordType::ANY)],
            ResponseCode::NXDomain,
        ),
        // "RRset exists" for an absent RRset.
        (
            vec![empty(&www, DNSClass::ANY, RecordType::AAAA)],
            ResponseCode::NXRRSet,
        ),
        // "RRset does not exist" for a present one.
        (
            vec![empty(&www, DNSClass::NONE, RecordType::A)],
            ResponseCode::YXRRSet,
        ),
    ];
    for (prereqs, want) in cases {
        let m = update(ZONE, prereqs, add());
        assert_eq!(unsigned(s.pp, "127.0.0.2", &m), want);
    }
    // Not allowed: the wrong address, or a known key that no rule names.
    let m = update(ZONE, vec![], add());
    assert_eq!(unsigned(s.pp, "127.0.0.1", &m), ResponseCode::Refused);
    assert_eq!(
        signed(s.pp, &key("other-key", SECRET), &m),
        ResponseCode::Refused
    );
    // A bad signature: NOTAUTH with the TSIG error BADSIG, as for transfers.
    let forged = key("upd-key", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    let (wire, _) = sign_request(&m.to_vec().unwrap(), &forged, unix_now()).unwrap();
    let reply = Message::from_vec(&send_tcp(s.pp, &wire)).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::NotAuth);
    assert_eq!(response_error(&reply), Some(TsigError::BadSig));
    // An unknown key and a stale signature: BADKEY and BADTIME.
    for (k, at, err) in [
        (key("nobody-key", SECRET), unix_now(), TsigError::BadKey),
        (s.upd.clone(), unix_now() - 3600, TsigError::BadTime),
    ] {
        let (wire, _) = sign_request(&m.to_vec().unwrap(), &k, at).unwrap();
        let reply = Message::from_vec(&send_tcp(s.pp, &wire)).unwrap();
        assert_eq!(reply.metadata.response_code, ResponseCode::NotAuth);
        assert_eq!(response_error(&reply), Some(err));
    }
    // A zone not served; the secondary (REFUSED, as BIND without update forwarding).
    let m = update(
        "other.test.",
        vec![],
        vec![a_rr("x.other.test.", "192.0.2.1")],
    );
    assert_eq!(unsigned(s.pp, "127.0.0.2", &m), ResponseCode::NotAuth);
    let m = update(ZONE, vec![], add());
    assert_eq!(unsigned(s.sp, "127.0.0.2", &m), ResponseCode::Refused);

    assert_eq!(served_serial(s.pp), Some(1));
    assert!(addrs(s.pp, &new).is_empty());
    assert_eq!(std::fs::read_to_string(&s.file).unwrap(), before);
    let msg = reload(&s.primary);
    assert!(msg.contains("unchanged (serial 1)"), "{msg}");
    s.secondary.shutdown();
    s.primary.shutdown();
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
