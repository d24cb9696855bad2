//! TSIG (RFC 8945): keys, request signing and verification, and the chained signing of
//! multi-message responses (AXFR/IXFR, §5.3.1).
//!
//! The HMAC and the wire layout of the TSIG RR come from hickory-proto; what lives here is
//! the part hickory leaves to the caller: key parsing from the forms `tsig-keygen` and
//! `keymgr` print, the time check (time is injected as seconds since the epoch), the RFC's
//! error responses, signing raw wire messages that the transfer code builds itself, and
//! verifying a response stream that may contain unsigned intermediate messages.

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::Name;
use hickory_proto::rr::rdata::tsig::{TSIG, TsigError, make_tsig_record, signed_bitmessage_to_buf};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use thiserror::Error;

/// Fudge in seconds, as BIND and Knot use by default.
pub const DEFAULT_FUDGE: u16 = 300;

/// Bytes to keep free in a message for the TSIG RR appended after it is built: key name
/// (at most 255), fixed fields, algorithm name and a 64-byte MAC stay well below this.
pub const TSIG_RESERVE: usize = 512;

/// RFC 8945 §5.3.1 allows at most 99 unsigned messages between two signed ones.
const MAX_UNSIGNED_RUN: usize = 99;

mod key;
pub use key::{Keyring, TsigKey, TsigKeyConfig, TsigKeyError};

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TsigFailure {
    #[error("TSIG: message is not signed")]
    Unsigned,
    #[error("TSIG: unknown key {0} (BADKEY)")]
    BadKey(Name),
    #[error("TSIG: signature does not verify (BADSIG)")]
    BadSig,
    #[error("TSIG: time {signed} is outside {now}±{fudge}s (BADTIME)")]
    BadTime { signed: u64, now: u64, fudge: u16 },
    #[error("TSIG: the peer reported error {0:?}")]
    PeerError(TsigError),
    #[error("TSIG: more than {MAX_UNSIGNED_RUN} unsigned messages in a row")]
    TooManyUnsigned,
    #[error("TSIG: the stream ended with an unsigned message")]
    UnsignedEnd,
    #[error("TSIG: malformed message: {0}")]
    Malformed(String),
    #[error("TSIG: {0}")]
    Crypto(String),
}

impl TsigFailure {
    /// The TSIG error code to answer a request with (RFC 8945 §5.2).
    pub fn error_code(&self) -> TsigError {
        match self {
            TsigFailure::BadKey(_) => TsigError::BadKey,
            TsigFailure::BadTime { .. } => TsigError::BadTime,
            _ => TsigError::BadSig,
        }
    }
}

fn time_ok(signed: u64, fudge: u16, now: u64) -> bool {
    signed.abs_diff(now) <= u64::from(fudge)
}

/// Appends `tsig` as the last additional record of the encoded message and bumps ARCOUNT.
fn append_tsig(wire: &mut Vec<u8>, key_name: &Name, tsig: TSIG) -> Result<(), TsigFailure> {
    let rec = make_tsig_record(key_name.clone(), tsig);
    let mut tail = Vec::with_capacity(128);
    {
        let mut enc = BinEncoder::new(&mut tail);
        rec.emit(&mut enc)
            .map_err(|e| TsigFailure::Malformed(e.to_string()))?;
    }
    if wire.len() < 12 {
        return Err(TsigFailure::Malformed(
            "message shorter than a header".into(),
        ));
    }
    let ar = u16::from_be_bytes([wire[10], wire[11]])
        .checked_add(1)
        .ok_or_else(|| TsigFailure::Malformed("ARCOUNT overflow".into()))?;
    wire[10..12].copy_from_slice(&ar.to_be_bytes());
    wire.extend_from_slice(&tail);
    Ok(())
}

fn emit_vars(buf: &mut Vec<u8>, key_name: &Name, tsig: &TSIG) -> Result<(), TsigFailure> {
    let mut enc = BinEncoder::new(buf);
    enc.set_offset(enc.len());
    tsig.emit_tsig_for_mac(&mut enc, key_name)
        .map_err(|e| TsigFailure::Malformed(e.to_string()))
}

