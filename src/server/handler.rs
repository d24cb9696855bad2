//! The per-message request path shared by UDP and TCP: parse, validate, dispatch by
//! opcode, call the answer engine, fit the answer into a message.
//!
//! Later roles hook in through [`Extension`]s, asked in order before the built-in
//! query path: NOTIFY, AXFR/IXFR (which stream several messages over TCP) and UPDATE
//! claim the messages they own by opcode and qtype.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{OpCode, ResponseCode};
use hickory_proto::rr::RecordType;

use super::answer_cache::{self, Ticket};
use super::reply::{self, Additional, ReplyHead};
use super::request::{self, Reject, Request};
use crate::catalog::{Catalog, SharedCatalog};
use crate::engine::{self, Answer};
use crate::zone::Zone;
use crate::zone::wire_key::WireKey;

thread_local! {
    static ANSWER: std::cell::RefCell<Answer> = std::cell::RefCell::new(Answer::default());
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Where a message came from.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo {
    pub transport: Transport,
    pub peer: SocketAddr,
}

/// What to send back for one message.
pub enum Response {
    /// Nothing (a response, or too short to answer).
    None,
    /// One message, already written into the caller's buffer.
    Message,
    /// Several messages (AXFR, IXFR over TCP), produced lazily so a large zone is never
    /// held in memory as wire messages all at once.
    Stream(Box<dyn Iterator<Item = Vec<u8>> + Send>),
    /// One message that needs work off the request path first (an UPDATE is committed
    /// to the store before it is acknowledged). A dropped sender means no reply. UDP
    /// workers wait for it on their own thread, TCP connections in their task.
    Later(tokio::sync::oneshot::Receiver<Vec<u8>>),
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Response::None => "None",
            Response::Message => "Message",
            Response::Stream(_) => "Stream",
            Response::Later(_) => "Later",
        })
    }
}

/// A handler for messages the query path does not own (NOTIFY, transfers, UPDATE).
pub trait Extension: Send + Sync {
    /// Returns `Some` to claim the message; `out` holds the reply for
    /// `Response::Message`. Use [`Handler::write_error`] for refusals.
    fn handle(
        &self,
        handler: &Handler,
        catalog: &Catalog,
        req: &Request<'_>,
        info: &RequestInfo,
        out: &mut Vec<u8>,
    ) -> Option<Response>;
}

/// Transport-level settings of the request path.
#[derive(Debug, Clone)]
pub struct HandlerConfig {
    /// The largest UDP reply we send and the size we advertise in OPT (RFC 6891 §6.2.5;
    /// 1232 avoids IP fragmentation, as DNS Flag Day 2020 recommends).
    pub udp_payload: u16,
    /// The NSID (RFC 5001) to send when asked; `None` sends none, as NSD does.
    pub nsid: Option<Vec<u8>>,
    /// Log every query at info level on target `zonecast::query`.
    pub query_log: bool,
    /// Reuse reply bodies encoded for the same question on the same zone version
    /// (`answer_cache`); off only to measure or rule out the cache.
    pub answer_cache: bool,
}

impl Default for HandlerConfig {
    fn default() -> Self {
        HandlerConfig {
            udp_payload: 1232,
            nsid: None,
            query_log: false,
            answer_cache: true,
        }
    }
}

/// The request path: a function of (catalog, message, transport info).
pub struct Handler {
    catalog: SharedCatalog,
    config: HandlerConfig,
    extensions: Vec<Arc<dyn Extension>>,
}

impl Handler {
    pub fn new(catalog: SharedCatalog, config: HandlerConfig) -> Self {
        Handler {
            catalog,
            config,
            extensions: Vec::new(),
        }
    }

    /// Adds an extension, asked after those added before it.
    pub fn with_extension(mut self, ext: Arc<dyn Extension>) -> Self {
        self.extensions.push(ext);
        self
    }

    pub fn catalog(&self) -> &SharedCatalog {
        &self.catalog
    }

    pub fn config(&self) -> &HandlerConfig {
        &self.config
    }

