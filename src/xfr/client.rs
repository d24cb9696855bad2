//! Receiving AXFR and IXFR, sans-IO: the driver sends the request built here, then feeds
//! each received message to an [`XfrConsumer`] until it reports `Done`.
//!
//! The consumer checks every message against the request (ID, question, RCODE, TSIG) and
//! parses the record sequence as it arrives, so a broken stream is detected at the record
//! where it breaks. Errors say whether an IXFR should be retried as AXFR.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use thiserror::Error;

use super::expire::{self, ExpireOption};
use super::soa_serial;
use crate::tsig::{ResponseVerifier, TsigFailure};
use crate::zone::diff::Changeset;

fn request(zone: &Name, id: u16, qtype: RecordType) -> Message {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(zone.clone(), qtype));
    m
}

/// The SOA query a secondary sends on refresh, asking for EDNS EXPIRE (RFC 7314).
pub fn soa_query(zone: &Name, id: u16) -> Message {
    let mut m = request(zone, id, RecordType::SOA);
    let mut edns = Edns::new();
    expire::set(&mut edns, expire::request_option());
    m.set_edns(edns);
    m
}

pub fn axfr_request(zone: &Name, id: u16) -> Message {
    let mut m = request(zone, id, RecordType::AXFR);
    let mut edns = Edns::new();
    expire::set(&mut edns, expire::request_option());
    m.set_edns(edns);
    m
}

/// An IXFR request carries our current SOA in the authority section (RFC 1995 §3).
pub fn ixfr_request(zone: &Name, id: u16, our_soa: Record) -> Message {
    let mut m = axfr_request(zone, id);
    if let Some(q) = m.queries.first_mut() {
        q.set_query_type(RecordType::IXFR);
    }
    m.add_authority(our_soa);
    m
}

/// What an SOA query answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoaAnswer {
    pub serial: u32,
    pub expire: Option<u32>,
}

/// Reads the answer to [`soa_query`]: the serial and, if the server sent one, the EDNS
/// EXPIRE value.
pub fn parse_soa_answer(zone: &Name, id: u16, msg: &Message) -> Result<SoaAnswer, XfrError> {
    check_header(msg, id, zone, RecordType::SOA, true)?;
    if msg.truncation {
        return Err(XfrError::Truncated);
    }
    let serial = msg
        .answers
        .iter()
        .find(|r| r.name == *zone)
        .and_then(soa_serial)
        .ok_or(XfrError::NotSoa)?;
    Ok(SoaAnswer {
        serial,
        expire: edns_expire(msg),
    })
}

