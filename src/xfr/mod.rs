//! Zone transfers, sans-IO: `server` turns a request and a zone snapshot into a stream of
//! wire messages, `client` turns a stream of received messages into a full zone or a list
//! of changesets. The tokio drivers only move the bytes.

pub mod acl;
pub mod client;
pub mod expire;
pub mod server;
mod wire;

use hickory_proto::rr::{RData, Record, RecordType};

/// Upper bound for one message on TCP (its length prefix is 16 bits).
pub const MAX_TCP_MESSAGE: usize = 65535;

/// The serial of an SOA record, or None for any other record.
pub fn soa_serial(rec: &Record) -> Option<u32> {
    match &rec.data {
        RData::SOA(soa) if rec.record_type() == RecordType::SOA => Some(soa.serial),
        _ => None,
    }
}

#[cfg(test)]
mod interop_tests;
#[cfg(test)]
mod tests;
