//! Tiny DNS responders for the watch tests: a UDP (and optionally TCP) socket on an
//! ephemeral 127.0.0.1 port, served by a thread that hands each query to a closure.
//! Threads rather than tasks, so the same responder serves both in-process probes and
//! the `zonecast` binary run as a child process.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use hickory_proto::op::{Edns, Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Given a query, the datagrams (or TCP messages) to send back, in order.
pub type Handler = Arc<dyn Fn(&Message, Transport) -> Vec<Vec<u8>> + Send + Sync>;

pub struct Responder {
    pub addr: SocketAddr,
    /// Every query received, with its transport.
    pub queries: Arc<Mutex<Vec<(Message, Transport)>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    tcp: bool,
}

impl Responder {
    pub fn udp(handler: Handler) -> Responder {
        Self::start(handler, false)
    }

    pub fn udp_tcp(handler: Handler) -> Responder {
        Self::start(handler, true)
    }

    fn start(handler: Handler, tcp: bool) -> Responder {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let addr = udp.local_addr().expect("udp addr");
        let queries = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        {
            let (handler, queries, stop) = (handler.clone(), queries.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 65535];
                while !stop.load(Ordering::SeqCst) {
                    let Ok((n, from)) = udp.recv_from(&mut buf) else {
                        continue;
                    };
                    let Ok(q) = Message::from_vec(&buf[..n]) else {
                        continue;
                    };
                    queries.lock().unwrap().push((q.clone(), Transport::Udp));
                    for out in handler(&q, Transport::Udp) {
                        let _ = udp.send_to(&out, from);
                    }
                }
            }));
        }
        if tcp {
            let listener = TcpListener::bind(addr).expect("bind tcp on the same port");
            let (handler, queries, stop) = (handler.clone(), queries.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut stream) = stream else { continue };
                    let _ = serve_tcp(&mut stream, &handler, &queries);
                }
            }));
        }
        Responder {
            addr,
            queries,
            stop,
            threads,
            tcp,
        }
    }

    pub fn queries(&self) -> Vec<(Message, Transport)> {
        self.queries.lock().unwrap().clone()
    }
}

fn serve_tcp(
    stream: &mut TcpStream,
    handler: &Handler,
    queries: &Mutex<Vec<(Message, Transport)>>,
) -> std::io::Result<()> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf)?;
    let Ok(q) = Message::from_vec(&buf) else {
        return Ok(());
    };
    queries.lock().unwrap().push((q.clone(), Transport::Tcp));
    for out in handler(&q, Transport::Tcp) {
        stream.write_all(&(out.len() as u16).to_be_bytes())?;
        stream.write_all(&out)?;
    }
    Ok(())
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocked threads: a datagram for the UDP loop, a connection for accept.
        if let Ok(s) = UdpSocket::bind("127.0.0.1:0") {
            let _ = s.send_to(b"stop", self.addr);
        }
        if self.tcp {
            let _ = TcpStream::connect(self.addr);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

pub fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

/// An authoritative-style response to `q`: same ID and question, QR and AA set.
pub fn reply_to(q: &Message) -> Message {
    let mut m = Message::new(q.metadata.id, MessageType::Response, q.metadata.op_code);
    m.metadata.authoritative = true;
    m.metadata.recursion_desired = q.metadata.recursion_desired;
    m.add_queries(q.queries.clone());
    m
}

pub fn with_options(mut m: Message, options: &[(u16, Vec<u8>)]) -> Message {
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    for (code, data) in options {
        edns.options_mut()
            .insert(EdnsOption::Unknown(*code, data.clone()));
    }
    m.set_edns(edns);
    m
}

/// An RFC 9660 ZONEVERSION option carrying an SOA serial.
pub fn zoneversion(labels: u8, serial: u32) -> (u16, Vec<u8>) {
    let mut data = vec![labels, 0];
    data.extend_from_slice(&serial.to_be_bytes());
    (19, data)
}

pub fn expire(secs: u32) -> (u16, Vec<u8>) {
    (9, secs.to_be_bytes().to_vec())
}

pub fn soa(apex: &str, serial: u32) -> Record {
    Record::from_rdata(
        name(apex),
        3600,
        RData::SOA(SOA::new(
            name(&format!("ns1.{apex}")),
            name(&format!("hostmaster.{apex}")),
            serial,
            3600,
            600,
            86400,
            30,
        )),
    )
}

pub fn a(owner: &str, ip: [u8; 4], ttl: u32) -> Record {
    Record::from_rdata(
        name(owner),
        ttl,
        RData::A(A::new(ip[0], ip[1], ip[2], ip[3])),
    )
}

pub fn wire(m: &Message) -> Vec<u8> {
    m.to_vec().unwrap()
}

/// Whether the query carries the EDNS option `code`.
pub fn has_option(q: &Message, code: u16) -> bool {
    q.edns.as_ref().is_some_and(|e| {
        e.options()
            .as_ref()
            .iter()
            .any(|(c, _)| u16::from(*c) == code)
    })
}

pub fn servfail(q: &Message) -> Vec<u8> {
    let mut m = reply_to(q);
    m.metadata.response_code = ResponseCode::ServFail;
    m.metadata.authoritative = false;
    wire(&m)
}
