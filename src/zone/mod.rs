//! Zone data: one immutable version of a zone.
//!
//! A `Zone` is never mutated after it is built. Every query is answered from one
//! `Arc<Zone>` snapshot, and an edit or a transfer builds the next `Zone` and swaps it in
//! (see `catalog`), so a reader can never observe a half-applied change.
//!
//! Lookups are keyed by lower-cased owner name in a hash map, and every empty
//! non-terminal is present as an empty node, so the answer engine can find the closest
//! encloser by walking the query name's ancestors: the cost of a lookup depends on the
//! number of labels in the query name, never on the size of the zone.

pub mod build;
pub mod check;
pub mod diff;
pub mod edit;
pub mod file_edit;
pub mod load;
mod nodes;
pub mod print;
mod print_wire;
pub mod reload;
pub mod wire_key;

use std::any::Any;
use std::sync::{Arc, OnceLock};

use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};
use smallvec::SmallVec;
use thiserror::Error;

pub use build::{BuildThread, ZoneBuilder};

/// Errors that prevent a set of records from forming a servable zone version.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ZoneError {
    #[error("zone {0}: no SOA record at the apex")]
    NoSoa(Name),
    #[error("zone {0}: more than one SOA record at the apex")]
    MultipleSoa(Name),
    #[error("zone {zone}: {name} is out of zone")]
    OutOfZone { zone: Name, name: Box<Name> },
    #[error("zone {zone}: {name} has a class other than IN ({class})")]
    BadClass {
        zone: Name,
        name: Box<Name>,
        class: DNSClass,
    },
}

/// All records of one owner name and one type. RFC 2181 §5.2 requires a single TTL per
/// RRset, so the TTL lives here rather than on each record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RRset {
    /// The owner name with the case it was written with in the zone.
    pub name: Name,
    pub rtype: RecordType,
    pub ttl: u32,
    pub rdata: Vec<RData>,
}

impl RRset {
    /// The RRset as wire-ready records, with `owner` as the owner name. Passing the owner
    /// lets the engine echo the query's case or substitute a wildcard's expansion.
    pub fn records_as<'a>(&'a self, owner: &'a Name) -> impl Iterator<Item = Record> + 'a {
        self.rdata
            .iter()
            .map(move |rd| Record::from_rdata(owner.clone(), self.ttl, rd.clone()))
    }

    /// The RRset as records under its own owner name.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        self.records_as(&self.name)
    }
}

/// Every RRset at one owner name. A node with no RRsets is an empty non-terminal.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// Few names have more than a handful of types, so a small vector beats a map; most
    /// have one, which is kept inline (one allocation less per name of a large zone).
    rrsets: SmallVec<[Arc<RRset>; 1]>,
    /// How many nodes sit directly below this one. A hash map has no child links, and an
    /// update that empties a node must know whether it stays as an empty non-terminal.
    children: u32,
}

impl Node {
    pub fn get(&self, rtype: RecordType) -> Option<&Arc<RRset>> {
        self.rrsets.iter().find(|s| s.rtype == rtype)
    }

    pub fn rrsets(&self) -> &[Arc<RRset>] {
        &self.rrsets
    }

    /// True for an empty non-terminal: the name exists (RFC 4592 §2.2.2) but owns no data.
    pub fn is_empty_non_terminal(&self) -> bool {
        self.rrsets.is_empty()
    }
}

/// One immutable, servable version of a zone.
#[derive(Debug, Clone)]
pub struct Zone {
    origin: Name,
    origin_lower: LowerName,
    /// Sharded so that successive versions share the shards they do not change.
    nodes: nodes::NodeMap,
    serial: u32,
    record_count: usize,
    /// Data a consumer derives once per version (the answer engine keeps the apex NS
    /// records and their addresses here), opaque so that `zone` depends on nothing above
    /// it. Filled on first use; a new version starts empty.
    derived: OnceLock<Arc<dyn Any + Send + Sync>>,
}

/// A version of more names than this is freed on the reaper thread (see `reap`).
const REAP_NAMES: usize = 10_000;

impl Drop for Zone {
    fn drop(&mut self) {
        if self.nodes.len() > REAP_NAMES {
            crate::reap::drop_later(std::mem::take(&mut self.nodes));
        }
    }
}

impl Zone {
    /// Builds a version from records. Records of the same name and type are merged into
    /// one RRset; the first TTL seen for an RRset is used for all of its records (the
    /// loader warns about differing TTLs before it gets here). Duplicate RDATA is dropped,
    /// as RFC 2181 §5 requires.
    #[allow(clippy::result_large_err)]
    pub fn from_records(
        origin: Name,
        records: impl IntoIterator<Item = Record>,
    ) -> Result<Zone, ZoneError> {
        let records = records.into_iter();
        let mut b = ZoneBuilder::with_capacity(origin, records.size_hint().0);
        for rec in records {
            b.push(rec)?;
        }
        b.finish()
    }

    pub fn origin(&self) -> &Name {
        &self.origin
    }

    pub fn origin_lower(&self) -> &LowerName {
        &self.origin_lower
    }

    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// The number of records (not RRsets) in this version.
    pub fn record_count(&self) -> usize {
        self.record_count
    }

