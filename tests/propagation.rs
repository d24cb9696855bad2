//! Propagation between in-process nodes over loopback: primary -> secondary ->
//! second-tier secondary by NOTIFY and IXFR, AXFR when history is missing, a refused
//! edit, restart from the store, expiry and recovery.
//!
//! Every wait polls an observable state (what a node answers over DNS, or its status on
//! the control endpoint) until a deadline; nothing sleeps to wait for a timer.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::{Name, RData, RecordType};
use serde_json::Value;
use zonecast::config::{NodeConfig, ZoneConfig};
use zonecast::control::{ControlRequest, request_blocking};
use zonecast::node::{Node, NodeOptions};
use zonecast::secondary::TimerLimits;

mod node_support;
use node_support::{addr, free_port};
const DEADLINE: Duration = Duration::from_secs(15);
const ZONE: &str = "prop.test.";

fn name() -> Name {
    Name::from_str(ZONE).unwrap()
}

/// The test zone: `hosts` filler records keep a one-record IXFR smaller than the zone.
/// SOA timers are `refresh retry expire`.
fn zone_text(serial: u32, www: u8, timers: (u32, u32, u32)) -> String {
    let (refresh, retry, expire) = timers;
    let mut s = format!(
        "$TTL 60\n@ IN SOA ns1.example.net. hostmaster.example.net. {serial} {refresh} {retry} {expire} 60\n\
         @ NS ns1.example.net.\n@ NS ns2.example.net.\nwww A 192.0.2.{www}\n"
    );
    for i in 0..30 {
        s.push_str(&format!("h{i} A 198.51.100.{i}\n"));
    }
    s
}

/// Saves like an editor that writes a temporary file and renames it over the original.
fn save_by_rename(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

const SLOW: (u32, u32, u32) = (3600, 3600, 86400);

fn options() -> NodeOptions {
    NodeOptions {
        timer_limits: Some(TimerLimits {
            refresh_min: Duration::from_secs(1),
            retry_min: Duration::from_millis(500),
            expire_min: Duration::from_secs(1),
            ..TimerLimits::default()
        }),
        no_signals: true,
    }
}

fn node_config(port: u16, data: PathBuf, zone: ZoneConfig) -> NodeConfig {
    NodeConfig {
        listen: vec![addr(port)],
        threads: Some(1),
        data_dir: Some(data),
        zones: vec![zone],
        ..NodeConfig::default()
    }
}

fn start(cfg: &NodeConfig) -> Node {
    Node::start(cfg, options()).unwrap()
}

fn primary(dir: &Path, port: u16, notify: &[u16]) -> NodeConfig {
    let mut z = ZoneConfig::primary(name(), dir.join("prop.test.zone"));
    z.also_notify = notify.iter().map(|p| addr(*p)).collect();
    node_config(port, dir.join("p"), z)
}

fn secondary(dir: &Path, tag: &str, port: u16, primary: u16, notify: &[u16]) -> NodeConfig {
    let mut z = ZoneConfig::secondary(name(), vec![addr(primary)]);
    z.also_notify = notify.iter().map(|p| addr(*p)).collect();
    node_config(port, dir.join(tag), z)
}

/// One query over UDP with EDNS; None on timeout.
fn ask(port: u16, qname: &str, qtype: RecordType) -> Option<Message> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut m = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_str(qname).unwrap(), qtype));
    m.set_edns(Edns::new());
    sock.send_to(&m.to_vec().unwrap(), addr(port)).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    Message::from_vec(buf.get(..n)?).ok()
}

fn rand_id() -> u16 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u16
}

fn serial_of(m: &Message) -> Option<u32> {
    m.answers.iter().find_map(|r| match &r.data {
        RData::SOA(s) => Some(s.serial),
        _ => None,
    })
}

fn served_serial(port: u16) -> Option<u32> {
    let m = ask(port, ZONE, RecordType::SOA)?;
    (m.metadata.response_code == ResponseCode::NoError)
        .then(|| serial_of(&m))
        .flatten()
}