fn emit_timers(buf: &mut Vec<u8>, tsig: &TSIG) {
    buf.extend_from_slice(&((tsig.time >> 32) as u16).to_be_bytes());
    buf.extend_from_slice(&(tsig.time as u32).to_be_bytes());
    buf.extend_from_slice(&tsig.fudge.to_be_bytes());
}

fn prefix_mac(buf: &mut Vec<u8>, mac: &[u8]) {
    buf.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    buf.extend_from_slice(mac);
}

/// Signs an encoded request (NOTIFY, SOA query, AXFR/IXFR). Returns the signed wire and
/// the request MAC, which the response verifier needs.
pub fn sign_request(
    wire: &[u8],
    key: &TsigKey,
    now: u64,
) -> Result<(Vec<u8>, Vec<u8>), TsigFailure> {
    if wire.len() < 12 {
        return Err(TsigFailure::Malformed(
            "message shorter than a header".into(),
        ));
    }
    let id = u16::from_be_bytes([wire[0], wire[1]]);
    let stub = TSIG::new(
        key.algorithm.clone(),
        now,
        DEFAULT_FUDGE,
        Vec::new(),
        id,
        None,
        Vec::new(),
    );
    let mut tbs = wire.to_vec();
    emit_vars(&mut tbs, &key.name, &stub)?;
    let mac = key.mac(&tbs)?;
    let mut out = wire.to_vec();
    append_tsig(&mut out, &key.name, stub.set_mac(mac.clone()))?;
    Ok((out, mac))
}

/// The outcome of checking an incoming request's TSIG.
#[derive(Debug, Clone)]
pub enum RequestAuth {
    Unsigned,
    Verified {
        key: TsigKey,
        mac: Vec<u8>,
    },
    /// The request must be answered with NOTAUTH and this failure's TSIG error.
    Failed {
        failure: TsigFailure,
        /// The key, when it was known (BADTIME answers are signed with it).
        key: Option<TsigKey>,
        mac: Vec<u8>,
        signed_time: u64,
    },
}

/// Checks the TSIG of an incoming request against the keyring (RFC 8945 §5.2: key, then
/// MAC, then time).
pub fn verify_request(wire: &[u8], keyring: &Keyring, now: u64) -> RequestAuth {
    let msg = match Message::from_vec(wire) {
        Ok(m) => m,
        Err(e) => {
            return RequestAuth::Failed {
                failure: TsigFailure::Malformed(e.to_string()),
                key: None,
                mac: Vec::new(),
                signed_time: 0,
            };
        }
    };
    if msg.signature.is_none() {
        return RequestAuth::Unsigned;
    }
    let (tbv, rr) = match signed_bitmessage_to_buf(wire, None, true) {
        Ok(x) => x,
        Err(e) => {
            return RequestAuth::Failed {
                failure: TsigFailure::Malformed(e.to_string()),
                key: None,
                mac: Vec::new(),
                signed_time: 0,
            };
        }
    };
    let tsig = &rr.data;
    let Some(key) = keyring.find(&rr.name, &tsig.algorithm) else {
        return RequestAuth::Failed {
            failure: TsigFailure::BadKey(rr.name.clone()),
            key: None,
            mac: Vec::new(),
            signed_time: tsig.time,
        };
    };
    if !key.verify_mac(&tbv, &tsig.mac) {
        return RequestAuth::Failed {
            failure: TsigFailure::BadSig,
            key: Some(key.clone()),
            mac: Vec::new(),
            signed_time: tsig.time,
        };
    }
    if !time_ok(tsig.time, tsig.fudge, now) {
        return RequestAuth::Failed {
            failure: TsigFailure::BadTime {
                signed: tsig.time,
                now,
                fudge: tsig.fudge,
            },
            key: Some(key.clone()),
            mac: tsig.mac.clone(),
            signed_time: tsig.time,
        };
    }
    RequestAuth::Verified {
        key: key.clone(),
        mac: tsig.mac.clone(),
    }
}

