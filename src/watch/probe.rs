//! Asking servers: one query over UDP (TCP when truncated), bounded by a timeout, with
//! random IDs and replies matched to their query; and a polling round that asks every
//! server at once and turns what came back into model observations.
//!
//! The digesting of replies into [`Reply`] is pure and public so that it is tested on
//! its own; only [`exchange`] and [`Prober`] touch sockets.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::model::{AnswerData, Observation, Outcome, Reply, SerialSource, ServerSpec};

/// RFC 7314 EDNS EXPIRE option code.
pub const OPT_EXPIRE: u16 = 9;
/// RFC 9660 ZONEVERSION option code.
pub const OPT_ZONEVERSION: u16 = 19;
/// The EDNS buffer size we advertise (the DNS flag day 2020 value).
const UDP_PAYLOAD: u16 = 1232;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("timeout after {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("malformed reply: {0}")]
    Malformed(String),
    #[error("cannot encode the query: {0}")]
    Encode(String),
}

/// One question with the header bits and (empty) EDNS options to send with it.
#[derive(Debug, Clone)]
pub struct Question {
    pub name: Name,
    pub rtype: RecordType,
    /// RD: set for resolvers, clear for authoritative servers.
    pub recursion: bool,
    /// EDNS option codes to include with empty data, e.g. ZONEVERSION and EXPIRE.
    pub options: Vec<u16>,
}

/// The reply to one query.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub message: Message,
    pub rtt: Duration,
    pub tcp: bool,
    pub received: Instant,
}