    /// Handles one message; a single reply is written into `out`.
    pub fn handle(&self, bytes: &[u8], info: &RequestInfo, out: &mut Vec<u8>) -> Response {
        let req = match request::parse(bytes) {
            Ok(r) => r,
            Err(Reject::Drop) => return Response::None,
            Err(Reject::FormErr {
                id,
                opcode_raw,
                recursion_desired,
                edns,
            }) => {
                // An opcode we do not implement is NOTIMP even when the rest of the
                // message is malformed (a header-only query): Knot and NSD both say so.
                let rcode = if matches!(opcode_raw, 0 | 4 | 5) {
                    ResponseCode::FormErr
                } else {
                    ResponseCode::NotImp
                };
                let head = ReplyHead {
                    id,
                    opcode_raw,
                    authoritative: false,
                    recursion_desired,
                    recursion_available: false,
                    checking_disabled: false,
                    rcode,
                    question: None,
                    edns,
                    our_payload: self.config.udp_payload,
                    nsid: self.config.nsid.as_deref(),
                    zoneversion: None,
                    ede: None,
                };
                self.encode_empty(&head, info, out);
                self.log(info, None, rcode);
                return Response::Message;
            }
        };
        // RFC 6891 §6.1.3: an unsupported version gets BADVERS (with our version 0)
        // before anything else is looked at.
        if req.edns.is_some_and(|e| e.version > 0) {
            self.write_error(&req, info, ResponseCode::BADVERS, out);
            return Response::Message;
        }
        let catalog = self.catalog.load();
        for ext in &self.extensions {
            if let Some(resp) = ext.handle(self, &catalog, &req, info, out) {
                return resp;
            }
        }
        match req.opcode {
            OpCode::Query => {}
            // Not a secondary yet: what Knot answers a NOTIFY it does not accept.
            OpCode::Notify => {
                self.write_error(&req, info, ResponseCode::NotAuth, out);
                return Response::Message;
            }
            // NSD's answer to UPDATE; the Knot answer (FORMERR) is specific to its checks.
            _ => {
                self.write_error(&req, info, ResponseCode::NotImp, out);
                return Response::Message;
            }
        }
        match req.qtype {
            // Transfers are refused until a transfer extension claims them, as Knot and
            // NSD do when no ACL allows them.
            RecordType::AXFR | RecordType::IXFR => {
                self.write_error(&req, info, ResponseCode::Refused, out);
                return Response::Message;
            }
            _ => {}
        }
        // A repeated question on an unchanged zone version: the reply body encoded the
        // first time (see `answer_cache`).
        let Some(key) = WireKey::new(&req.qname) else {
            // Longer than a name can be; hickory does not decode such names.
            self.write_error(&req, info, ResponseCode::FormErr, out);
            return Response::Message;
        };
        let ticket = if self.config.answer_cache {
            answer_cache::ticket(&req, &key)
        } else {
            None
        };
        let zone = ticket.as_ref().and_then(|_| {
            catalog
                .find_wire(&key)
                .filter(|h| !h.is_expired())
                .and_then(|h| h.current())
        });
        if let (Some(t), Some(z)) = (&ticket, &zone)
            && self.write_cached(&req, info, t, z, out)
        {
            return Response::Message;
        }
        // One reused Answer per thread: the engine fills it without allocating section
        // vectors in the steady state. Nothing awaits while it is borrowed.
        ANSWER.with(|cell| match cell.try_borrow_mut() {
            Ok(mut answer) => {
                engine::resolve_into_keyed(
                    &catalog,
                    &req.qname,
                    &key,
                    req.qtype,
                    req.qclass,
                    &mut answer,
                );
                self.write_answer(&req, info, &answer, out);
                if let Some(t) = &ticket {
                    let head = self.answer_head(&req, &answer);
                    answer_cache::store(t, &answer, out, head.opt_len(), req.edns.is_some());
                }
                answer.reset();
            }
            // Only reachable if an extension re-entered the handler from within.
            Err(_) => {
                let answer = engine::resolve(&catalog, &req.qname, req.qtype, req.qclass);
                self.write_answer(&req, info, &answer, out);
            }
        });
        Response::Message
    }

    /// Writes the reply body stored for `t` if it was encoded from `zone` and fits this
    /// requestor's limit; false when the engine has to answer.
    fn write_cached(
        &self,
        req: &Request<'_>,
        info: &RequestInfo,
        t: &Ticket<'_>,
        zone: &Arc<Zone>,
        out: &mut Vec<u8>,
    ) -> bool {
        let rcode = answer_cache::with_hit(t, zone, |hit, body| {
            let head = ReplyHead {
                authoritative: hit.authoritative,
                rcode: hit.rcode,
                zoneversion: Some((zone.origin().num_labels(), zone.serial())),
                ede: None,
                ..self.head(req, hit.rcode)
            };
            let limit = self.limit(&head, info);
            reply::encode_reused(out, &head, t.question, body, hit.counts, limit)
                .then_some(hit.rcode)
        });
        match rcode.flatten() {
            Some(rcode) => {
                self.log(info, Some(req), rcode);
                true
            }
            None => false,
        }
    }