/// The NOTAUTH answer to a request whose TSIG failed (RFC 8945 §5.2.1-5.2.3): BADKEY and
/// BADSIG answers carry an unsigned TSIG RR, BADTIME answers are signed and carry our time
/// in Other Data so the client can see the skew.
pub fn error_response(
    request: &Message,
    failure: &TsigFailure,
    key: Option<&TsigKey>,
    request_mac: &[u8],
    now: u64,
) -> Result<Vec<u8>, TsigFailure> {
    let mut resp = Message::new(request.id, MessageType::Response, request.op_code);
    resp.metadata.response_code = ResponseCode::NotAuth;
    resp.metadata.recursion_desired = request.recursion_desired;
    resp.queries = request.queries.clone();
    let mut wire = resp
        .to_vec()
        .map_err(|e| TsigFailure::Malformed(e.to_string()))?;
    let (name, alg) = match (key, request.signature.as_deref()) {
        (Some(k), _) => (k.name.clone(), k.algorithm.clone()),
        (None, Some(sig)) => (sig.name.clone(), sig.data.algorithm.clone()),
        (None, None) => return Ok(wire),
    };
    let error = failure.error_code();
    let mut stub = TSIG::new(
        alg,
        now,
        DEFAULT_FUDGE,
        Vec::new(),
        request.id,
        Some(error),
        Vec::new(),
    );
    if let (TsigError::BadTime, Some(k)) = (error, key) {
        let mut other = Vec::with_capacity(6);
        other.extend_from_slice(&((now >> 32) as u16).to_be_bytes());
        other.extend_from_slice(&(now as u32).to_be_bytes());
        stub.other = other;
        let mut tbs = Vec::with_capacity(wire.len() + 128);
        prefix_mac(&mut tbs, request_mac);
        tbs.extend_from_slice(&wire);
        emit_vars(&mut tbs, &k.name, &stub)?;
        let mac = k.mac(&tbs)?;
        stub = stub.set_mac(mac);
    }
    append_tsig(&mut wire, &name, stub)?;
    Ok(wire)
}

/// A server's decision on a request to a zone whose ACL may require keys.
#[derive(Debug)]
pub enum Admission {
    /// Serve it; sign the answer with this signer if the request was signed.
    Allowed(Option<ResponseSigner>),
    /// Answer with this RCODE and no TSIG.
    Reject(ResponseCode),
    /// Answer with this ready-made NOTAUTH + TSIG error message.
    TsigError(Vec<u8>),
}

/// Checks a request's TSIG and the zone's key requirement. `required` lists the keys the
/// zone accepts, or None when it requires none. A bad TSIG always gets the RFC 8945 error
/// (even where no key is required); an unsigned request, or one signed with a key the zone
/// does not list, gets NOTAUTH without TSIG, as Knot answers.
pub fn admit(
    wire: &[u8],
    request: &Message,
    keyring: &Keyring,
    required: Option<&[Name]>,
    now: u64,
) -> Admission {
    match verify_request(wire, keyring, now) {
        RequestAuth::Failed {
            failure, key, mac, ..
        } => match error_response(request, &failure, key.as_ref(), &mac, now) {
            Ok(w) => Admission::TsigError(w),
            Err(_) => Admission::Reject(ResponseCode::FormErr),
        },
        RequestAuth::Unsigned => match required {
            Some(_) => Admission::Reject(ResponseCode::NotAuth),
            None => Admission::Allowed(None),
        },
        RequestAuth::Verified { key, mac } => match required {
            Some(names) if !names.contains(&key.name) => Admission::Reject(ResponseCode::NotAuth),
            _ => Admission::Allowed(Some(ResponseSigner::new(key, mac))),
        },
    }
}

/// Signs the messages of one response stream in order: the first covers the request MAC
/// and all TSIG variables, each later one the previous MAC and only the timers (RFC 8945
/// §5.3.1). Every message is signed, as BIND and Knot do.
#[derive(Debug, Clone)]
pub struct ResponseSigner {
    key: TsigKey,
    prev_mac: Vec<u8>,
    first: bool,
}

impl ResponseSigner {
    pub fn new(key: TsigKey, request_mac: Vec<u8>) -> Self {
        ResponseSigner {
            key,
            prev_mac: request_mac,
            first: true,
        }
    }