fn edns_expire(msg: &Message) -> Option<u32> {
    match msg.edns.as_ref().and_then(expire::parse) {
        Some(ExpireOption::Value(v)) => Some(v),
        _ => None,
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum XfrError {
    #[error("response could not be decoded: {0}")]
    Decode(String),
    #[error("response ID {got} does not match request ID {want}")]
    IdMismatch { got: u16, want: u16 },
    #[error("response question does not match the request")]
    QuestionMismatch,
    #[error("response is not a QUERY response")]
    NotResponse,
    #[error("server answered {0}")]
    Rcode(ResponseCode),
    #[error("response is truncated (TC)")]
    Truncated,
    #[error("first record is not the zone's SOA")]
    NotSoa,
    #[error("record {0} is outside the zone")]
    OutOfZone(Name),
    #[error("SOA serial {got} where {want} was expected")]
    Inconsistent { got: u32, want: u32 },
    #[error("records after the final SOA")]
    TrailingRecords,
    #[error("the stream ended before the final SOA")]
    Incomplete,
    #[error("the server only sent its SOA (serial {0}), newer than ours")]
    SoaOnly(u32),
    #[error("the transfer has more than {0} records")]
    TooLarge(usize),
    #[error(transparent)]
    Tsig(#[from] TsigFailure),
}

impl XfrError {
    /// Whether an IXFR that failed this way should be retried as AXFR from the same
    /// primary: every failure except authentication, which AXFR would hit as well.
    pub fn fallback_to_axfr(&self) -> bool {
        !matches!(
            self,
            XfrError::Tsig(_) | XfrError::Rcode(ResponseCode::NotAuth) | XfrError::TooLarge(_)
        )
    }
}

fn check_header(
    msg: &Message,
    id: u16,
    zone: &Name,
    qtype: RecordType,
    require_question: bool,
) -> Result<(), XfrError> {
    if msg.id != id {
        return Err(XfrError::IdMismatch {
            got: msg.id,
            want: id,
        });
    }
    if msg.message_type != MessageType::Response || msg.op_code != OpCode::Query {
        return Err(XfrError::NotResponse);
    }
    match msg.queries.as_slice() {
        [] if !require_question => {}
        [q] if q.name() == zone && q.query_type() == qtype && q.query_class() == DNSClass::IN => {}
        _ => return Err(XfrError::QuestionMismatch),
    }
    if msg.response_code != ResponseCode::NoError {
        return Err(XfrError::Rcode(msg.response_code));
    }
    Ok(())
}

/// Whether `name` is `zone` or below it, ignoring ASCII case; compares labels in place
/// rather than lower-casing a copy of every name of a transfer.
fn in_zone(name: &Name, zone: &Name) -> bool {
    name.num_labels() >= zone.num_labels()
        && name
            .iter()
            .rev()
            .zip(zone.iter().rev())
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
}

/// The result of a complete transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XfrOutcome {
    /// An IXFR answered with our serial or an older one: nothing to do.
    UpToDate { serial: u32 },
    /// A whole zone (AXFR, or an AXFR-style answer to IXFR), SOA first, final SOA removed.
    Full { serial: u32, records: Vec<Record> },
    Incremental {
        serial: u32,
        changesets: Vec<Changeset>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    More,
    Done(XfrOutcome),
}

#[derive(Debug)]
enum State {
    Start,
    /// Saw the first SOA; the next record tells AXFR-style from incremental.
    AfterFirst,
    Axfr,
    Deleting,
    Adding,
    /// The outcome, until [`XfrConsumer::feed`] hands it out.
    Done(Option<XfrOutcome>),
}

/// Consumes one transfer response stream.
pub struct XfrConsumer {
    zone: Name,
    id: u16,
    qtype: RecordType,
    our_serial: Option<u32>,
    state: State,
    new_serial: u32,
    first_soa: Option<Record>,
    records: Vec<Record>,
    changesets: Vec<Changeset>,
    current: Option<Changeset>,
    messages: usize,
    seen: usize,
    max_records: usize,
    expire: Option<u32>,
    verifier: Option<ResponseVerifier>,
    now: u64,
}

impl XfrConsumer {
    pub fn axfr(zone: Name, id: u16) -> Self {
        Self::new(zone, id, RecordType::AXFR, None)
    }

    pub fn ixfr(zone: Name, id: u16, our_serial: u32) -> Self {
        Self::new(zone, id, RecordType::IXFR, Some(our_serial))
    }

    fn new(zone: Name, id: u16, qtype: RecordType, our_serial: Option<u32>) -> Self {
        XfrConsumer {
            zone,
            id,
            qtype,
            our_serial,
            state: State::Start,
            new_serial: 0,
            first_soa: None,
            records: Vec::new(),
            changesets: Vec::new(),
            current: None,
            messages: 0,
            seen: 0,
            max_records: usize::MAX,
            expire: None,
            verifier: None,
            now: 0,
        }
    }

    /// Requires every message to verify against the TSIG of our request.
    pub fn with_tsig(mut self, verifier: ResponseVerifier, now: u64) -> Self {
        self.verifier = Some(verifier);
        self.now = now;
        self
    }

    /// Refuses transfers with more records than this (protects memory).
    pub fn with_max_records(mut self, max: usize) -> Self {
        self.max_records = max;
        self
    }

    /// The EDNS EXPIRE value the primary sent in the first message, if any.
    pub fn expire(&self) -> Option<u32> {
        self.expire
    }

    pub fn messages(&self) -> usize {
        self.messages
    }

    /// Feeds one received message (without the TCP length prefix).
    pub fn feed(&mut self, wire: &[u8]) -> Result<Progress, XfrError> {
        let msg = Message::from_vec(wire).map_err(|e| XfrError::Decode(e.to_string()))?;
        if let Some(v) = &mut self.verifier {
            if let Some(err) = msg.signature.as_deref().and_then(|s| s.data.error) {
                return Err(XfrError::Tsig(TsigFailure::PeerError(err)));
            }
            // Error answers are often unsigned (Knot's NOTAUTH for a missing key): report
            // the RCODE, which says more than "unsigned".
            if msg.signature.is_none() && msg.response_code != ResponseCode::NoError {
                return Err(XfrError::Rcode(msg.response_code));
            }
            v.verify(wire, msg.signature.is_some(), self.now)?;
        }
        self.feed_message(msg)
    }

    /// The records of an AXFR-style transfer received so far, leaving none behind: a
    /// driver that takes them after every message can build the version while the rest
    /// is still arriving, instead of holding a million records until the end. The
    /// [`XfrOutcome::Full`] outcome then carries only the records not taken yet.
    pub fn take_records(&mut self) -> Vec<Record> {
        let next = Vec::with_capacity(self.records.len());
        std::mem::replace(&mut self.records, next)
    }

    /// Feeds one decoded message (TSIG, if configured, is only checked by [`feed`]).
    ///
    /// [`feed`]: XfrConsumer::feed
    pub fn feed_message(&mut self, msg: Message) -> Result<Progress, XfrError> {
        if matches!(self.state, State::Done(_)) {
            return Err(XfrError::TrailingRecords);
        }
        check_header(&msg, self.id, &self.zone, self.qtype, self.messages == 0)?;
        if msg.truncation {
            return Err(XfrError::Truncated);
        }
        if self.messages == 0 {
            self.expire = edns_expire(&msg);
        }
        self.messages += 1;
        for rec in msg.answers {
            if matches!(self.state, State::Done(_)) {
                return Err(XfrError::TrailingRecords);
            }
            self.seen += 1;
            if self.seen > self.max_records {
                return Err(XfrError::TooLarge(self.max_records));
            }
            self.record(rec)?;
        }
        if let State::AfterFirst = self.state {
            // A message that ends right after the first SOA: for IXFR that is the whole
            // answer (RFC 1995 §2/§4: up to date, or "use TCP").
            if let Some(ours) = self.our_serial {
                let newer = hickory_proto::rr::SerialNumber::new(self.new_serial)
                    > hickory_proto::rr::SerialNumber::new(ours);
                if !newer {
                    return self.finish(XfrOutcome::UpToDate {
                        serial: self.new_serial,
                    });
                }
                return Err(XfrError::SoaOnly(self.new_serial));
            }
        }
        match &mut self.state {
            State::Done(out) => match out.take() {
                Some(out) => self.finish(out),
                None => Err(XfrError::TrailingRecords),
            },
            _ => Ok(Progress::More),
        }
    }

    fn finish(&mut self, out: XfrOutcome) -> Result<Progress, XfrError> {
        self.state = State::Done(None);
        if let Some(v) = &self.verifier {
            v.finish()?;
        }
        Ok(Progress::Done(out))
    }

    /// Called when the connection closes: anything but a finished transfer is an error.
    /// (Once [`feed`](XfrConsumer::feed) returned `Done`, the outcome has been handed out.)
    pub fn end_of_stream(&mut self) -> Result<XfrOutcome, XfrError> {
        match &mut self.state {
            State::Done(out) => out.take().ok_or(XfrError::TrailingRecords),
            _ => Err(XfrError::Incomplete),
        }
    }

    fn record(&mut self, rec: Record) -> Result<(), XfrError> {
        if !in_zone(&rec.name, &self.zone) {
            return Err(XfrError::OutOfZone(rec.name));
        }
        // The type first: comparing names costs more, and most records are not SOAs.
        let serial = match soa_serial(&rec) {
            Some(s) if rec.name == self.zone => Some(s),
            _ => None,
        };
        match self.state {
            State::Start => {
                let s = serial.ok_or(XfrError::NotSoa)?;
                self.new_serial = s;
                self.first_soa = Some(rec);
                self.state = State::AfterFirst;
            }
            State::AfterFirst => {
                let first = self.first_soa.take().ok_or(XfrError::NotSoa)?;
                match (serial, self.our_serial) {
                    (Some(s), _) if s == self.new_serial => {
                        // A zone that is only its SOA, AXFR-style.
                        self.records.push(first);
                        let records = std::mem::take(&mut self.records);
                        self.state = State::Done(Some(XfrOutcome::Full { serial: s, records }));
                    }
                    (Some(s), Some(ours)) => {
                        if s != ours {
                            return Err(XfrError::Inconsistent { got: s, want: ours });
                        }
                        self.current = Some(Changeset {
                            from_serial: s,
                            to_serial: s,
                            removed: vec![rec],
                            added: Vec::new(),
                        });
                        self.state = State::Deleting;
                    }
                    (Some(s), None) => {
                        return Err(XfrError::Inconsistent {
                            got: s,
                            want: self.new_serial,
                        });
                    }
                    (None, _) => {
                        self.records.push(first);
                        self.records.push(rec);
                        self.state = State::Axfr;
                    }
                }
            }
            State::Axfr => match serial {
                Some(s) if s == self.new_serial => {
                    let records = std::mem::take(&mut self.records);
                    self.state = State::Done(Some(XfrOutcome::Full { serial: s, records }));
                }
                Some(s) => {
                    return Err(XfrError::Inconsistent {
                        got: s,
                        want: self.new_serial,
                    });
                }
                None => self.records.push(rec),
            },
            State::Deleting => {
                let cs = self.current.as_mut().ok_or(XfrError::NotSoa)?;
                match serial {
                    Some(s) => {
                        cs.to_serial = s;
                        cs.added.push(rec);
                        self.state = State::Adding;
                    }
                    None => cs.removed.push(rec),
                }
            }
            State::Adding => {
                let cs = self.current.as_mut().ok_or(XfrError::NotSoa)?;
                match serial {
                    None => cs.added.push(rec),
                    Some(s) if s == cs.to_serial && s == self.new_serial => {
                        if let Some(cs) = self.current.take() {
                            self.changesets.push(cs);
                        }
                        let changesets = std::mem::take(&mut self.changesets);
                        self.state = State::Done(Some(XfrOutcome::Incremental {
                            serial: s,
                            changesets,
                        }));
                    }
                    Some(s) if s == cs.to_serial => {
                        let from = s;
                        if let Some(done) = self.current.replace(Changeset {
                            from_serial: from,
                            to_serial: from,
                            removed: vec![rec],
                            added: Vec::new(),
                        }) {
                            self.changesets.push(done);
                        }
                        self.state = State::Deleting;
                    }
                    Some(s) => {
                        return Err(XfrError::Inconsistent {
                            got: s,
                            want: cs.to_serial,
                        });
                    }
                }
            }
            State::Done(_) => return Err(XfrError::TrailingRecords),
        }
        Ok(())
    }
}
