//! The server extension for propagation: AXFR/IXFR (TCP streams, UDP IXFR), incoming
//! NOTIFY, and the EDNS EXPIRE option (RFC 7314) on SOA answers.
//!
//! EXPIRE is added by re-encoding the engine's SOA answer: only SOA queries that carry
//! the option pay for it (refresh checks, a few per zone and hour), so the query path
//! needs no hook.

use std::sync::Arc;
use std::time::SystemTime;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::{LowerName, RecordType};

use super::net::unix_now;
use super::update::{UpdateJob, encode_reply};
use super::{Shared, ZoneEvent, ZoneState};
use crate::catalog::Catalog;
use crate::config::Role;
use crate::engine;
use crate::notify::handle_notify;
use crate::server::request::Request;
use crate::server::{Extension, Handler, RequestInfo, Response, Transport};
use crate::tsig::{Admission, RequestAuth, ResponseSigner, admit, error_response, verify_request};
use crate::update::handle_update;
use crate::xfr::expire::{self, ExpireOption};
use crate::xfr::server::{self as xfr_server, XfrOptions};

pub struct PropagationExtension {
    shared: Arc<Shared>,
}

impl PropagationExtension {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        PropagationExtension { shared }
    }

    fn zone(&self, req: &Request<'_>) -> Option<&Arc<ZoneState>> {
        self.shared.zones.get(&LowerName::new(&req.qname))
    }

    /// TSIG admission for a zone's transfers and NOTIFYs. `Err` holds the reply.
    fn admit(
        &self,
        state: &ZoneState,
        msg: &Message,
        req: &Request<'_>,
    ) -> Result<Option<ResponseSigner>, Result<Vec<u8>, ResponseCode>> {
        let required = state.config.tsig_key.clone().map(|k| vec![k]);
        match admit(
            req.bytes,
            msg,
            &self.shared.keyring,
            required.as_deref(),
            unix_now(),
        ) {
            Admission::Allowed(signer) => Ok(signer),
            Admission::Reject(rcode) => Err(Err(rcode)),
            Admission::TsigError(wire) => Err(Ok(wire)),
        }
    }

    fn refuse(
        handler: &Handler,
        req: &Request<'_>,
        info: &RequestInfo,
        out: &mut Vec<u8>,
        why: Result<Vec<u8>, ResponseCode>,
    ) -> Response {
        match why {
            Ok(wire) => {
                out.clear();
                out.extend_from_slice(&wire);
            }
            Err(rcode) => handler.write_error(req, info, rcode, out),
        }
        Response::Message
    }

    fn notify(
        &self,
        handler: &Handler,
        req: &Request<'_>,
        info: &RequestInfo,
        out: &mut Vec<u8>,
    ) -> Response {
        let Some(msg) = decode_or_formerr(handler, req, info, out) else {
            return Response::Message;
        };
        let state = self.zone(req);
        let mut signer = None;
        if let Some(s) = state {
            match self.admit(s, &msg, req) {
                Ok(sg) => signer = sg,
                Err(why) => return Self::refuse(handler, req, info, out, why),
            }
        }
        let allow = state
            .filter(|s| s.config.role == Role::Secondary)
            .map(|s| &s.config.allow_notify);
        let (resp, event) = handle_notify(&msg, info.peer.ip(), allow);
        if let (Some(ev), Some(s)) = (event, state) {
            let _ = s.events.send(ZoneEvent::Notify {
                from: ev.from,
                serial: ev.serial,
            });
        } else if resp.response_code != ResponseCode::NoError {
            tracing::info!(
                "NOTIFY for {} from {}: {}",
                req.qname,
                info.peer,
                resp.response_code
            );
        }
        let Ok(mut wire) = resp.to_vec() else {
            handler.write_error(req, info, ResponseCode::ServFail, out);
            return Response::Message;
        };
        if let Some(mut s) = signer
            && let Err(e) = s.sign(&mut wire, unix_now())
        {
            tracing::warn!("NOTIFY answer to {}: cannot sign: {e}", info.peer);
        }
        out.clear();
        out.extend_from_slice(&wire);
        Response::Message
    }

    fn transfer(
        &self,
        handler: &Handler,
        req: &Request<'_>,
        info: &RequestInfo,
        out: &mut Vec<u8>,
    ) -> Option<Response> {
        let state = self.zone(req)?;
        let Some(msg) = decode_or_formerr(handler, req, info, out) else {
            return Some(Response::Message);
        };
        let signer = match self.admit(state, &msg, req) {
            Ok(s) => s,
            Err(why) => return Some(Self::refuse(handler, req, info, out, why)),
        };
        let zone = state
            .handle
            .current()
            .filter(|_| !state.handle.is_expired());
        let remaining = state.expire_value(SystemTime::now()).unwrap_or(0);
        let opts = XfrOptions {
            signer,
            now: unix_now(),
            edns: expire::answer_edns(msg.edns.as_ref(), remaining, self.shared.udp_payload),
            ..XfrOptions::default()
        };
        let transport = match info.transport {
            Transport::Udp => xfr_server::Transport::Udp,
            Transport::Tcp => xfr_server::Transport::Tcp,
        };
        let name = state.config.name.clone();
        let shared = self.shared.clone();
        let history = move |serial: u32| {
            let reader = shared.reader.lock().unwrap_or_else(|p| p.into_inner());
            match reader.journal_since(&name, serial) {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!("zone {name}: reading the journal: {e}");
                    None
                }
            }
        };
        let mut stream = xfr_server::respond(
            &msg,
            info.peer.ip(),
            &state.config.allow_transfer,
            zone.clone(),
            transport,
            history,
            opts,
        );
        tracing::info!(
            "zone {}: {} to {} ({:?}), serving serial {:?}",
            state.config.name,
            req.qtype,
            info.peer,
            info.transport,
            zone.as_ref().map(|z| z.serial())
        );
        let peer = info.peer;
        match info.transport {
            Transport::Udp => {
                match stream.next() {
                    Some(Ok(wire)) => {
                        out.clear();
                        out.extend_from_slice(&wire);
                    }
                    Some(Err(e)) => {
                        tracing::warn!("IXFR to {peer}: {e}");
                        handler.write_error(req, info, ResponseCode::ServFail, out);
                    }
                    None => return Some(Response::None),
                }
                Some(Response::Message)
            }
            Transport::Tcp => Some(Response::Stream(Box::new(stream.map_while(
                move |m| match m {
                    Ok(w) => Some(w),
                    Err(e) => {
                        tracing::warn!("transfer to {peer} stopped: {e}");
                        None
                    }
                },
            )))),
        }
    }

    /// RFC 2136 UPDATE. TSIG is checked here (a bad signature gets the RFC 8945 error, as
    /// for transfers); the rest happens on the zone's task, which answers through the
    /// returned `Response::Later` once the update is committed and announced. A
    /// secondary answers REFUSED, as BIND does without `allow-update-forwarding`; a zone
    /// we do not serve, NOTAUTH.
    fn update(
        &self,
        handler: &Handler,
        req: &Request<'_>,
        info: &RequestInfo,
        out: &mut Vec<u8>,
    ) -> Response {
        let Some(msg) = decode_or_formerr(handler, req, info, out) else {
            return Response::Message;
        };
        let now = unix_now();
        let (key, signer) = match verify_request(req.bytes, &self.shared.keyring, now) {
            RequestAuth::Unsigned => (None, None),
            RequestAuth::Verified { key, mac } => {
                (Some(key.name.clone()), Some(ResponseSigner::new(key, mac)))
            }
            RequestAuth::Failed {
                failure, key, mac, ..
            } => {
                tracing::info!("UPDATE for {} from {}: {failure}", req.qname, info.peer);
                let why = error_response(&msg, &failure, key.as_ref(), &mac, now)
                    .map_err(|_| ResponseCode::FormErr);
                return Self::refuse(handler, req, info, out, why);
            }
        };
        let payload = self.shared.udp_payload;
        let state = self.zone(req).filter(|_| msg.queries.len() == 1);
        let rcode = match state {
            Some(s) if s.config.role == Role::Primary => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let job = UpdateJob {
                    msg,
                    client: info.peer.ip(),
                    key,
                    signer,
                    udp_payload: payload,
                    reply: tx,
                };
                if s.events.send(ZoneEvent::Update(Box::new(job))).is_ok() {
                    return Response::Later(rx);
                }
                // The zone's task is gone: the node is stopping.
                return Response::None;
            }
            Some(_) => ResponseCode::Refused,
            // Not a zone of ours, or a malformed zone section: the sans-IO check says
            // which (NOTAUTH or FORMERR).
            None => {
                let sys = SystemTime::now();
                let policy = crate::serial::SerialPolicy::default();
                let acl = crate::update::UpdateAcl::default();
                handle_update(&msg, None, &acl, info.peer.ip(), None, policy, sys).rcode
            }
        };
        tracing::info!("UPDATE for {} from {}: {rcode}", req.qname, info.peer);
        match encode_reply(&msg, rcode, payload, signer) {
            Some(wire) => {
                out.clear();
                out.extend_from_slice(&wire);
            }
            None => handler.write_error(req, info, ResponseCode::ServFail, out),
        }
        Response::Message
    }

    /// Queries the plain path cannot finish: an SOA query that asks for EXPIRE gets it,
    /// and a TSIG-signed query (BIND signs its refresh SOA queries) gets a signed answer
    /// or the RFC 8945 error. Anything else is left to the query path.
    fn query_extras(
        &self,
        handler: &Handler,
        catalog: &Catalog,
        req: &Request<'_>,
        info: &RequestInfo,
        out: &mut Vec<u8>,
    ) -> Option<Response> {
        let arcount = u16::from_be_bytes([*req.bytes.get(10)?, *req.bytes.get(11)?]);
        let maybe_signed = arcount > u16::from(req.edns.is_some());
        let maybe_expire = req.qtype == RecordType::SOA && req.edns.is_some();
        if !maybe_signed && !maybe_expire {
            return None;
        }
        let msg = Message::from_vec(req.bytes).ok()?;
        let state = self.zone(req);
        let wants_expire = state.is_some()
            && req.qtype == RecordType::SOA
            && msg.edns.as_ref().and_then(expire::parse) == Some(ExpireOption::Requested);
        let signed = msg.signature.is_some();
        if !wants_expire && !signed {
            return None;
        }
        let mut signer = None;
        if signed {
            match admit(req.bytes, &msg, &self.shared.keyring, None, unix_now()) {
                Admission::Allowed(s) => signer = s,
                Admission::Reject(rcode) => {
                    handler.write_error(req, info, rcode, out);
                    return Some(Response::Message);
                }
                Admission::TsigError(w) => {
                    out.clear();
                    out.extend_from_slice(&w);
                    return Some(Response::Message);
                }
            }
        }
        let answer = engine::resolve(catalog, &req.qname, req.qtype, req.qclass);
        handler.write_answer(req, info, &answer, out);
        let value = state
            .filter(|_| wants_expire && answer.rcode == ResponseCode::NoError)
            .and_then(|s| s.expire_value(SystemTime::now()));
        if let Some(value) = value
            && let Ok(mut reply) = Message::from_vec(out)
            && let Some(e) = reply.edns.as_mut()
        {
            expire::set(e, expire::value_option(value));
            if let Ok(w) = reply.to_vec() {
                *out = w;
            }
        }
        if let Some(mut s) = signer
            && let Err(e) = s.sign(out, unix_now())
        {
            tracing::warn!("answer to {}: cannot sign: {e}", info.peer);
        }
        Some(Response::Message)
    }
}

/// The whole message, decoded by hickory (the query path's parse reads only the
/// question); one that does not decode gets FORMERR written to `out` and None.
fn decode_or_formerr(
    handler: &Handler,
    req: &Request<'_>,
    info: &RequestInfo,
    out: &mut Vec<u8>,
) -> Option<Message> {
    let msg = Message::from_vec(req.bytes).ok();
    if msg.is_none() {
        handler.write_error(req, info, ResponseCode::FormErr, out);
    }
    msg
}

impl Extension for PropagationExtension {
    fn handle(
        &self,
        handler: &Handler,
        catalog: &Catalog,
        req: &Request<'_>,
        info: &RequestInfo,
        out: &mut Vec<u8>,
    ) -> Option<Response> {
        match req.opcode {
            OpCode::Notify => Some(self.notify(handler, req, info, out)),
            OpCode::Update => Some(self.update(handler, req, info, out)),
            OpCode::Query => match req.qtype {
                RecordType::AXFR | RecordType::IXFR => self.transfer(handler, req, info, out),
                _ => self.query_extras(handler, catalog, req, info, out),
            },
            _ => None,
        }
    }
}
