//! NOTIFY (RFC 1996), sans-IO: the sender's retry state machine and the receiver's checks.
//!
//! The sender keeps one state per zone. Each new version replaces whatever was still
//! pending (a secondary that missed serial 5 only needs to hear about 6), and each target
//! is retried with exponential backoff until it answers or the attempts run out.
//! Retransmissions reuse the message ID, so a late answer to an earlier attempt still
//! counts.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};

use crate::xfr::acl::Acl;
use crate::xfr::soa_serial;
use crate::zone::Zone;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// Wait before the first NOTIFY of a version (BIND's `notify-delay`; 0 like Knot).
    pub delay: Duration,
    /// Time to wait for the first answer; doubled after each attempt.
    pub initial_timeout: Duration,
    pub max_timeout: Duration,
    /// Sends per target and version, the first included.
    pub max_attempts: u32,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            delay: Duration::ZERO,
            initial_timeout: Duration::from_secs(1),
            max_timeout: Duration::from_secs(30),
            max_attempts: 5,
        }
    }
}

/// The NOTIFY message for a version: the SOA goes in the answer section so the receiver
/// can skip the SOA query when it already has that serial (RFC 1996 §3.7).
pub fn notify_message(zone: &Name, id: u16, soa: Option<&Record>) -> Message {
    let mut m = Message::new(id, MessageType::Query, OpCode::Notify);
    m.metadata.authoritative = true;
    m.add_query(Query::query(zone.clone(), RecordType::SOA));
    if let Some(soa) = soa {
        m.add_answer(soa.clone());
    }
    m
}

/// The A and AAAA addresses a zone has for `name`.
pub fn addresses_in(zone: &Zone, name: &LowerName) -> Vec<IpAddr> {
    zone.node(name)
        .into_iter()
        .flat_map(|n| n.rrsets().iter())
        .flat_map(|s| s.rdata.iter())
        .filter_map(|rd| match rd {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// Where to send NOTIFY for a version: the addresses of the zone's NS names, except the
/// SOA MNAME (RFC 1996 §3.6) and our own addresses, plus `also_notify`. An NS name's
/// addresses come from the zone itself (glue or in-zone hosts), else from `elsewhere`
/// (the other zones the node serves: no query leaves the node). NS names found in
/// neither are returned, for the caller to report.
pub fn notify_targets(
    zone: &Zone,
    own: &[IpAddr],
    also_notify: &[SocketAddr],
    port: u16,
    elsewhere: &dyn Fn(&LowerName) -> Vec<IpAddr>,
) -> (Vec<SocketAddr>, Vec<Name>) {
    let mname = zone.soa().rdata.first().and_then(|rd| match rd {
        RData::SOA(s) => Some(LowerName::new(&s.mname)),
        _ => None,
    });
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut unresolved = Vec::new();
    if let Some(ns) = zone.apex().get(RecordType::NS) {
        for rd in &ns.rdata {
            let RData::NS(target) = rd else { continue };
            let lower = LowerName::new(&target.0);
            if mname.as_ref() == Some(&lower) {
                continue;
            }
            let mut addrs = addresses_in(zone, &lower);
            if addrs.is_empty() && !zone.origin_lower().zone_of(&lower) {
                addrs = elsewhere(&lower);
                if addrs.is_empty() {
                    unresolved.push(target.0.clone());
                }
            }
            for ip in addrs {
                if own.contains(&ip) {
                    continue;
                }
                let sa = SocketAddr::new(ip, port);
                if seen.insert(sa) {
                    out.push(sa);
                }
            }
        }
    }
    for sa in also_notify {
        if seen.insert(*sa) {
            out.push(*sa);
        }
    }
    (out, unresolved)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Pending,
    Acknowledged,
    /// It answered with an error RCODE; retrying would not change its mind.
    Rejected(ResponseCode),
    /// No answer after all attempts.
    GaveUp,
}

#[derive(Debug, Clone)]
struct Target {
    addr: SocketAddr,
    id: u16,
    sent: u32,
    next: Instant,
    state: TargetState,
}

/// A NOTIFY to put on the wire (the driver signs it with TSIG if configured).
#[derive(Debug, Clone)]
pub struct Transmit {
    pub dest: SocketAddr,
    pub message: Message,
    /// 1 for the first send of this version to this target.
    pub attempt: u32,
}

pub struct NotifySender {
    zone: Name,
    config: NotifyConfig,
    soa: Option<Record>,
    targets: Vec<Target>,
}

impl NotifySender {
    pub fn new(zone: Name, config: NotifyConfig) -> Self {
        NotifySender {
            zone,
            config,
            soa: None,
            targets: Vec::new(),
        }
    }

    /// Announces a new version to `targets`, superseding anything still pending. `next_id`
    /// supplies random message IDs.
    pub fn new_version(
        &mut self,
        now: Instant,
        soa: Record,
        targets: &[SocketAddr],
        next_id: &mut dyn FnMut() -> u16,
    ) {
        self.soa = Some(soa);
        let at = now + self.config.delay;
        self.targets = targets
            .iter()
            .map(|&addr| Target {
                addr,
                id: next_id(),
                sent: 0,
                next: at,
                state: TargetState::Pending,
            })
            .collect();
    }

    /// The serial being announced.
    pub fn serial(&self) -> Option<u32> {
        self.soa.as_ref().and_then(soa_serial)
    }

    /// The next NOTIFY due at `now`, if any. Call until it returns None.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        let max = self.config.max_attempts;
        for t in &mut self.targets {
            if t.state != TargetState::Pending || t.next > now {
                continue;
            }
            if t.sent >= max {
                t.state = TargetState::GaveUp;
                continue;
            }
            let backoff = self
                .config
                .initial_timeout
                .saturating_mul(1u32 << t.sent.min(20))
                .min(self.config.max_timeout);
            t.sent += 1;
            t.next = now + backoff;
            return Some(Transmit {
                dest: t.addr,
                message: notify_message(&self.zone, t.id, self.soa.as_ref()),
                attempt: t.sent,
            });
        }
        None
    }

    /// Matches an answer to a pending NOTIFY. Returns false for anything that is not one
    /// (wrong source, ID, opcode or question), which the driver may log and drop.
    pub fn on_response(&mut self, from: SocketAddr, msg: &Message) -> bool {
        if msg.message_type != MessageType::Response || msg.op_code != OpCode::Notify {
            return false;
        }
        if let Some(q) = msg.queries.first()
            && (q.name() != &self.zone || q.query_type() != RecordType::SOA)
        {
            return false;
        }
        let Some(t) = self
            .targets
            .iter_mut()
            .find(|t| t.addr == from && t.id == msg.id && t.state == TargetState::Pending)
        else {
            return false;
        };
        t.state = if msg.response_code == ResponseCode::NoError {
            TargetState::Acknowledged
        } else {
            TargetState::Rejected(msg.response_code)
        };
        true
    }

    /// When to call [`poll_transmit`](NotifySender::poll_transmit) next.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.targets
            .iter()
            .filter(|t| t.state == TargetState::Pending)
            .map(|t| t.next)
            .min()
    }

    pub fn states(&self) -> impl Iterator<Item = (SocketAddr, TargetState)> + '_ {
        self.targets.iter().map(|t| (t.addr, t.state))
    }

    pub fn is_idle(&self) -> bool {
        self.targets.iter().all(|t| t.state != TargetState::Pending)
    }
}