/// Polls until `port` serves `serial` or the deadline passes.
fn wait_serial(port: u16, serial: u32) -> Duration {
    let t0 = Instant::now();
    while t0.elapsed() < DEADLINE {
        if served_serial(port) == Some(serial) {
            return t0.elapsed();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!(
        "port {port} still serves {:?}, not {serial}",
        served_serial(port)
    );
}

fn www(port: u16) -> Option<String> {
    let m = ask(port, &format!("www.{ZONE}"), RecordType::A)?;
    m.answers.iter().find_map(|r| match &r.data {
        RData::A(a) => Some(a.to_string()),
        _ => None,
    })
}

fn status(node: &Node) -> Value {
    let r = request_blocking(
        node.control_addr(),
        &ControlRequest::ZoneStatus {
            zone: Some(ZONE.into()),
        },
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(r.ok, "{r:?}");
    r.data[0].clone()
}

/// The primary's last reload message (says which path it took).
fn last_reload(node: &Node) -> String {
    let st = status(node);
    st["live"]["last_reload"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no last_reload in {st}"))
        .to_string()
}

fn last_kind(node: &Node) -> String {
    status(node)["last_transfer"]["kind"]
        .as_str()
        .unwrap_or("-")
        .to_string()
}

#[test]
fn edit_reaches_two_tiers_by_notify_and_ixfr() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("prop.test.zone");
    std::fs::write(&file, zone_text(1, 1, SLOW)).unwrap();
    let (pp, p1, p2) = (free_port(), free_port(), free_port());
    let p = start(&primary(d, pp, &[p1]));
    let s1 = start(&secondary(d, "s1", p1, pp, &[p2]));
    let s2 = start(&secondary(d, "s2", p2, p1, &[]));
    wait_serial(p1, 1);
    wait_serial(p2, 1);
    assert_eq!(last_kind(&s1), "axfr");

    // Refresh is an hour: only NOTIFY can bring the edit over within the deadline.
    save_by_rename(&file, &zone_text(2, 2, SLOW));
    let t1 = wait_serial(p1, 2);
    let t2 = wait_serial(p2, 2);
    eprintln!("edit -> served: tier 1 {t1:?}, tier 2 {t2:?} (after tier 1)");
    assert_eq!(www(p1).as_deref(), Some("192.0.2.2"));
    assert_eq!(www(p2).as_deref(), Some("192.0.2.2"));
    assert_eq!(last_kind(&s1), "ixfr");
    assert_eq!(last_kind(&s2), "ixfr");
    assert_eq!(status(&p)["journal"]["depth"], 1);
    assert_eq!(status(&s1)["journal"]["depth"], 1);
    // The primary read the edit off the changed lines, not the whole file.
    let msg = last_reload(&p);
    assert!(
        msg.contains("serial 1 -> 2 (2 records changed, incremental"),
        "{msg}"
    );

    // An edit that forgets the serial: `increment` makes it 3. Written in place.
    std::fs::write(&file, zone_text(2, 3, SLOW)).unwrap();
    wait_serial(p2, 3);
    assert_eq!(www(p2).as_deref(), Some("192.0.2.3"));
    assert_eq!(last_kind(&s2), "ixfr");
    let msg = last_reload(&p);
    assert!(
        msg.contains("serial 2 -> 3 (2 records changed, incremental"),
        "{msg}"
    );

    // A syntax error: refused with file:line, the old version still served...
    std::fs::write(
        &file,
        zone_text(4, 4, SLOW).replace("192.0.2.4", "192.0.2.400"),
    )
    .unwrap();
    let r = request_blocking(
        p.control_addr(),
        &ControlRequest::Reload {
            zone: Some(ZONE.into()),
        },
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(!r.ok);
    let msg = r.message.unwrap_or_default();
    assert!(msg.contains("prop.test.zone:5:"), "{msg}");
    assert_eq!(served_serial(pp), Some(3));
    assert_eq!(status(&p)["live"]["last_reload"]["ok"], false);
    // ...and still transferred, to a secondary that never saw the zone.
    let p3 = free_port();
    let s3 = start(&secondary(d, "s3", p3, pp, &[]));
    wait_serial(p3, 3);
    assert_eq!(www(p3).as_deref(), Some("192.0.2.3"));
    assert_eq!(last_kind(&s3), "axfr");

    // The fix adds an NS record: not something the changed lines alone can judge, so
    // the whole file is loaded again; the edit after it is incremental again.
    let fixed = zone_text(4, 4, SLOW).replace("@ NS ns2", "@ NS ns3.example.net.\n@ NS ns2");
    save_by_rename(&file, &fixed);
    wait_serial(p2, 4);
    let msg = last_reload(&p);
    assert!(
        msg.contains("serial 3 -> 4 (3 records changed, full reload"),
        "{msg}"
    );
    save_by_rename(
        &file,
        &fixed
            .replace(" 4 3600 ", " 5 3600 ")
            .replace("192.0.2.4", "192.0.2.5"),
    );
    wait_serial(p2, 5);
    assert_eq!(www(p2).as_deref(), Some("192.0.2.5"));
    let msg = last_reload(&p);
    assert!(
        msg.contains("serial 4 -> 5 (2 records changed, incremental"),
        "{msg}"
    );
    for n in [s3, s2, s1, p] {
        n.shutdown();
    }
}

#[test]
fn primaries_are_tried_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("prop.test.zone"), zone_text(5, 5, SLOW)).unwrap();
    let (dead, pp, p1) = (free_port(), free_port(), free_port());
    let p = start(&primary(d, pp, &[]));
    let mut sc = secondary(d, "s1", p1, dead, &[]);
    sc.zones[0].primaries.push(addr(pp));
    let s1 = start(&sc);
    wait_serial(p1, 5);
    assert_eq!(last_kind(&s1), "axfr");
    s1.shutdown();

    // `zonecast node stop` resolves the node's stop future (what `serve` waits on).
    let r = request_blocking(
        p.control_addr(),
        &ControlRequest::NodeStop,
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(r.ok, "{r:?}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { tokio::time::timeout(DEADLINE, p.stopped()).await })
        .expect("the node reports the stop");
    p.shutdown();
}

#[test]
fn axfr_when_the_primary_keeps_no_history() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("prop.test.zone");
    std::fs::write(&file, zone_text(1, 1, SLOW)).unwrap();
    let (pp, p1, p2) = (free_port(), free_port(), free_port());
    let mut pc = primary(d, pp, &[p1]);
    pc.zones[0].journal.max_depth = Some(0);
    let p = start(&pc);
    let s1 = start(&secondary(d, "s1", p1, pp, &[p2]));
    let s2 = start(&secondary(d, "s2", p2, p1, &[]));
    wait_serial(p2, 1);
    save_by_rename(&file, &zone_text(2, 2, SLOW));
    wait_serial(p1, 2);
    wait_serial(p2, 2);
    assert_eq!(www(p1).as_deref(), Some("192.0.2.2"));
    // The secondary asked for IXFR; with no journal the primary answered with the zone.
    assert_eq!(status(&p)["journal"]["depth"], 0);
    assert_eq!(last_kind(&s1), "axfr");
    // The secondary journals what the full transfer changed, so its own secondary
    // still gets an IXFR.
    assert_eq!(status(&s1)["journal"]["depth"], 1);
    assert_eq!(last_kind(&s2), "ixfr");
    assert_eq!(www(p2).as_deref(), Some("192.0.2.2"));
    for n in [s2, s1, p] {
        n.shutdown();
    }
}

fn ede(m: &Message) -> Option<u16> {
    match m.edns.as_ref()?.option(EdnsCode::Unknown(15))? {
        EdnsOption::Unknown(_, data) => Some(u16::from_be_bytes([*data.first()?, *data.get(1)?])),
        _ => None,
    }
}

#[test]
fn restart_serves_the_stored_version_then_expires_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("prop.test.zone");
    // Refresh 1 s, retry 1 s, expire 3 s.
    std::fs::write(&file, zone_text(7, 7, (1, 1, 3))).unwrap();
    let (pp, p1) = (free_port(), free_port());
    let pc = primary(d, pp, &[]);
    let sc = secondary(d, "s1", p1, pp, &[]);
    let p = start(&pc);
    let s1 = start(&sc);
    wait_serial(p1, 7);
    let before = status(&s1)["last_transfer"].clone();
    assert_eq!(before["kind"], "axfr");

    // Primary gone, secondary restarted: it answers from its store at once.
    p.shutdown();
    s1.shutdown();
    let s1 = start(&sc);
    assert_eq!(served_serial(p1), Some(7));
    assert_eq!(www(p1).as_deref(), Some("192.0.2.7"));
    assert_eq!(status(&s1)["last_transfer"], before, "no transfer happened");

    // Expire (3 s after the last refresh): SERVFAIL with EDE 24.
    let t0 = Instant::now();
    let expired = loop {
        assert!(t0.elapsed() < DEADLINE, "never expired");
        if let Some(m) = ask(p1, ZONE, RecordType::SOA)
            && m.metadata.response_code == ResponseCode::ServFail
        {
            break m;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(ede(&expired), Some(24));
    assert_eq!(status(&s1)["live"]["expired"], true);

    // The primary returns: the secondary serves again.
    let p = start(&pc);
    wait_serial(p1, 7);
    assert_eq!(status(&s1)["live"]["expired"], false);
    s1.shutdown();
    p.shutdown();
}

fn expire_of(m: &Message) -> Option<u32> {
    match m.edns.as_ref()?.option(EdnsCode::Expire)? {
        EdnsOption::Unknown(_, d) => Some(u32::from_be_bytes([
            *d.first()?,
            *d.get(1)?,
            *d.get(2)?,
            *d.get(3)?,
        ])),
        _ => None,
    }
}

fn ask_expire(port: u16) -> Message {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut m = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    m.add_query(Query::query(name(), RecordType::SOA));
    let mut e = Edns::new();
    e.options_mut().insert(EdnsOption::Unknown(9, Vec::new()));
    m.set_edns(e);
    sock.send_to(&m.to_vec().unwrap(), addr(port)).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

#[test]
fn tsig_signed_transfers_and_edns_expire() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("prop.test.zone"), zone_text(1, 1, SLOW)).unwrap();
    let key = zonecast::tsig::TsigKey::new(
        "xfr-key",
        "hmac-sha256",
        "HBTIcN60WFRgfrtyKSz1IV6f4uewPe77pgSH/EQ3bRk=",
    )
    .unwrap();
    let (pp, p1) = (free_port(), free_port());
    let mut pc = primary(d, pp, &[p1]);
    let mut sc = secondary(d, "s1", p1, pp, &[]);
    for c in [&mut pc, &mut sc] {
        c.keys = vec![key.clone()];
        c.zones[0].tsig_key = Some(key.name.clone());
    }
    let p = start(&pc);
    let s1 = start(&sc);
    wait_serial(p1, 1);
    assert_eq!(last_kind(&s1), "axfr");

    // An unsigned transfer request is refused when the zone requires the key.
    let mut req = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    req.add_query(Query::query(name(), RecordType::AXFR));
    let wire = req.to_vec().unwrap();
    let mut tcp = std::net::TcpStream::connect(addr(pp)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    use std::io::{Read, Write};
    tcp.write_all(&(wire.len() as u16).to_be_bytes()).unwrap();
    tcp.write_all(&wire).unwrap();
    let mut len = [0u8; 2];
    tcp.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    tcp.read_exact(&mut buf).unwrap();
    let resp = Message::from_vec(&buf).unwrap();
    assert_eq!(resp.metadata.response_code, ResponseCode::NotAuth);
    assert!(resp.answers.is_empty());

    // EXPIRE: the primary answers its SOA EXPIRE, the secondary the time it has left.
    assert_eq!(expire_of(&ask_expire(pp)), Some(86400));
    let left = expire_of(&ask_expire(p1)).expect("the secondary answers EXPIRE");
    assert!(left <= 86400 && left > 86000, "{left}");
    // Without the option, none comes back.
    assert_eq!(
        ask(p1, ZONE, RecordType::SOA).and_then(|m| expire_of(&m)),
        None
    );
    s1.shutdown();
    p.shutdown();
}

/// A primary that answers SOA queries, refuses IXFR with NOTIMP and serves AXFR, for
/// the secondary's fallback. Returns the count of IXFR requests seen.
fn fake_primary(
    port: u16,
    serial: std::sync::Arc<std::sync::atomic::AtomicU32>,
) -> std::sync::Arc<std::sync::atomic::AtomicU32> {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let ixfrs = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let zone_of = |serial: u32| {
        let text = zone_text(serial, serial as u8, SLOW);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("z");
        std::fs::write(&f, text).unwrap();
        zonecast::zone::load::load_zone_file(&f, &name())
            .unwrap()
            .zone
            .records_canonical()
    };
    let reply = |req: &Message| {
        let mut r = Message::new(req.id, MessageType::Response, OpCode::Query);
        r.metadata.authoritative = true;
        r.queries = req.queries.clone();
        r
    };
    let udp = UdpSocket::bind(addr(port)).unwrap();
    let s = serial.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            let Ok(req) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut r = reply(&req);
            r.answers = zone_of(s.load(Ordering::SeqCst))
                .into_iter()
                .take(1)
                .collect();
            let _ = udp.send_to(&r.to_vec().unwrap(), from);
        }
    });
    let tcp = TcpListener::bind(addr(port)).unwrap();
    let (s, seen) = (serial, ixfrs.clone());
    std::thread::spawn(move || {
        for conn in tcp.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut len = [0u8; 2];
            if c.read_exact(&mut len).is_err() {
                continue;
            }
            let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
            if c.read_exact(&mut buf).is_err() {
                continue;
            }
            let req = Message::from_vec(&buf).unwrap();
            let mut r = reply(&req);
            if req.queries[0].query_type() == RecordType::IXFR {
                seen.fetch_add(1, Ordering::SeqCst);
                r.metadata.response_code = ResponseCode::NotImp;
            } else {
                let recs = zone_of(s.load(Ordering::SeqCst));
                r.answers = recs.clone();
                r.answers.push(recs[0].clone());
            }
            let w = r.to_vec().unwrap();
            let _ = c.write_all(&(w.len() as u16).to_be_bytes());
            let _ = c.write_all(&w);
        }
    });
    ixfrs
}

#[test]
fn ixfr_refused_falls_back_to_axfr() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let (pp, p1) = (free_port(), free_port());
    let serial = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(1));
    let ixfrs = fake_primary(pp, serial.clone());
    let s1 = start(&secondary(dir.path(), "s1", p1, pp, &[]));
    wait_serial(p1, 1);
    serial.store(2, Ordering::SeqCst);
    // `zonecast reload` on a secondary checks its primaries now.
    let r = request_blocking(
        s1.control_addr(),
        &ControlRequest::Reload { zone: None },
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(r.ok, "{r:?}");
    wait_serial(p1, 2);
    assert_eq!(www(p1).as_deref(), Some("192.0.2.2"));
    assert_eq!(ixfrs.load(Ordering::SeqCst), 1, "IXFR was tried first");
    assert_eq!(last_kind(&s1), "axfr");
    s1.shutdown();
}
