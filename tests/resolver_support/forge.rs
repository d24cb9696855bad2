//! A UDP front on 127.0.0.11-15 (one shared port) that relays each query to the real
//! zonecast server behind it and relays the answer back. It counts the queries, can drop
//! them (a server that is down), and can send forged replies before the real one: a
//! wrong ID, the right ID from another port, and the right ID with another question,
//! each with every address rewritten to 6.6.6.6.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, RecordType};

use super::{Hierarchy, LAYOUT, lab_ip};

const POLL: Duration = Duration::from_millis(100);
const BACKEND_WAIT: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct Switches {
    pub forge: AtomicBool,
    pub mute: AtomicBool,
    pub queries: AtomicU64,
    /// Forged datagrams sent.
    pub forged: AtomicU64,
}

pub struct Front {
    pub port: u16,
    pub switches: Arc<Switches>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The real servers; kept alive as long as the front.
    pub backends: Hierarchy,
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Front {
    pub fn start() -> Front {
        let backends = Hierarchy::start_backends();
        for _ in 0..50 {
            if let Some(socks) = bind_all() {
                return Self::run(socks, backends);
            }
        }
        panic!("no port free on all of 127.0.0.11-15");
    }

    fn run(socks: Vec<(u8, UdpSocket)>, backends: Hierarchy) -> Front {
        let port = socks[0].1.local_addr().unwrap().port();
        let switches = Arc::new(Switches::default());
        let stop = Arc::new(AtomicBool::new(false));
        let threads = socks
            .into_iter()
            .map(|(last, sock)| {
                let backend = backends.addr(last);
                let (sw, stop) = (switches.clone(), stop.clone());
                std::thread::spawn(move || relay(sock, backend, &sw, &stop))
            })
            .collect();
        Front {
            port,
            switches,
            stop,
            threads,
            backends,
        }
    }

    pub fn queries(&self) -> u64 {
        self.switches.queries.load(Ordering::SeqCst)
    }
}

fn bind_all() -> Option<Vec<(u8, UdpSocket)>> {
    let first = UdpSocket::bind((lab_ip(LAYOUT[0].0), 0)).ok()?;
    let port = first.local_addr().ok()?.port();
    let mut socks = vec![(LAYOUT[0].0, first)];
    for (last, _) in &LAYOUT[1..] {
        socks.push((*last, UdpSocket::bind((lab_ip(*last), port)).ok()?));
    }
    for (_, s) in &socks {
        s.set_read_timeout(Some(POLL)).ok()?;
    }
    Some(socks)
}

fn relay(sock: UdpSocket, backend: SocketAddr, sw: &Switches, stop: &AtomicBool) {
    let up = UdpSocket::bind("127.0.0.1:0").unwrap();
    up.connect(backend).unwrap();
    up.set_read_timeout(Some(BACKEND_WAIT)).unwrap();
    let mut buf = vec![0u8; 65535];
    let mut reply = vec![0u8; 65535];
    while !stop.load(Ordering::SeqCst) {
        let Ok((len, peer)) = sock.recv_from(&mut buf) else {
            continue;
        };
        sw.queries.fetch_add(1, Ordering::SeqCst);
        if sw.mute.load(Ordering::SeqCst) {
            continue;
        }
        if up.send(&buf[..len]).is_err() {
            continue;
        }
        let Ok(n) = up.recv(&mut reply) else { continue };
        if sw.forge.load(Ordering::SeqCst)
            && let Ok(m) = Message::from_vec(&reply[..n])
        {
            let sent = send_forgeries(&sock, &m, peer);
            sw.forged.fetch_add(sent, Ordering::SeqCst);
        }
        let _ = sock.send_to(&reply[..n], peer);
    }
}

/// Returns how many forged datagrams went out.
fn send_forgeries(sock: &UdpSocket, real: &Message, peer: SocketAddr) -> u64 {
    let mut sent = 0;
    let mut forged = real.clone();
    for r in forged
        .answers
        .iter_mut()
        .chain(forged.authorities.iter_mut())
        .chain(forged.additionals.iter_mut())
    {
        if let RData::A(_) = r.data {
            r.data = RData::A(A::new(6, 6, 6, 6));
        }
    }
    let mut wrong_id = forged.clone();
    wrong_id.metadata.id = real.metadata.id.wrapping_add(1);
    let mut wrong_question = forged.clone();
    if let Some(q) = real.queries.first() {
        let other = if q.query_type() == RecordType::TXT {
            RecordType::MX
        } else {
            RecordType::TXT
        };
        wrong_question.queries = vec![Query::query(q.name().clone(), other)];
    }
    for m in [&wrong_id, &wrong_question] {
        if let Ok(b) = m.to_vec() {
            sent += u64::from(sock.send_to(&b, peer).is_ok());
        }
    }
    if let (Ok(other), Ok(b)) = (
        UdpSocket::bind((sock.local_addr().map(|a| a.ip()).unwrap_or(lab_ip(11)), 0)),
        forged.to_vec(),
    ) {
        sent += u64::from(other.send_to(&b, peer).is_ok());
    }
    sent
}