/// A validated NOTIFY: check the primary's SOA now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyEvent {
    pub zone: Name,
    pub from: IpAddr,
    /// The serial in the answer section, if the sender included its SOA.
    pub serial: Option<u32>,
}

/// Answers an incoming NOTIFY. `allow` is the zone's `allow-notify` (its primaries), or
/// None when we do not serve the zone as a secondary. The answer echoes the question with
/// AA set (RFC 1996 §4.7); only an accepted NOTIFY produces an event.
pub fn handle_notify(
    request: &Message,
    src: IpAddr,
    allow: Option<&Acl>,
) -> (Message, Option<NotifyEvent>) {
    let mut resp = Message::new(request.id, MessageType::Response, OpCode::Notify);
    resp.queries = request.queries.clone();
    let rcode = |r: &mut Message, c| r.metadata.response_code = c;
    let [q] = request.queries.as_slice() else {
        rcode(&mut resp, ResponseCode::FormErr);
        return (resp, None);
    };
    if request.op_code != OpCode::Notify
        || request.message_type != MessageType::Query
        || q.query_type() != RecordType::SOA
        || q.query_class() != DNSClass::IN
    {
        rcode(&mut resp, ResponseCode::FormErr);
        return (resp, None);
    }
    let Some(allow) = allow else {
        rcode(&mut resp, ResponseCode::NotAuth);
        return (resp, None);
    };
    if !allow.allows(src) {
        rcode(&mut resp, ResponseCode::Refused);
        return (resp, None);
    }
    resp.metadata.authoritative = true;
    let serial = request
        .answers
        .iter()
        .find(|r| r.name == *q.name())
        .and_then(soa_serial);
    (
        resp,
        Some(NotifyEvent {
            zone: q.name().clone(),
            from: src,
            serial,
        }),
    )
}

#[cfg(test)]
mod tests;
