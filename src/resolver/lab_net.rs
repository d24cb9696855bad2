//! The lab hierarchy on loopback sockets: one UDP and TCP responder per lab address,
//! all on one port. Used by `tests/resolver.rs` and `examples/lab.rs` (for trying the
//! resolver by hand with `dig` or `zonecast resolve`).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use super::lab::{self, LabServer};

pub struct LabNode {
    pub server: RwLock<LabServer>,
    /// Send forged replies (wrong ID, then from another port) before the real one, to
    /// test that the resolver ignores them.
    pub forge: AtomicBool,
    /// Drop every query, as a server that is down.
    pub mute: AtomicBool,
    /// UDP queries received.
    pub queries: AtomicU64,
}

impl LabNode {
    fn respond(&self, q: &Message) -> Message {
        self.server
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .respond(q)
    }

    fn addr(&self) -> IpAddr {
        self.server.read().unwrap_or_else(|e| e.into_inner()).addr
    }
}

/// The running lab; dropping it stops every responder.
pub struct Lab {
    pub port: u16,
    pub nodes: Vec<Arc<LabNode>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn send_forgeries(sock: &UdpSocket, resp: &Message, peer: SocketAddr) -> io::Result<()> {
    let mut forged = resp.clone();
    for r in &mut forged.answers {
        if let RData::A(_) = r.data {
            r.data = RData::A(A::new(6, 6, 6, 6));
        }
    }
    let mut wrong_id = forged.clone();
    wrong_id.metadata.id = resp.metadata.id.wrapping_add(1);
    sock.send_to(&wrong_id.to_vec().map_err(io::Error::other)?, peer)
        .await?;
    let other = UdpSocket::bind((sock.local_addr()?.ip(), 0)).await?;
    other
        .send_to(&forged.to_vec().map_err(io::Error::other)?, peer)
        .await?;
    Ok(())
}

async fn serve_udp(node: Arc<LabNode>, sock: UdpSocket) {
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((len, peer)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let Some(Ok(q)) = buf.get(..len).map(Message::from_vec) else {
            continue;
        };
        node.queries.fetch_add(1, Ordering::SeqCst);
        if node.mute.load(Ordering::SeqCst) {
            continue;
        }
        let resp = node.respond(&q);
        if node.forge.load(Ordering::SeqCst) {
            let _ = send_forgeries(&sock, &resp, peer).await;
        }
        if let Ok(out) = resp.to_vec() {
            let _ = sock.send_to(&out, peer).await;
        }
    }
}

async fn serve_tcp_conn(node: Arc<LabNode>, mut s: TcpStream) -> io::Result<()> {
    let mut len = [0u8; 2];
    loop {
        s.read_exact(&mut len).await?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut buf).await?;
        let q = Message::from_vec(&buf).map_err(io::Error::other)?;
        let out = node.respond(&q).to_vec().map_err(io::Error::other)?;
        let n = u16::try_from(out.len()).map_err(io::Error::other)?;
        s.write_all(&n.to_be_bytes()).await?;
        s.write_all(&out).await?;
    }
}

async fn serve_tcp(node: Arc<LabNode>, l: TcpListener) {
    loop {
        let Ok((s, _)) = l.accept().await else {
            continue;
        };
        tokio::spawn(serve_tcp_conn(node.clone(), s));
    }
}

impl Lab {
    /// Binds every lab address on one port: `port`, or a free one (0), retrying when
    /// another process holds it on some address.
    pub async fn start(port: u16) -> io::Result<Lab> {
        let mut last_err = io::Error::other("no attempt");
        for _ in 0..50 {
            match Self::try_start(port).await {
                Ok(lab) => return Ok(lab),
                Err(e) if port == 0 => last_err = e,
                Err(e) => return Err(e),
            }
        }
        Err(last_err)
    }

    async fn try_start(port: u16) -> io::Result<Lab> {
        let servers = lab::hierarchy();
        let first_addr = servers
            .first()
            .map(|s| s.addr)
            .ok_or_else(|| io::Error::other("empty lab"))?;
        let first = UdpSocket::bind((first_addr, port)).await?;
        let port = first.local_addr()?.port();
        let mut socks = vec![first];
        for s in servers.iter().skip(1) {
            socks.push(UdpSocket::bind((s.addr, port)).await?);
        }
        let mut listeners = Vec::new();
        for s in &servers {
            listeners.push(TcpListener::bind((s.addr, port)).await?);
        }
        let mut lab = Lab {
            port,
            nodes: Vec::new(),
            tasks: Vec::new(),
        };
        for ((server, udp), tcp) in servers.into_iter().zip(socks).zip(listeners) {
            let node = Arc::new(LabNode {
                server: RwLock::new(server),
                forge: AtomicBool::new(false),
                mute: AtomicBool::new(false),
                queries: AtomicU64::new(0),
            });
            lab.tasks.push(tokio::spawn(serve_udp(node.clone(), udp)));
            lab.tasks.push(tokio::spawn(serve_tcp(node.clone(), tcp)));
            lab.nodes.push(node);
        }
        Ok(lab)
    }

    /// Edits the example.test zone on all three of its servers, as a change that has
    /// reached every secondary.
    pub fn edit_example(&self, f: impl Fn(&mut Vec<Record>)) {
        let apex = Name::from_ascii("example.test.").unwrap_or_default();
        for node in &self.nodes {
            let mut s = node.server.write().unwrap_or_else(|e| e.into_inner());
            for z in &mut s.zones {
                if z.apex == apex {
                    f(&mut z.records);
                }
            }
        }
    }

    /// UDP queries received by all responders so far.
    pub fn queries(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.queries.load(Ordering::SeqCst))
            .sum()
    }

    /// The responder on 127.0.0.`last`.
    pub fn node(&self, last: u8) -> Option<&LabNode> {
        let ip = IpAddr::from([127, 0, 0, last]);
        self.nodes
            .iter()
            .find(|n| n.addr() == ip)
            .map(|n| n.as_ref())
    }
}