    pub fn node(&self, name: &LowerName) -> Option<&Node> {
        self.nodes.get(name)
    }

    /// [`Zone::node`] for a name given as lower-cased wire bytes: the query path walks
    /// ancestors as slices of one buffer (see [`wire_key`]).
    pub fn node_wire(&self, wire: &[u8]) -> Option<&Node> {
        self.nodes.get_wire(wire)
    }

    pub fn apex(&self) -> &Node {
        // from_records guarantees the apex exists.
        self.nodes
            .get(&self.origin_lower)
            .expect("from_records guarantees the apex exists")
    }

    /// The apex SOA RRset, which every version has.
    pub fn soa(&self) -> &Arc<RRset> {
        self.apex()
            .get(RecordType::SOA)
            .expect("a Zone always has an apex SOA")
    }

    /// All RRsets in DNSSEC canonical order (RFC 4034 §6.1), SOA first. This sorts, so it
    /// belongs on slow paths (transfers, printing, diffs), never on the query path.
    pub fn rrsets_canonical(&self) -> Vec<&Arc<RRset>> {
        let mut names: Vec<(&LowerName, &Node)> = self.nodes.iter().collect();
        names.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = Vec::with_capacity(self.nodes.len());
        out.push(self.soa());
        for (_, node) in names {
            let mut sets: Vec<&Arc<RRset>> = node
                .rrsets
                .iter()
                .filter(|s| s.rtype != RecordType::SOA)
                .collect();
            sets.sort_by_key(|s| u16::from(s.rtype));
            out.extend(sets);
        }
        out
    }

    /// All records in canonical order, SOA first.
    pub fn records_canonical(&self) -> Vec<Record> {
        self.rrsets_canonical()
            .into_iter()
            .flat_map(|s| s.records().collect::<Vec<_>>())
            .collect()
    }

    /// The per-version slot for derived data; see the field's doc.
    pub fn derived(&self) -> &OnceLock<Arc<dyn Any + Send + Sync>> {
        &self.derived
    }

    /// Iterates over all nodes (including empty non-terminals) in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = (&LowerName, &Node)> {
        self.nodes.iter()
    }

    /// [`Zone::nodes`] split in `parts` disjoint parts (for threads); together they are
    /// every node once.
    pub fn nodes_part(
        &self,
        part: usize,
        parts: usize,
    ) -> impl Iterator<Item = (&LowerName, &Node)> {
        self.nodes.iter_part(part, parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, NS, SOA};
    use std::str::FromStr;

    fn n(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    fn soa(origin: &str, serial: u32) -> Record {
        Record::from_rdata(
            n(origin),
            3600,
            RData::SOA(SOA::new(
                n(&format!("ns1.{origin}")),
                n(&format!("hostmaster.{origin}")),
                serial,
                7200,
                900,
                1209600,
                300,
            )),
        )
    }

    #[test]
    fn builds_nodes_rrsets_and_empty_non_terminals() {
        let recs = vec![
            soa("example.test.", 7),
            Record::from_rdata(
                n("example.test."),
                3600,
                RData::NS(NS(n("ns1.example.test."))),
            ),
            Record::from_rdata(n("a.b.c.example.test."), 60, RData::A(A::new(192, 0, 2, 1))),
            Record::from_rdata(n("A.b.c.example.test."), 99, RData::A(A::new(192, 0, 2, 2))),
            Record::from_rdata(n("a.b.c.example.test."), 60, RData::A(A::new(192, 0, 2, 1))),
        ];
        let z = Zone::from_records(n("example.test."), recs).unwrap();
        assert_eq!(z.serial(), 7);
        assert_eq!(z.record_count(), 4, "duplicate RDATA is dropped");
        let node = z.node(&LowerName::new(&n("a.b.c.example.test."))).unwrap();
        let set = node.get(RecordType::A).unwrap();
        assert_eq!(set.rdata.len(), 2);
        assert_eq!(set.ttl, 60, "first TTL wins");
        for ent in ["b.c.example.test.", "c.example.test."] {
            assert!(
                z.node(&LowerName::new(&n(ent)))
                    .unwrap()
                    .is_empty_non_terminal()
            );
        }
        assert!(z.node(&LowerName::new(&n("d.example.test."))).is_none());
        let canon = z.records_canonical();
        assert_eq!(canon[0].record_type(), RecordType::SOA);
        assert_eq!(canon.len(), 4);
    }

    #[test]
    fn rejects_missing_soa_and_out_of_zone() {
        let e = Zone::from_records(
            n("example.test."),
            vec![Record::from_rdata(
                n("example.test."),
                1,
                RData::A(A::new(1, 2, 3, 4)),
            )],
        )
        .unwrap_err();
        assert_eq!(e, ZoneError::NoSoa(n("example.test.")));
        let e = Zone::from_records(
            n("example.test."),
            vec![soa("example.test.", 1), soa("other.test.", 1)],
        )
        .unwrap_err();
        assert!(matches!(e, ZoneError::OutOfZone { .. }));
    }
}