    fn answer_head<'a>(&'a self, req: &'a Request<'_>, answer: &Answer) -> ReplyHead<'a> {
        ReplyHead {
            authoritative: answer.authoritative,
            rcode: answer.rcode,
            zoneversion: answer
                .zone
                .as_ref()
                .map(|z| (z.origin().num_labels(), z.serial())),
            ede: answer.ede,
            ..self.head(req, answer.rcode)
        }
    }

    /// Writes `answer` as the reply to `req`, truncating to the transport's limit.
    pub fn write_answer(
        &self,
        req: &Request<'_>,
        info: &RequestInfo,
        answer: &Answer,
        out: &mut Vec<u8>,
    ) {
        let head = self.answer_head(req, answer);
        let limit = self.limit(&head, info);
        reply::encode(
            out,
            &head,
            &answer.answers,
            &answer.authorities,
            Additional {
                records: &answer.additionals,
                required: answer.required_additionals,
            },
            limit,
        );
        self.log(info, Some(req), answer.rcode);
    }

    /// Writes a reply with no records: the question and OPT echoed, `rcode` set.
    pub fn write_error(
        &self,
        req: &Request<'_>,
        info: &RequestInfo,
        rcode: ResponseCode,
        out: &mut Vec<u8>,
    ) {
        let head = self.head(req, rcode);
        self.encode_empty(&head, info, out);
        self.log(info, Some(req), rcode);
    }

    /// A reply with no records: header, question and OPT only.
    fn encode_empty(&self, head: &ReplyHead<'_>, info: &RequestInfo, out: &mut Vec<u8>) {
        reply::encode(
            out,
            head,
            &[],
            &[],
            Additional::NONE,
            self.limit(head, info),
        );
    }

    fn head<'a>(&'a self, req: &'a Request<'_>, rcode: ResponseCode) -> ReplyHead<'a> {
        ReplyHead {
            id: req.id,
            opcode_raw: req.opcode_raw,
            authoritative: false,
            recursion_desired: req.recursion_desired,
            recursion_available: false,
            checking_disabled: req.checking_disabled,
            rcode,
            question: Some((&req.qname, req.qtype, req.qclass)),
            edns: req.edns,
            our_payload: self.config.udp_payload,
            nsid: self.config.nsid.as_deref(),
            zoneversion: None,
            ede: None,
        }
    }

    fn limit(&self, head: &ReplyHead<'_>, info: &RequestInfo) -> u16 {
        match info.transport {
            Transport::Udp => reply::udp_limit(head.edns.as_ref(), self.config.udp_payload),
            Transport::Tcp => u16::MAX,
        }
    }

    fn log(&self, info: &RequestInfo, req: Option<&Request<'_>>, rcode: ResponseCode) {
        if !self.config.query_log {
            return;
        }
        match req {
            Some(r) => tracing::info!(
                target: "zonecast::query",
                peer = %info.peer,
                transport = ?info.transport,
                qname = %r.qname,
                qtype = %r.qtype,
                rcode = %rcode,
            ),
            None => tracing::info!(
                target: "zonecast::query",
                peer = %info.peer,
                transport = ?info.transport,
                rcode = %rcode,
                "malformed query",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arc_swap::ArcSwap;

    /// Mutated and random messages never panic the request path, and every reply it
    /// writes is a response with the request's ID.
    #[test]
    fn survives_garbage() {
        let handler = Handler::new(
            Arc::new(ArcSwap::from_pointee(Catalog::new())),
            HandlerConfig {
                nsid: Some(b"x".to_vec()),
                ..HandlerConfig::default()
            },
        );
        let info = RequestInfo {
            transport: Transport::Udp,
            peer: "127.0.0.1:1".parse().unwrap(),
        };
        let base: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x03www\x07example\x04test\x00\x00\x01\x00\x01\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x08\x00\x03\x00\x00\x00\x13\x00\x00";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut out = Vec::new();
        for round in 0..20_000 {
            let mut msg = base.to_vec();
            if round % 4 == 0 {
                let len = (next() % 64) as usize;
                msg = (0..len).map(|_| next() as u8).collect();
            } else {
                for _ in 0..(1 + next() % 4) {
                    let i = (next() as usize) % msg.len();
                    msg[i] = next() as u8;
                }
                if next() % 3 == 0 {
                    msg.truncate((next() as usize) % msg.len());
                }
            }
            if let Response::Message = handler.handle(&msg, &info, &mut out) {
                assert!(out.len() >= 12 && out[2] & 0x80 != 0);
                assert_eq!(out[..2], msg[..2]);
            }
        }
    }
}
