//! Iterative resolution (RFC 1034 §5.3.3) as a sans-IO state machine.
//!
//! A [`Resolution`] is fed the current time, upstream datagrams and timeouts, and answers
//! with the next query to send ([`Action::Send`]) or its outcome. It sends one query at a
//! time: the driver gives each its own socket (so a random source port), and hands back
//! whatever arrives; the resolution alone decides whether it is the reply (same address
//! and port, same ID, same question, case-exact under 0x20) or a forgery to ignore.
//!
//! Sub-resolutions (addresses of NS names without glue) are frames on a stack inside the
//! same resolution, so depth, chain length and the total number of upstream queries are
//! bounded per client query.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};

use super::cache::{Cache, Rank};

pub use super::upstream::{Infra, IterConfig};

/// The state resolutions share: one lock in the driver covers both.
#[derive(Debug)]
pub struct Shared {
    pub cache: Cache,
    pub infra: Infra,
}

/// One upstream query for the driver to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub token: u64,
    pub addr: SocketAddr,
    pub tcp: bool,
    pub payload: Vec<u8>,
    /// When to call [`Resolution::on_timeout`] if no reply was accepted.
    pub deadline: Instant,
}

/// The result handed to the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
}

impl Outcome {
    fn fail() -> Self {
        Outcome {
            rcode: ResponseCode::ServFail,
            answers: Vec::new(),
            authorities: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Send(Outgoing),
    /// A query is out; nothing to do before its reply or deadline.
    Wait(Instant),
    Done(Outcome),
}

#[derive(Debug, Clone)]
struct Frame {
    /// The question this frame was opened for.
    original: Name,
    qtype: RecordType,
    /// The current target, moved along CNAMEs.
    qname: Name,
    cnames: Vec<Record>,
    /// The zone cut being asked and its servers, once known.
    zone: Option<Name>,
    servers: Vec<(Name, Vec<IpAddr>)>,
    tries: HashMap<SocketAddr, u8>,
    /// NS names a sub-resolution was already started for, under this cut.
    ns_tried: HashSet<(LowerName, RecordType)>,
    /// Labels of the next minimised query name (RFC 9156).
    min_labels: u8,
    minimise: bool,
    /// Set by TC: the next query to the same server goes over TCP.
    tcp_retry: Option<SocketAddr>,
    /// Prefetch refreshes skip the cache for the first question.
    skip_cache: bool,
    /// Zone cuts whose servers could not be reached from the cache's data (e.g. an NS
    /// name inside its own zone without glue): start above them instead, as Unbound
    /// does.
    unusable: Vec<Name>,
}

impl Frame {
    fn new(mut qname: Name, qtype: RecordType, minimise: bool) -> Self {
        // Names off the wire are absolute; one typed by hand may not be yet, and a
        // relative name would never match the echoed question.
        qname.set_fqdn(true);
        Frame {
            original: qname.clone(),
            qtype,
            qname,
            cnames: Vec::new(),
            zone: None,
            servers: Vec::new(),
            tries: HashMap::new(),
            ns_tried: HashSet::new(),
            min_labels: 0,
            minimise,
            tcp_retry: None,
            skip_cache: false,
            unusable: Vec::new(),
        }
    }

    /// Where the CNAMEs followed so far lead.
    fn chain_end(&self) -> Name {
        match self.cnames.last().map(|c| &c.data) {
            Some(RData::CNAME(t)) => t.0.clone(),
            _ => self.qname.clone(),
        }
    }

    fn set_cut(&mut self, zone: Name, servers: Vec<(Name, Vec<IpAddr>)>) {
        self.zone = Some(zone);
        self.servers = servers;
        self.tries.clear();
        self.ns_tried.clear();
        self.tcp_retry = None;
    }
}

#[derive(Debug, Clone)]
struct Pending {
    token: u64,
    id: u16,
    addr: SocketAddr,
    query: Query,
    tcp: bool,
    sent: Instant,
    deadline: Instant,
    minimised: bool,
}

/// One client question being resolved.
#[derive(Debug)]
pub struct Resolution {
    cfg: Arc<IterConfig>,
    class: DNSClass,
    frames: Vec<Frame>,
    pending: Option<Pending>,
    sent: usize,
    next_token: u64,
    trace: Option<Vec<String>>,
    result: Option<Outcome>,
}

fn randomise_case(name: &Name) -> Name {
    let flipped: String = name
        .to_ascii()
        .chars()
        .map(|c| {
            if c.is_ascii_alphabetic() && rand::random::<bool>() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    Name::from_ascii(&flipped).unwrap_or_else(|_| name.clone())
}

fn group_rrsets(records: &[Record]) -> Vec<Vec<Record>> {
    let mut out: Vec<Vec<Record>> = Vec::new();
    for r in records {
        match out.iter_mut().find(|set| {
            set.first().is_some_and(|f| {
                f.name == r.name && f.record_type() == r.record_type() && f.dns_class == r.dns_class
            })
        }) {
            Some(set) => set.push(r.clone()),
            None => out.push(vec![r.clone()]),
        }
    }
    out
}

impl Resolution {
    pub fn new(qname: Name, qtype: RecordType, cfg: Arc<IterConfig>) -> Self {
        let minimise = cfg.qname_minimisation && cfg.forward.is_empty();
        Resolution {
            frames: vec![Frame::new(qname, qtype, minimise)],
            cfg,
            class: DNSClass::IN,
            pending: None,
            sent: 0,
            next_token: 1,
            trace: None,
            result: None,
        }
    }

    /// A resolution that ignores the cache for its own question: the prefetch refresh.
    pub fn refresh(qname: Name, qtype: RecordType, cfg: Arc<IterConfig>) -> Self {
        let mut r = Self::new(qname, qtype, cfg);
        if let Some(f) = r.frames.first_mut() {
            f.skip_cache = true;
        }
        r
    }

    /// Records each step of the walk for `zonecast resolve --trace`.
    pub fn with_trace(mut self) -> Self {
        self.trace = Some(Vec::new());
        self
    }

    pub fn take_trace(&mut self) -> Vec<String> {
        self.trace.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Upstream queries sent so far.
    pub fn queries_sent(&self) -> usize {
        self.sent
    }

    fn note(&mut self, f: impl FnOnce() -> String) {
        if let Some(t) = &mut self.trace {
            let depth = self.frames.len().saturating_sub(1);
            t.push(format!("{}{}", "  ".repeat(depth), f()));
        }
    }

    /// Advances until a query must be sent or the resolution is over.
    pub fn poll(&mut self, shared: &mut Shared, now: Instant) -> Action {
        if let Some(p) = &self.pending {
            return Action::Wait(p.deadline);
        }
        loop {
            match self.step(shared, now) {
                Some(action) => return action,
                None => continue,
            }
        }
    }

    /// One step; `None` means "state changed, go round again".
    fn step(&mut self, shared: &mut Shared, now: Instant) -> Option<Action> {
        if let Some(out) = self.result.take() {
            return Some(Action::Done(out));
        }
        let depth = self.frames.len();
        let Some(frame) = self.frames.last_mut() else {
            return Some(Action::Done(Outcome::fail()));
        };
        if frame.zone.is_none() {
            if frame.cnames.len() > self.cfg.max_cname_chain {
                return self.finish_failure(shared, now, "CNAME chain too long");
            }
            if !std::mem::take(&mut frame.skip_cache) {
                if let Some(hit) =
                    shared
                        .cache
                        .answer(&frame.qname, frame.qtype, self.class, now, false)
                {
                    let qn = frame.qname.clone();
                    self.note(|| format!("cache: {qn} answered from cache ({})", hit.rcode));
                    let mut answers = std::mem::take(&mut self.frames[depth - 1].cnames);
                    answers.extend(hit.answers);
                    let out = Outcome {
                        rcode: hit.rcode,
                        answers,
                        authorities: hit.authorities,
                    };
                    self.complete(out);
                    return None;
                }
                if frame.qtype != RecordType::CNAME
                    && let Some(super::cache::Hit::Records(rs)) = shared.cache.lookup(
                        &frame.qname,
                        RecordType::CNAME,
                        self.class,
                        Rank::ANSWERABLE,
                        now,
                    )
                    && let Some(RData::CNAME(t)) = rs.first().map(|r| &r.data)
                {
                    frame.qname = t.0.clone();
                    frame.cnames.extend(rs);
                    return None;
                }
            }
            let (zone, servers) = if !self.cfg.forward.is_empty() {
                let fw = self
                    .cfg
                    .forward
                    .iter()
                    .map(|a| (Name::root(), vec![a.ip()]))
                    .collect();
                (Name::root(), fw)
            } else {
                let mut probe = frame.qname.clone();
                loop {
                    match shared.cache.closest_delegation(&probe, now) {
                        Some(d) if frame.unusable.contains(&d.zone) => {
                            if d.zone.is_root() {
                                break (Name::root(), self.cfg.root_hints.clone());
                            }
                            probe = d.zone.base_name();
                        }
                        Some(d) => break (d.zone, d.servers),
                        None => break (Name::root(), self.cfg.root_hints.clone()),
                    }
                }
            };
            let qn = frame.qname.clone();
            frame.set_cut(zone.clone(), servers);
            frame.min_labels = zone.num_labels() + 1;
            self.note(|| format!("{qn}: start at zone {zone}"));
            return None;
        }

        if self.sent >= self.cfg.max_queries {
            return self.finish_failure(shared, now, "query budget exhausted");
        }
        let port = self.cfg.upstream_port;
        let forward = !self.cfg.forward.is_empty();
        let tries_max = self.cfg.tries_per_server;
        // A TC reply: same server again, over TCP.
        let (addr, tcp) = if let Some(addr) = frame.tcp_retry.take() {
            (addr, true)
        } else {
            let candidates = frame
                .servers
                .iter()
                .flat_map(|(_, ips)| ips.iter())
                .map(|ip| {
                    if forward {
                        self.cfg
                            .forward
                            .iter()
                            .find(|a| a.ip() == *ip)
                            .copied()
                            .unwrap_or(SocketAddr::new(*ip, port))
                    } else {
                        SocketAddr::new(*ip, port)
                    }
                });
            let best = candidates
                .filter(|a| frame.tries.get(a).copied().unwrap_or(0) < tries_max)
                .min_by_key(|a| {
                    (
                        frame.tries.get(a).copied().unwrap_or(0),
                        shared.infra.srtt(a),
                    )
                });
            match best {
                Some(a) => (a, false),
                None => {
                    // No usable address: look up an NS name that has none yet.
                    // Addresses of NS names without any: IPv4 for every name first,
                    // then IPv6. A name an enclosing frame is resolving would loop.
                    let (ancestors, rest) = self.frames.split_at(depth - 1);
                    let Some(cur) = rest.first() else {
                        return Some(Action::Done(Outcome::fail()));
                    };
                    let unresolved = [RecordType::A, RecordType::AAAA].into_iter().find_map(|t| {
                        cur.servers
                            .iter()
                            .filter(|(_, ips)| ips.is_empty())
                            .map(|(n, _)| n)
                            .find(|n| {
                                !cur.ns_tried.contains(&(LowerName::new(n), t))
                                    && ancestors.iter().all(|f| f.original != **n)
                            })
                            .map(|n| (n.clone(), t))
                    });
                    let Some((ns, ns_type)) = unresolved else {
                        // No server of this cut could even be asked: try again from the
                        // zone above, unless this is the top. (Servers that were asked
                        // and failed make the question fail, not loop via the parent.)
                        if let Some(f) = self.frames.last_mut()
                            && f.tries.is_empty()
                            && let Some(zone) = f.zone.take()
                            && !zone.is_root()
                            && !f.unusable.contains(&zone)
                        {
                            f.unusable.push(zone.clone());
                            self.note(|| format!("  no usable server for {zone}, going up"));
                            return None;
                        }
                        return self.finish_failure(shared, now, "no server left to ask");
                    };
                    if let Some(f) = self.frames.last_mut() {
                        f.ns_tried.insert((LowerName::new(&ns), ns_type));
                    }
                    if depth >= self.cfg.max_depth {
                        return self.finish_failure(shared, now, "too deep");
                    }
                    self.note(|| format!("{ns}: NS name without address, resolving {ns_type}"));
                    let minimise = self.cfg.qname_minimisation && !forward;
                    self.frames.push(Frame::new(ns, ns_type, minimise));
                    return None;
                }
            }
        };
        Some(self.send(addr, tcp, shared, now))
    }

    fn send(&mut self, addr: SocketAddr, tcp: bool, shared: &mut Shared, now: Instant) -> Action {
        let forward = !self.cfg.forward.is_empty();
        let Some(frame) = self.frames.last_mut() else {
            return Action::Done(Outcome::fail());
        };
        *frame.tries.entry(addr).or_insert(0) += 1;
        let full = frame.qname.num_labels();
        let minimised = frame.minimise && frame.min_labels < full;
        let (qname, qtype) = if minimised {
            (
                frame.qname.trim_to(usize::from(frame.min_labels)),
                RecordType::A,
            )
        } else {
            (frame.qname.clone(), frame.qtype)
        };
        let qname = if self.cfg.use_0x20 {
            randomise_case(&qname)
        } else {
            qname
        };
        let zone = frame.zone.clone().unwrap_or_else(Name::root);
        let id: u16 = rand::random();
        let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
        msg.metadata.recursion_desired = forward;
        let mut query = Query::query(qname.clone(), qtype);
        query.set_query_class(self.class);
        msg.add_query(query.clone());
        let mut edns = Edns::new();
        edns.set_max_payload(self.cfg.edns_payload);
        msg.set_edns(edns);
        let payload = msg.to_vec().unwrap_or_default();
        let token = self.next_token;
        self.next_token += 1;
        self.sent += 1;
        let deadline = now + shared.infra.timeout_for(&addr).min(self.cfg.max_timeout);
        self.pending = Some(Pending {
            token,
            id,
            addr,
            query,
            tcp,
            sent: now,
            deadline,
            minimised,
        });
        self.note(|| {
            format!(
                "query {qname} {qtype} @{addr}{} (zone {zone}){}",
                if tcp { " tcp" } else { "" },
                if minimised { " [minimised]" } else { "" }
            )
        });
        Action::Send(Outgoing {
            token,
            addr,
            tcp,
            payload,
            deadline,
        })
    }

    /// The outstanding query's deadline passed without an accepted reply (or the driver
    /// could not send it). Stale tokens are ignored.
    pub fn on_timeout(&mut self, token: u64, shared: &mut Shared, _now: Instant) {
        let Some(p) = self.pending.take_if(|p| p.token == token) else {
            return;
        };
        shared.infra.timed_out(p.addr);
        self.note(|| format!("  timeout from {}", p.addr));
    }

    /// Offers a datagram (or TCP message) that arrived for query `token` from `from`.
    /// Returns false, changing nothing, unless it is the reply: right source address and
    /// port, right ID, the exact question asked.
    pub fn on_response(
        &mut self,
        token: u64,
        from: SocketAddr,
        bytes: &[u8],
        shared: &mut Shared,
        now: Instant,
    ) -> bool {
        let Some(p) = &self.pending else {
            return false;
        };
        if p.token != token || from != p.addr {
            return false;
        }
        let Ok(msg) = Message::from_vec(bytes) else {
            return false;
        };
        if msg.metadata.id != p.id || msg.metadata.message_type != MessageType::Response {
            return false;
        }
        let [q] = msg.queries.as_slice() else {
            return false;
        };
        let same_name = if self.cfg.use_0x20 {
            q.name().eq_case(p.query.name())
        } else {
            q.name() == p.query.name()
        };
        if !same_name
            || q.query_type() != p.query.query_type()
            || q.query_class() != p.query.query_class()
        {
            return false;
        }
        let Some(p) = self.pending.take() else {
            return false;
        };
        shared
            .infra
            .observe(p.addr, now.saturating_duration_since(p.sent));
        self.process(p, msg, shared, now);
        true
    }

    /// The current frame is answered: either the whole resolution is, or a parent frame
    /// gets addresses for one of its NS names.
    fn complete(&mut self, out: Outcome) {
        let done = self.frames.pop();
        match (done, self.frames.last_mut()) {
            (Some(done), Some(parent)) => {
                let ips: Vec<IpAddr> = out
                    .answers
                    .iter()
                    .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
                    .filter_map(|r| r.data.ip_addr())
                    .collect();
                for (name, addrs) in &mut parent.servers {
                    if *name == done.original {
                        addrs.extend(ips.iter().copied());
                    }
                }
            }
            _ => self.result = Some(out),
        }
    }

    /// The current frame cannot be answered. A sub-resolution failing only costs its
    /// parent one server name; the client question failing is cached briefly (RFC 9520).
    fn finish_failure(&mut self, shared: &mut Shared, now: Instant, why: &str) -> Option<Action> {
        self.note(|| format!("  failed: {why}"));
        if self.frames.len() > 1 && self.sent < self.cfg.max_queries {
            self.frames.pop();
            return None;
        }
        if let Some(top) = self.frames.first() {
            shared.cache.insert_failure(
                &top.original,
                top.qtype,
                self.class,
                ResponseCode::ServFail,
                now,
            );
        }
        self.frames.clear();
        Some(Action::Done(Outcome::fail()))
    }
}

#[path = "iterator_process.rs"]
mod process;

#[cfg(test)]
#[path = "iterator_tests.rs"]
mod tests;
