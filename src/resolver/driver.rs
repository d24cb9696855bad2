//! The tokio driver: moves the iterator's packets and serves clients.
//!
//! Cache hits are answered synchronously inside the UDP loop (no task, no await between
//! receive and send), because the hit path is what the cache-hit benchmark measures.
//! Only misses spawn a task that runs a [`Resolution`] to its end. Each upstream query
//! gets a fresh socket, so the kernel picks a random source port for it, and every
//! datagram that arrives on it is offered to the resolution, which alone decides whether
//! it is the answer.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, LowerName, Name, RecordType};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::cache::{Cache, CachedAnswer, DumpEntry};
use super::config::{Cidr, ConfigError, ResolverConfig};
use super::hints::{self, Hints, HintsError};
use super::iterator::{Action, Infra, IterConfig, Outcome, Outgoing, Resolution, Shared};
use super::memo::{self, Memo};
use super::stamps::Stamps;
use super::wire::{self, ClientQuery, Parsed};

/// The time source; tests substitute a clock they advance by hand.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

#[derive(Debug, Error)]
pub enum ResolverError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Hints(#[from] HintsError),
    #[error("reading root hints {path}: {source}")]
    HintsFile { path: String, source: io::Error },
    #[error("binding {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
}

type Question = (LowerName, RecordType);

/// How long an idle client TCP connection is kept.
const TCP_IDLE: Duration = Duration::from_secs(10);

pub struct Resolver {
    shared: Mutex<Shared>,
    /// Encoded cache answers for replay, checked against the cache's change stamps.
    memo: Mutex<Memo>,
    stamps: Arc<Stamps>,
    iter: Arc<IterConfig>,
    acl: Vec<Cidr>,
    clock: Clock,
    /// Client questions being resolved, with the clients waiting for the same answer,
    /// so a burst of identical misses costs one resolution.
    inflight: Mutex<HashMap<Question, Vec<oneshot::Sender<Outcome>>>>,
    /// Client misses being resolved for UDP clients.
    misses: AtomicUsize,
}

/// Client misses resolved at once at most (Unbound's num-queries-per-thread is 1024
/// per thread).
const MAX_MISSES: usize = 4096;

/// One counted miss; freed when its task ends however it ends.
struct MissSlot(Arc<Resolver>);

impl MissSlot {
    fn take(r: &Arc<Resolver>) -> Option<MissSlot> {
        let prev = r.misses.fetch_add(1, Ordering::AcqRel);
        if prev >= MAX_MISSES {
            r.misses.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(MissSlot(r.clone()))
    }
}

impl Drop for MissSlot {
    fn drop(&mut self) {
        self.0.misses.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Removes an in-flight entry however its resolution ends (a dropped TCP client
/// cancels it): waiters then see their sender dropped and resolve for themselves.
struct InflightGuard<'a> {
    resolver: &'a Resolver,
    key: Question,
}

impl InflightGuard<'_> {
    fn finish(self, out: &Outcome) {
        let waiters = self.resolver.take_waiters(&self.key);
        for w in waiters {
            let _ = w.send(out.clone());
        }
    }
}

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.resolver.take_waiters(&self.key);
    }
}

/// What the synchronous path made of a client datagram.
pub enum Fast {
    Reply(Vec<u8>),
    /// Not in the cache: resolve it (asynchronously) and answer then.
    Miss(Box<ClientQuery>),
    Drop,
}

impl Resolver {
    /// A resolver per `cfg`, reading its root hints file if one is set.
    pub fn new(cfg: &ResolverConfig) -> Result<Self, ResolverError> {
        let hints = match &cfg.root_hints {
            Some(path) => {
                let p = path.display().to_string();
                let text =
                    std::fs::read_to_string(path).map_err(|source| ResolverError::HintsFile {
                        path: p.clone(),
                        source,
                    })?;
                hints::parse_hints(&p, &text)?
            }
            None => hints::default_hints(),
        };
        Self::with_hints(cfg, hints)
    }