    /// Appends the TSIG RR to an encoded response (its ID must be the request's).
    pub fn sign(&mut self, wire: &mut Vec<u8>, now: u64) -> Result<(), TsigFailure> {
        if wire.len() < 12 {
            return Err(TsigFailure::Malformed(
                "message shorter than a header".into(),
            ));
        }
        let id = u16::from_be_bytes([wire[0], wire[1]]);
        let stub = TSIG::new(
            self.key.algorithm.clone(),
            now,
            DEFAULT_FUDGE,
            Vec::new(),
            id,
            None,
            Vec::new(),
        );
        let mut tbs = Vec::with_capacity(wire.len() + 128);
        prefix_mac(&mut tbs, &self.prev_mac);
        tbs.extend_from_slice(wire);
        if self.first {
            emit_vars(&mut tbs, &self.key.name, &stub)?;
        } else {
            emit_timers(&mut tbs, &stub);
        }
        let mac = self.key.mac(&tbs)?;
        append_tsig(wire, &self.key.name, stub.set_mac(mac.clone()))?;
        self.prev_mac = mac;
        self.first = false;
        Ok(())
    }
}

/// Verifies the messages of a response stream to one of our signed requests. The first
/// message must be signed; later unsigned ones are accumulated into the next signed
/// message's digest, up to 99 in a row, and the last message must be signed.
#[derive(Debug, Clone)]
pub struct ResponseVerifier {
    key: TsigKey,
    prev_mac: Vec<u8>,
    first: bool,
    unsigned: Vec<u8>,
    unsigned_count: usize,
    last_time: u64,
}

impl ResponseVerifier {
    pub fn new(key: TsigKey, request_mac: Vec<u8>) -> Self {
        ResponseVerifier {
            key,
            prev_mac: request_mac,
            first: true,
            unsigned: Vec::new(),
            unsigned_count: 0,
            last_time: 0,
        }
    }

    /// Checks one message; `signed` says whether it carries a TSIG RR (the caller has
    /// already decoded it).
    pub fn verify(&mut self, wire: &[u8], signed: bool, now: u64) -> Result<(), TsigFailure> {
        if !signed {
            if self.first {
                return Err(TsigFailure::Unsigned);
            }
            self.unsigned_count += 1;
            if self.unsigned_count > MAX_UNSIGNED_RUN {
                return Err(TsigFailure::TooManyUnsigned);
            }
            self.unsigned.extend_from_slice(wire);
            return Ok(());
        }
        let (mut tbv, rr) = signed_bitmessage_to_buf(wire, Some(&self.prev_mac), self.first)
            .map_err(|e| TsigFailure::Malformed(e.to_string()))?;
        let tsig = &rr.data;
        if let Some(err) = tsig.error {
            return Err(TsigFailure::PeerError(err));
        }
        if rr.name != self.key.name || tsig.algorithm != self.key.algorithm {
            return Err(TsigFailure::BadKey(rr.name.clone()));
        }
        if !self.unsigned.is_empty() {
            let at = 2 + self.prev_mac.len();
            tbv.splice(at..at, self.unsigned.drain(..));
        }
        if !self.key.verify_mac(&tbv, &tsig.mac) {
            return Err(TsigFailure::BadSig);
        }
        if !time_ok(tsig.time, tsig.fudge, now) || tsig.time < self.last_time {
            return Err(TsigFailure::BadTime {
                signed: tsig.time,
                now,
                fudge: tsig.fudge,
            });
        }
        self.last_time = tsig.time;
        self.prev_mac = tsig.mac.clone();
        self.first = false;
        self.unsigned_count = 0;
        Ok(())
    }

    /// Called when the stream is complete: its last message must have been signed.
    pub fn finish(&self) -> Result<(), TsigFailure> {
        if self.unsigned_count > 0 || self.first {
            Err(TsigFailure::UnsignedEnd)
        } else {
            Ok(())
        }
    }
}

/// Whether a decoded record is the TSIG RR a signed message ends with.
pub fn is_signed(msg: &Message) -> bool {
    msg.signature.is_some()
}

/// The TSIG error a response reports, if any (a NOTAUTH answer to our request).
pub fn response_error(msg: &Message) -> Option<TsigError> {
    msg.signature.as_deref().and_then(|s| s.data.error)
}

#[cfg(test)]
mod tests;
