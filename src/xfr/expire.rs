//! The EDNS EXPIRE option (RFC 7314, option code 9).
//!
//! A secondary asks for it with an empty option in its SOA query or transfer request. A
//! primary answers with its SOA EXPIRE; a secondary answers with the time left before its
//! own copy expires, so a tertiary never outlives the data it was given.

use hickory_proto::op::Edns;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};

pub const EXPIRE_CODE: u16 = 9;

/// What an OPT record says about EXPIRE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireOption {
    /// Empty option: a request for the value.
    Requested,
    /// Seconds until the zone expires on the answering server.
    Value(u32),
}

/// The option to put in a request.
pub fn request_option() -> EdnsOption {
    EdnsOption::Unknown(EXPIRE_CODE, Vec::new())
}

/// The option to put in an answer.
pub fn value_option(seconds: u32) -> EdnsOption {
    EdnsOption::Unknown(EXPIRE_CODE, seconds.to_be_bytes().to_vec())
}

/// Reads the option from a message's EDNS. A malformed length is ignored as if absent,
/// as RFC 7314 §2 leaves no other choice for a value that cannot be read.
pub fn parse(edns: &Edns) -> Option<ExpireOption> {
    match edns.option(EdnsCode::Expire)? {
        EdnsOption::Unknown(_, data) => match data.as_slice() {
            [] => Some(ExpireOption::Requested),
            [a, b, c, d] => Some(ExpireOption::Value(u32::from_be_bytes([*a, *b, *c, *d]))),
            _ => None,
        },
        _ => None,
    }
}

/// The OPT record for an answer: present when the request had one (RFC 6891 §6.1.1), with
/// the EXPIRE value when the request asked for it. `remaining` is our SOA EXPIRE on a
/// primary, or the time left before expiry on a secondary.
pub fn answer_edns(request: Option<&Edns>, remaining: u32, max_payload: u16) -> Option<Edns> {
    let req = request?;
    let mut e = Edns::new();
    e.set_max_payload(max_payload);
    if parse(req).is_some() {
        set(&mut e, value_option(remaining));
    }
    Some(e)
}

/// Adds (or replaces) the option in `edns`.
pub fn set(edns: &mut Edns, opt: EdnsOption) {
    edns.options_mut().remove(EdnsCode::Expire);
    edns.options_mut().insert(opt);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, MessageType, OpCode};

    #[test]
    fn round_trips_through_the_wire() {
        for (opt, want) in [
            (request_option(), ExpireOption::Requested),
            (value_option(1_209_600), ExpireOption::Value(1_209_600)),
        ] {
            let mut m = Message::new(1, MessageType::Query, OpCode::Query);
            let mut e = Edns::new();
            set(&mut e, opt);
            m.set_edns(e);
            let back = Message::from_vec(&m.to_vec().unwrap()).unwrap();
            assert_eq!(parse(back.edns.as_ref().unwrap()), Some(want));
        }
        let mut e = Edns::new();
        set(&mut e, EdnsOption::Unknown(EXPIRE_CODE, vec![1, 2]));
        assert_eq!(parse(&e), None);
        assert_eq!(parse(&Edns::new()), None);
    }

    #[test]
    fn answers_only_what_was_asked() {
        assert_eq!(answer_edns(None, 5, 1232), None);
        let plain = answer_edns(Some(&Edns::new()), 5, 1232).unwrap();
        assert_eq!(parse(&plain), None);
        assert_eq!(plain.max_payload(), 1232);
        let mut asked = Edns::new();
        set(&mut asked, request_option());
        let e = answer_edns(Some(&asked), 86400, 1232).unwrap();
        assert_eq!(parse(&e), Some(ExpireOption::Value(86400)));
    }
}
