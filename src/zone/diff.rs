//! Changesets between zone versions: the unit of the journal and of IXFR (RFC 1995).

use hickory_proto::rr::Record;

/// The difference between two consecutive versions of a zone, in IXFR's shape: the old
/// SOA and the records removed, then the new SOA and the records added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changeset {
    pub from_serial: u32,
    pub to_serial: u32,
    /// Starts with the old SOA record.
    pub removed: Vec<Record>,
    /// Starts with the new SOA record.
    pub added: Vec<Record>,
}