pub fn build_query(id: u16, q: &Question) -> Result<Vec<u8>, ProbeError> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = q.recursion;
    m.add_query(Query::query(q.name.clone(), q.rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(UDP_PAYLOAD);
    for code in &q.options {
        edns.options_mut()
            .insert(EdnsOption::Unknown(*code, Vec::new()));
    }
    m.set_edns(edns);
    m.to_vec().map_err(|e| ProbeError::Encode(e.to_string()))
}

/// Whether `reply` answers the query `id`/`q`: a response with the same ID and question.
/// Anything else on the socket (late replies to earlier queries, spoofs) is ignored.
pub fn answers(id: u16, q: &Question, reply: &Message) -> bool {
    reply.metadata.id == id
        && reply.metadata.message_type == MessageType::Response
        && reply
            .queries
            .first()
            .is_some_and(|rq| rq.name() == &q.name && rq.query_type() == q.rtype)
}

/// Sends `q` to `addr` and waits for its reply, over TCP if the UDP reply is truncated.
/// The timeout covers the whole exchange.
pub async fn exchange(
    addr: SocketAddr,
    q: &Question,
    timeout: Duration,
) -> Result<Exchange, ProbeError> {
    let start = Instant::now();
    let deadline = start + timeout;
    let id: u16 = rand::random();
    let wire = build_query(id, q)?;
    let bind: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let udp = async {
        let socket = UdpSocket::bind(bind).await?;
        // Connected, so the kernel drops datagrams from other sources and reports
        // ICMP port-unreachable as ECONNREFUSED instead of a silent timeout.
        socket.connect(addr).await?;
        socket.send(&wire).await?;
        let mut buf = vec![0u8; 65535];
        loop {
            let n = socket.recv(&mut buf).await?;
            let Some(datagram) = buf.get(..n) else {
                continue;
            };
            if let Ok(reply) = Message::from_vec(datagram)
                && answers(id, q, &reply)
            {
                return Ok::<_, ProbeError>(reply);
            }
        }
    };
    let reply = tokio::time::timeout_at(deadline, udp)
        .await
        .map_err(|_| ProbeError::Timeout(timeout))??;
    if !reply.metadata.truncation {
        return Ok(Exchange {
            message: reply,
            rtt: start.elapsed(),
            tcp: false,
            received: Instant::now(),
        });
    }
    let reply = tokio::time::timeout_at(deadline, exchange_tcp(addr, id, q, &wire))
        .await
        .map_err(|_| ProbeError::Timeout(timeout))??;
    Ok(Exchange {
        message: reply,
        rtt: start.elapsed(),
        tcp: true,
        received: Instant::now(),
    })
}

async fn exchange_tcp(
    addr: SocketAddr,
    id: u16,
    q: &Question,
    wire: &[u8],
) -> Result<Message, ProbeError> {
    let mut stream = TcpStream::connect(addr).await?;
    let len = u16::try_from(wire.len()).map_err(|_| ProbeError::Encode("query too long".into()))?;
    let mut framed = Vec::with_capacity(wire.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(wire);
    stream.write_all(&framed).await?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await?;
    let reply = Message::from_vec(&buf).map_err(|e| ProbeError::Malformed(e.to_string()))?;
    if answers(id, q, &reply) {
        Ok(reply)
    } else {
        Err(ProbeError::Malformed(
            "TCP reply does not match the query".into(),
        ))
    }
}

fn option(msg: &Message, code: u16) -> Option<&[u8]> {
    match msg.edns.as_ref()?.option(EdnsCode::from(code))? {
        EdnsOption::Unknown(_, data) => Some(data),
        _ => None,
    }
}

/// The serial from an RFC 9660 ZONEVERSION option of type 0 (SOA-SERIAL).
pub fn zoneversion_serial(msg: &Message) -> Option<u32> {
    let data = option(msg, OPT_ZONEVERSION)?;
    match data {
        [_labels, 0, a, b, c, d] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// The seconds from an RFC 7314 EXPIRE option.
pub fn expire(msg: &Message) -> Option<u32> {
    match option(msg, OPT_EXPIRE)? {
        [a, b, c, d] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// The zone's SOA from the answer (an SOA query at the apex) or the authority section
/// (a negative answer), with its owner and TTL.
pub fn soa(msg: &Message) -> Option<(Name, u32, SOA)> {
    msg.answers
        .iter()
        .chain(msg.authorities.iter())
        .find_map(|r| match &r.data {
            RData::SOA(soa) => Some((r.name.clone(), r.ttl, soa.clone())),
            _ => None,
        })
}

/// The answer to `qname`/`qtype` in `msg`, as the model compares it, and its TTL (the
/// RFC 2308 negative TTL for NXDOMAIN and NODATA). `None` for error rcodes.
pub fn digest_answer(
    qname: &Name,
    qtype: RecordType,
    msg: &Message,
) -> (Option<AnswerData>, Option<u32>) {
    let negative_ttl = || soa(msg).map(|(_, ttl, soa)| ttl.min(soa.minimum));
    match msg.metadata.response_code {
        ResponseCode::NXDomain => return (Some(AnswerData::NxDomain), negative_ttl()),
        ResponseCode::NoError => {}
        _ => return (None, None),
    }
    let relevant: Vec<_> = msg
        .answers
        .iter()
        .filter(|r| {
            let t = r.record_type();
            t == qtype || t == RecordType::CNAME || t == RecordType::DNAME
        })
        .collect();
    if relevant.is_empty() {
        return (Some(AnswerData::NoData), negative_ttl());
    }
    let mut lines: Vec<String> = relevant
        .iter()
        .map(|r| {
            if &r.name == qname {
                format!("{} {}", r.record_type(), r.data)
            } else {
                format!("{} {} {}", r.name, r.record_type(), r.data)
            }
        })
        .collect();
    lines.sort();
    lines.dedup();
    let ttl = relevant.iter().map(|r| r.ttl).min();
    (Some(AnswerData::Records(lines)), ttl)
}

/// What to ask every server each round.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: Name,
    pub rtype: RecordType,
    pub timeout: Duration,
}

/// Asks an authoritative server for the record (with ZONEVERSION) and its zone's SOA
/// (with ZONEVERSION and EXPIRE), at once. `apex` is the zone's apex when known; until
/// then the SOA is asked at the name itself, whose negative answer names the apex.
/// Returns the outcome and the apex learned from the SOA.
pub async fn probe_authoritative(
    addr: SocketAddr,
    target: &Target,
    apex: Option<&Name>,
) -> (Outcome, Option<Name>) {
    let record_q = Question {
        name: target.name.clone(),
        rtype: target.rtype,
        recursion: false,
        options: vec![OPT_ZONEVERSION],
    };
    let soa_q = Question {
        name: apex.cloned().unwrap_or_else(|| target.name.clone()),
        rtype: RecordType::SOA,
        recursion: false,
        options: vec![OPT_ZONEVERSION, OPT_EXPIRE],
    };
    let (record, soa_reply) = tokio::join!(
        exchange(addr, &record_q, target.timeout),
        exchange(addr, &soa_q, target.timeout)
    );
    let record = match record {
        Ok(x) => x,
        Err(e) => return (Outcome::Unreachable(e.to_string()), None),
    };
    let mut soa_reply = soa_reply.ok();
    let mut soa_record = soa_reply.as_ref().and_then(|x| soa(&x.message));
    // Servers send EXPIRE only for an SOA query at the apex: once the first negative
    // answer names the apex, ask there at once rather than a round later.
    if apex.is_none()
        && let Some((owner, _, _)) = &soa_record
        && owner != &target.name
    {
        let at_apex = Question {
            name: owner.clone(),
            ..soa_q
        };
        if let Ok(x) = exchange(addr, &at_apex, target.timeout).await
            && let Some(record) = soa(&x.message)
        {
            soa_record = Some(record);
            soa_reply = Some(x);
        }
    }
    let (serial, serial_source) = match zoneversion_serial(&record.message) {
        Some(s) => (Some(s), Some(SerialSource::ZoneVersion)),
        None => match soa_record.as_ref().or(soa(&record.message).as_ref()) {
            Some((_, _, soa)) => (Some(soa.serial), Some(SerialSource::Soa)),
            None => (None, None),
        },
    };
    let (answer, ttl) = digest_answer(&target.name, target.rtype, &record.message);
    let reply = Reply {
        rcode: u16::from(record.message.metadata.response_code),
        authoritative: record.message.metadata.authoritative,
        answer,
        ttl,
        serial,
        serial_source,
        expire: soa_reply.as_ref().and_then(|x| expire(&x.message)),
        rtt: record.rtt,
    };
    (Outcome::Reply(reply), soa_record.map(|(owner, _, _)| owner))
}

/// Asks a caching resolver for the record with RD=1; the TTL it returns is what is left
/// of its cached copy.
pub async fn probe_resolver(addr: SocketAddr, target: &Target) -> Outcome {
    let q = Question {
        name: target.name.clone(),
        rtype: target.rtype,
        recursion: true,
        options: Vec::new(),
    };
    match exchange(addr, &q, target.timeout).await {
        Err(e) => Outcome::Unreachable(e.to_string()),
        Ok(x) => {
            let (answer, ttl) = digest_answer(&target.name, target.rtype, &x.message);
            Outcome::Reply(Reply {
                rcode: u16::from(x.message.metadata.response_code),
                authoritative: x.message.metadata.authoritative,
                answer,
                ttl,
                serial: None,
                serial_source: None,
                expire: None,
                rtt: x.rtt,
            })
        }
    }
}

type ProbeResult = (usize, Instant, Outcome, Option<Name>);

/// Per-server memory across rounds: the apex each authoritative server told us, and
/// the probes still in flight, so that a slow server holds back neither the others nor
/// the next round, and is never asked twice at once.
#[derive(Debug, Default)]
pub struct Prober {
    apexes: Vec<Option<Name>>,
    in_flight: Vec<bool>,
    tasks: JoinSet<ProbeResult>,
}

impl Prober {
    pub fn new() -> Prober {
        Prober::default()
    }

    /// Starts a probe of every server that has none in flight; each is bounded by
    /// `target.timeout`.
    pub fn start_round(&mut self, servers: &[ServerSpec], target: &Target) {
        self.apexes.resize(servers.len(), None);
        self.in_flight.resize(servers.len(), false);
        for (i, server) in servers.iter().enumerate() {
            let Some(flying) = self.in_flight.get_mut(i) else {
                continue;
            };
            if *flying {
                continue;
            }
            *flying = true;
            let target = target.clone();
            let addr = server.addr;
            let resolver = server.role.is_resolver();
            let apex = self.apexes.get(i).cloned().flatten();
            self.tasks.spawn(async move {
                let (outcome, apex) = if resolver {
                    (probe_resolver(addr, &target).await, None)
                } else {
                    probe_authoritative(addr, &target, apex.as_ref()).await
                };
                (i, Instant::now(), outcome, apex)
            });
        }
    }

    /// Collects finished probes until none is in flight or `deadline` passes. Those
    /// still running are collected by a later call. Observations come back ordered by
    /// the time their reply arrived, which is the order in which the model must see them.
    pub async fn collect(&mut self, deadline: Option<Instant>) -> Vec<Observation> {
        let mut out = Vec::new();
        loop {
            let next = match deadline {
                Some(d) => match tokio::time::timeout_at(d, self.tasks.join_next()).await {
                    Ok(next) => next,
                    Err(_) => break,
                },
                None => self.tasks.join_next().await,
            };
            let Some(joined) = next else { break };
            let Ok((i, at, outcome, apex)) = joined else {
                // A probe task cannot panic on network input; if one died anyway, the
                // server's slot stays busy rather than guessing which one it was.
                continue;
            };
            if let Some(flying) = self.in_flight.get_mut(i) {
                *flying = false;
            }
            if let Some(apex) = apex
                && let Some(slot) = self.apexes.get_mut(i)
            {
                *slot = Some(apex);
            }
            out.push(Observation {
                server: i,
                at: at.into_std(),
                outcome,
            });
        }
        out.sort_by_key(|o| o.at);
        out
    }

    /// One full round: asks every server and waits for all of them (each bounded by
    /// `target.timeout`).
    pub async fn probe_round(
        &mut self,
        servers: &[ServerSpec],
        target: &Target,
    ) -> Vec<Observation> {
        self.start_round(servers, target);
        self.collect(None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::{A, CNAME};

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn response() -> Message {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(n("www.example."), RecordType::A));
        m
    }

    #[test]
    fn cname_chains_are_part_of_the_answer_and_order_does_not_matter() {
        let mut m = response();
        m.add_answer(Record::from_rdata(
            n("web.example."),
            30,
            RData::A(A::new(192, 0, 2, 9)),
        ));
        m.add_answer(Record::from_rdata(
            n("www.example."),
            60,
            RData::CNAME(CNAME(n("web.example."))),
        ));
        let (answer, ttl) = digest_answer(&n("www.example."), RecordType::A, &m);
        assert_eq!(
            answer,
            Some(AnswerData::Records(vec![
                "CNAME web.example.".into(),
                "web.example. A 192.0.2.9".into()
            ]))
        );
        assert_eq!(
            ttl,
            Some(30),
            "the chain lives as long as its shortest link"
        );
        let mut nodata = response();
        nodata.add_answer(Record::from_rdata(
            n("www.example."),
            60,
            RData::A(A::new(1, 2, 3, 4)),
        ));
        let (answer, _) = digest_answer(&n("www.example."), RecordType::AAAA, &nodata);
        assert_eq!(answer, Some(AnswerData::NoData));
    }

    #[test]
    fn malformed_options_are_ignored() {
        let with = |code: u16, data: Vec<u8>| {
            let mut m = response();
            let mut edns = Edns::new();
            edns.options_mut().insert(EdnsOption::Unknown(code, data));
            m.set_edns(edns);
            m
        };
        assert_eq!(
            zoneversion_serial(&with(OPT_ZONEVERSION, vec![2, 0, 0, 0, 0, 42])),
            Some(42)
        );
        // Another version type, a short one, an empty one: no serial, and no panic.
        assert_eq!(
            zoneversion_serial(&with(OPT_ZONEVERSION, vec![2, 1, 0, 0, 0, 42])),
            None
        );
        assert_eq!(
            zoneversion_serial(&with(OPT_ZONEVERSION, vec![2, 0, 1])),
            None
        );
        assert_eq!(zoneversion_serial(&with(OPT_ZONEVERSION, vec![])), None);
        assert_eq!(expire(&with(OPT_EXPIRE, vec![0, 0, 1, 0])), Some(256));
        assert_eq!(expire(&with(OPT_EXPIRE, vec![0, 1])), None);
        assert_eq!(expire(&response()), None);
    }

    #[test]
    fn query_carries_flags_and_empty_options() {
        let q = Question {
            name: n("www.example."),
            rtype: RecordType::SOA,
            recursion: true,
            options: vec![OPT_ZONEVERSION, OPT_EXPIRE],
        };
        let m = Message::from_vec(&build_query(4242, &q).unwrap()).unwrap();
        assert_eq!(m.metadata.id, 4242);
        assert!(m.metadata.recursion_desired);
        let opts = m.edns.as_ref().unwrap().options().as_ref().to_vec();
        let codes: Vec<u16> = opts.iter().map(|(c, _)| u16::from(*c)).collect();
        assert_eq!(codes, vec![OPT_ZONEVERSION, OPT_EXPIRE]);
        assert!(opts.iter().all(|(_, o)| o.is_empty()));
        assert!(answers(4242, &q, &{
            let mut r = m.clone();
            r.metadata.message_type = MessageType::Response;
            r
        }));
        assert!(!answers(4242, &q, &m), "a query is not a reply");
    }
}