    pub fn with_hints(cfg: &ResolverConfig, root_hints: Hints) -> Result<Self, ResolverError> {
        let iter = IterConfig {
            root_hints,
            upstream_port: cfg.upstream_port,
            forward: cfg.forwarders()?,
            qname_minimisation: cfg.qname_minimisation,
            use_0x20: cfg.use_0x20,
            max_queries: cfg.max_queries,
            max_timeout: Duration::from_millis(cfg.upstream_timeout_ms.max(1)),
            ..IterConfig::default()
        };
        let cache = Cache::new(cfg.cache.clone());
        Ok(Resolver {
            stamps: cache.stamps(),
            memo: Mutex::new(Memo::default()),
            shared: Mutex::new(Shared {
                cache,
                infra: Infra::default(),
            }),
            iter: Arc::new(iter),
            acl: cfg.acl()?,
            clock: Arc::new(Instant::now),
            inflight: Mutex::new(HashMap::new()),
            misses: AtomicUsize::new(0),
        })
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn now(&self) -> Instant {
        (self.clock)()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves one question, from the cache when it can.
    pub async fn resolve(&self, name: &Name, qtype: RecordType) -> Outcome {
        let mut res = Resolution::new(name.clone(), qtype, self.iter.clone());
        self.drive(&mut res).await
    }

    fn take_waiters(&self, key: &Question) -> Vec<oneshot::Sender<Outcome>> {
        let mut map = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(key).unwrap_or_default()
    }

    /// Resolves a client question, joining an identical one already under way.
    async fn resolve_joined(&self, name: &Name, qtype: RecordType) -> Outcome {
        let key = (LowerName::new(name), qtype);
        let rx = {
            let mut map = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            match map.get_mut(&key) {
                Some(waiters) => {
                    let (tx, rx) = oneshot::channel();
                    waiters.push(tx);
                    Some(rx)
                }
                None => {
                    map.insert(key.clone(), Vec::new());
                    None
                }
            }
        };
        if let Some(rx) = rx {
            if let Ok(out) = rx.await {
                return out;
            }
            return self.resolve(name, qtype).await;
        }
        let guard = InflightGuard {
            resolver: self,
            key,
        };
        let out = self.resolve(name, qtype).await;
        guard.finish(&out);
        out
    }

    /// Resolves and returns each step taken, for `zonecast resolve --trace`.
    pub async fn resolve_traced(&self, name: &Name, qtype: RecordType) -> (Outcome, Vec<String>) {
        let mut res = Resolution::new(name.clone(), qtype, self.iter.clone()).with_trace();
        let out = self.drive(&mut res).await;
        (out, res.take_trace())
    }

    async fn drive(&self, res: &mut Resolution) -> Outcome {
        loop {
            let action = {
                let mut sh = self.lock();
                res.poll(&mut sh, self.now())
            };
            match action {
                Action::Done(out) => return out,
                Action::Send(out) => self.exchange(res, out).await,
                // Nothing pending yet waiting: cannot happen, but never spin on it.
                Action::Wait(_) => {
                    return Outcome {
                        rcode: ResponseCode::ServFail,
                        answers: Vec::new(),
                        authorities: Vec::new(),
                    };
                }
            }
        }
    }

    /// Sends one upstream query and feeds what comes back to the resolution until it
    /// accepts a reply or the deadline passes.
    async fn exchange(&self, res: &mut Resolution, out: Outgoing) {
        let wait = out.deadline.saturating_duration_since(self.now());
        let accepted = if out.tcp {
            match tokio::time::timeout(wait, tcp_exchange(out.addr, &out.payload)).await {
                Ok(Ok(bytes)) => {
                    let mut sh = self.lock();
                    res.on_response(out.token, out.addr, &bytes, &mut sh, self.now())
                }
                _ => false,
            }
        } else {
            let deadline = tokio::time::Instant::now() + wait;
            self.udp_exchange(res, &out, deadline).await
        };
        if !accepted {
            let mut sh = self.lock();
            res.on_timeout(out.token, &mut sh, self.now());
        }
    }

    async fn udp_exchange(
        &self,
        res: &mut Resolution,
        out: &Outgoing,
        deadline: tokio::time::Instant,
    ) -> bool {
        let local: SocketAddr = match out.addr {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let Ok(sock) = UdpSocket::bind(local).await else {
            return false;
        };
        if sock.send_to(&out.payload, out.addr).await.is_err() {
            return false;
        }
        // We advertise EDNS_PAYLOAD; a reply larger than this buffer is cut by the
        // kernel, fails to parse and is ignored like any other garbage.
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok(Ok((len, from))) =
                tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await
            else {
                return false;
            };
            let bytes = buf.get(..len).unwrap_or_default();
            let mut sh = self.lock();
            if res.on_response(out.token, from, bytes, &mut sh, self.now()) {
                return true;
            }
        }
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        self.acl.iter().any(|c| c.contains(ip))
    }

    /// The synchronous part of answering a client: replay, or parse, ACL, cache.
    pub fn handle_fast(self: &Arc<Self>, bytes: &[u8], peer: SocketAddr, tcp: bool) -> Fast {
        let peeked = memo::peek(bytes);
        if let Some(p) = &peeked
            && self.allowed(peer.ip())
        {
            let limit = if tcp {
                65535
            } else {
                p.edns
                    .map_or(512, |s| usize::from(s.clamp(512, wire::EDNS_PAYLOAD)))
            };
            let mut out = Vec::new();
            let memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
            if memo.replay(bytes, p, &self.stamps, self.now(), limit, &mut out) {
                return Fast::Reply(out);
            }
        }
        let msg = match wire::parse_query(bytes, tcp) {
            Parsed::Drop => return Fast::Drop,
            Parsed::Error(reply) => return Fast::Reply(reply),
            Parsed::Query(m) => m,
        };
        let limit = wire::limit(&msg, tcp);
        let refuse = |rc| Fast::Reply(wire::encode_reply(&msg, rc, &[], &[], limit));
        // As Unbound's `allow`: RD=0 queries would only snoop the cache, so they are
        // refused like clients outside the ACL.
        if !self.allowed(peer.ip()) || !msg.recursion_desired {
            return refuse(ResponseCode::Refused);
        }
        if msg.qclass != DNSClass::IN || matches!(msg.qtype, RecordType::AXFR | RecordType::IXFR) {
            return refuse(ResponseCode::Refused);
        }
        let (name, qtype) = (msg.qname.clone(), msg.qtype);
        let now = self.now();
        let hit = {
            let mut sh = self.lock();
            match sh.cache.answer(&name, qtype, DNSClass::IN, now, false) {
                Some(h) if h.rcode == ResponseCode::ServFail => sh
                    .cache
                    .answer(&name, qtype, DNSClass::IN, now, true)
                    .or(Some(h)),
                h => h,
            }
        };
        match hit {
            Some(h) => {
                if h.prefetch {
                    let me = self.clone();
                    tokio::spawn(async move {
                        let mut res = Resolution::refresh(name, qtype, me.iter.clone());
                        me.drive(&mut res).await;
                    });
                }
                let replayable = !h.stale && h.rcode != ResponseCode::ServFail;
                let (fresh, stamp) = (h.fresh, h.stamp.clone());
                let out = reply_from(&msg, h, limit);
                if let (Some(p), true) = (&peeked, replayable) {
                    let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
                    memo.remember(p, &out, stamp, now, fresh);
                }
                Fast::Reply(out)
            }
            None => Fast::Miss(msg),
        }
    }

    /// Answers a query the cache could not, resolving it; serves stale data (when
    /// enabled) if resolution fails.
    pub async fn answer_miss(&self, msg: &ClientQuery, limit: usize) -> Vec<u8> {
        let out = self.resolve_joined(&msg.qname, msg.qtype).await;
        if out.rcode == ResponseCode::ServFail {
            let stale = {
                let now = self.now();
                self.lock()
                    .cache
                    .answer(&msg.qname, msg.qtype, DNSClass::IN, now, true)
            };
            if let Some(h) = stale {
                return reply_from(msg, h, limit);
            }
        }
        wire::encode_reply(msg, out.rcode, &out.answers, &out.authorities, limit)
    }

    pub fn dump(&self) -> Vec<DumpEntry> {
        let now = self.now();
        self.lock().cache.dump(now)
    }

    pub fn flush_name(&self, name: &Name) -> usize {
        self.lock().cache.flush_name(name)
    }

    pub fn flush_subtree(&self, name: &Name) -> usize {
        self.lock().cache.flush_subtree(name)
    }

    pub fn flush_all(&self) -> usize {
        self.lock().cache.flush_all()
    }

    /// Binds UDP and TCP on every address (port 0: one free port for both) and serves
    /// until the returned handle is dropped.
    pub async fn serve(self: &Arc<Self>, addrs: &[SocketAddr]) -> Result<Running, ResolverError> {
        let mut running = Running {
            addrs: Vec::new(),
            tasks: Vec::new(),
        };
        for &addr in addrs {
            let (udp, tcp, local) = bind_pair(addr).await?;
            running.addrs.push(local);
            running
                .tasks
                .push(tokio::spawn(udp_loop(self.clone(), Arc::new(udp))));
            running
                .tasks
                .push(tokio::spawn(tcp_loop(self.clone(), tcp)));
        }
        Ok(running)
    }
}

/// UDP and TCP on one address. With port 0 the UDP port is chosen first, and the TCP
/// side retried on a new one if that port is busy for TCP.
async fn bind_pair(
    addr: SocketAddr,
) -> Result<(UdpSocket, TcpListener, SocketAddr), ResolverError> {
    let mut attempts = if addr.port() == 0 { 20 } else { 1 };
    loop {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|source| ResolverError::Bind { addr, source })?;
        let local = udp
            .local_addr()
            .map_err(|source| ResolverError::Bind { addr, source })?;
        match TcpListener::bind(local).await {
            Ok(tcp) => return Ok((udp, tcp, local)),
            Err(source) => {
                attempts -= 1;
                if attempts == 0 {
                    return Err(ResolverError::Bind {
                        addr: local,
                        source,
                    });
                }
            }
        }
    }
}

fn reply_from(msg: &ClientQuery, h: CachedAnswer, limit: usize) -> Vec<u8> {
    wire::encode_reply(msg, h.rcode, &h.answers, &h.authorities, limit)
}

/// A serving resolver; dropping it stops its loops.
pub struct Running {
    /// The bound addresses (UDP and TCP share each).
    pub addrs: Vec<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn udp_loop(r: Arc<Resolver>, sock: Arc<UdpSocket>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((len, peer)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let bytes = buf.get(..len).unwrap_or_default();
        match r.handle_fast(bytes, peer, false) {
            Fast::Reply(out) => {
                if sock.try_send_to(&out, peer).is_err() {
                    let _ = sock.send_to(&out, peer).await;
                }
            }
            Fast::Miss(msg) => {
                // Past the cap a miss is dropped (the client retries), as Unbound does
                // when its query list is full: a flood of unique names cannot make
                // unbounded tasks and upstream sockets.
                let Some(slot) = MissSlot::take(&r) else {
                    continue;
                };
                let (r, sock) = (r.clone(), sock.clone());
                tokio::spawn(async move {
                    let out = r.answer_miss(&msg, wire::limit(&msg, false)).await;
                    let _ = sock.send_to(&out, peer).await;
                    drop(slot);
                });
            }
            Fast::Drop => {}
        }
    }
}

async fn tcp_loop(r: Arc<Resolver>, listener: TcpListener) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(tcp_conn(r.clone(), stream, peer));
    }
}

async fn tcp_conn(r: Arc<Resolver>, mut stream: TcpStream, peer: SocketAddr) {
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut buf).await.is_err() {
            return;
        }
        let out = match r.handle_fast(&buf, peer, true) {
            Fast::Reply(out) => out,
            Fast::Miss(msg) => r.answer_miss(&msg, wire::limit(&msg, true)).await,
            Fast::Drop => return,
        };
        let Ok(n) = u16::try_from(out.len()) else {
            return;
        };
        if stream.write_all(&n.to_be_bytes()).await.is_err()
            || stream.write_all(&out).await.is_err()
        {
            return;
        }
    }
}

async fn tcp_exchange(addr: SocketAddr, payload: &[u8]) -> io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await?;
    let len = u16::try_from(payload.len()).map_err(|_| io::Error::other("query too long"))?;
    let mut framed = Vec::with_capacity(payload.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(payload);
    s.write_all(&framed).await?;
    let mut l = [0u8; 2];
    s.read_exact(&mut l).await?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(l))];
    s.read_exact(&mut buf).await?;
    Ok(buf)
}
