//! Who a primary notifies, and when it stops: NS named in another zone the node serves are
//! notified; with TSIG, retries stop only for an acknowledgement signed with the zone's key
//! (RFC 8945 §5.3), so an unsigned or forged one cannot silence them.
//!
//! Fake secondaries on loopback count the NOTIFYs they get and acknowledge each. Waits
//! poll the counts until a deadline.

use std::net::UdpSocket;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Message, MessageType, OpCode};
use hickory_proto::rr::Name;
use zonecast::config::{NodeConfig, ZoneConfig};
use zonecast::node::{Node, NodeOptions};
use zonecast::tsig::{ResponseSigner, TsigKey};

mod node_support;
use node_support::{addr, free_port};

fn key() -> TsigKey {
    TsigKey::new(
        "xfr-key",
        "hmac-sha256",
        "HBTIcN60WFRgfrtyKSz1IV6f4uewPe77pgSH/EQ3bRk=",
    )
    .unwrap()
}

/// A secondary on `ip` that acknowledges every NOTIFY, signed with `signer` or unsigned,
/// and counts them.
fn fake_secondary(ip: &str, signer: Option<TsigKey>) -> (u16, Arc<AtomicU32>) {
    let sock = UdpSocket::bind((ip, 0)).unwrap();
    let port = sock.local_addr().unwrap().port();
    let seen = Arc::new(AtomicU32::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let Ok(req) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            count.fetch_add(1, Ordering::SeqCst);
            let mut r = Message::new(req.id, MessageType::Response, OpCode::Notify);
            r.metadata.authoritative = true;
            r.queries = req.queries.clone();
            let mut wire = r.to_vec().unwrap();
            if let (Some(k), Some(sig)) = (&signer, &req.signature) {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
                ResponseSigner::new(k.clone(), sig.data.mac.clone())
                    .sign(&mut wire, now.as_secs())
                    .unwrap();
            }
            let _ = sock.send_to(&wire, from);
        }
    });
    (port, seen)
}

fn options() -> NodeOptions {
    NodeOptions {
        timer_limits: None,
        no_signals: true,
    }
}

fn wait_for(count: &AtomicU32, n: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while count.load(Ordering::SeqCst) < n {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ns_named_in_another_served_zone_are_notified() {
    let dir = tempfile::tempdir().unwrap();
    // The secondary listens on 127.0.0.2, an address that is not the node's own.
    let (port, seen) = fake_secondary("127.0.0.2", None);
    let shop = dir.path().join("shop.test.zone");
    std::fs::write(
        &shop,
        "$TTL 60\n@ SOA ns.dns.example.test. h.shop.test. 1 3600 600 86400 60\n\
         @ NS ns.dns.example.test.\n@ NS ns2.dns.example.test.\n@ NS ns.unknown.test.\n",
    )
    .unwrap();
    let example = dir.path().join("example.test.zone");
    std::fs::write(
        &example,
        "$TTL 60\n@ SOA ns1 h 1 3600 600 86400 60\n@ NS ns1\nns1 A 127.0.0.1\n\
         ns.dns A 127.0.0.1\nns2.dns A 127.0.0.2\n",
    )
    .unwrap();
    let zone = |name: &str, file| ZoneConfig::primary(Name::from_str(name).unwrap(), file);
    let cfg = NodeConfig {
        listen: vec![addr(free_port())],
        threads: Some(1),
        data_dir: Some(dir.path().join("state")),
        notify_port: port,
        zones: vec![zone("shop.test.", shop), zone("example.test.", example)],
        ..NodeConfig::default()
    };
    let node = Node::start(&cfg, options()).unwrap();
    // ns.dns is the SOA MNAME and ns.unknown has no address here: only ns2.dns (found in
    // example.test) is notified, for shop.test; example.test's own NS is the node itself.
    wait_for(&seen, 1, "shop.test's NS in example.test got no NOTIFY");
    node.shutdown();
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

#[test]
fn only_a_signed_acknowledgement_stops_the_notify_retries() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("n.test.zone");
    std::fs::write(
        &file,
        "$TTL 60\n@ SOA ns1.example.net. h.example.net. 1 3600 600 86400 60\n\
         @ NS ns1.example.net.\nwww A 192.0.2.1\n",
    )
    .unwrap();
    let (signed_port, signed_seen) = fake_secondary("127.0.0.1", Some(key()));
    let (unsigned_port, unsigned_seen) = fake_secondary("127.0.0.1", None);
    let mut z = ZoneConfig::primary(Name::from_str("n.test.").unwrap(), file);
    z.also_notify = vec![addr(signed_port), addr(unsigned_port)];
    z.tsig_key = Some(key().name.clone());
    let cfg = NodeConfig {
        listen: vec![addr(free_port())],
        threads: Some(1),
        data_dir: Some(dir.path().join("state")),
        keys: vec![key()],
        zones: vec![z],
        ..NodeConfig::default()
    };
    let node = Node::start(&cfg, options()).unwrap();

    // The unsigned acknowledgements are rejected, so the primary keeps sending (retries
    // back off from one second: the third NOTIFY comes about three seconds in).
    let deadline = Instant::now() + Duration::from_secs(15);
    while unsigned_seen.load(Ordering::SeqCst) < 3 {
        assert!(
            Instant::now() < deadline,
            "no NOTIFY retry after an unsigned ack"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The signed target, acknowledged at the first attempt, would have had its first
    // retry by now if that acknowledgement had been rejected too.
    assert_eq!(signed_seen.load(Ordering::SeqCst), 1);
    node.shutdown();
}
