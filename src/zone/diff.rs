//! Changesets between zone versions: the unit of the journal and of IXFR (RFC 1995).
//!
//! Large zones are the norm, so nothing here is quadratic in the zone size. [`diff`] walks
//! both versions' hash maps once and compares RRsets (an `Arc` shared by both versions is
//! skipped without looking inside). [`apply`] copies the node map (pointer copies) and
//! rebuilds only the RRsets a changeset touches.

mod apply;
mod condense;

pub use apply::apply;
pub use condense::condense;

use std::collections::HashSet;
use std::sync::Arc;

use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use thiserror::Error;

use super::nodes::ShardExt;
use super::{Node, RRset, Zone};

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

/// Why a changeset cannot be applied or condensed. Apart from `Malformed`, these are the
/// "inconsistent history" cases after which a secondary falls back to AXFR.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DiffError {
    #[error(
        "zone {zone}: changeset starts at serial {found}, but the zone is at serial {expected}"
    )]
    SerialMismatch {
        zone: Name,
        expected: u32,
        found: u32,
    },
    #[error("zone {zone}: inconsistent history: cannot remove {record}, it is not in the zone")]
    MissingRecord { zone: Name, record: String },
    #[error("zone {zone}: inconsistent history: cannot add {record}, it is already in the zone")]
    DuplicateRecord { zone: Name, record: String },
    #[error(
        "zone {zone}: changesets are not consecutive: {to} is followed by a changeset from {from}"
    )]
    NotConsecutive { zone: Name, to: u32, from: u32 },
    #[error("zone {zone}: malformed changeset: {reason}")]
    Malformed { zone: Name, reason: String },
}

impl Changeset {
    /// The old and new SOA records, which every well-formed changeset leads with.
    pub fn soas(&self) -> Option<(&Record, &Record)> {
        Some((self.removed.first()?, self.added.first()?))
    }

    /// The number of records in IXFR form, both SOAs included.
    pub fn len(&self) -> usize {
        self.removed.len() + self.added.len()
    }

    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }

    /// True when something other than the SOA serial differs: the "content changed" input
    /// of the serial policies, so that a file whose only edit is its serial is told apart
    /// from a real edit.
    pub fn content_changed(&self) -> bool {
        if self.removed.len() > 1 || self.added.len() > 1 {
            return true;
        }
        match self.soas() {
            Some((old, new)) => {
                old.ttl != new.ttl
                    || old.name != new.name
                    || soa_without_serial(&old.data) != soa_without_serial(&new.data)
            }
            None => !self.is_empty(),
        }
    }

    /// Rewrites the new serial, for a serial policy that overrides the file's serial.
    pub fn set_to_serial(&mut self, serial: u32) {
        self.to_serial = serial;
        if let Some(RData::SOA(soa)) = self.added.first_mut().map(|r| &mut r.data) {
            soa.serial = serial;
        }
    }
}

fn soa_without_serial(rd: &RData) -> Option<RData> {
    match rd {
        RData::SOA(soa) => {
            let mut soa = soa.clone();
            soa.serial = 0;
            Some(RData::SOA(soa))
        }
        _ => None,
    }
}

/// Returns `zone` with its SOA serial replaced, e.g. after a serial policy chose a serial
/// other than the file's. Takes the zone by value so that only the apex is rebuilt.
pub fn set_serial(mut zone: Zone, serial: u32) -> Zone {
    let apex = zone.origin_lower.clone();
    if let Some(node) = zone.nodes.get_mut(&apex)
        && let Some(set) = node.rrsets.iter_mut().find(|s| s.rtype == RecordType::SOA)
    {
        for rd in &mut Arc::make_mut(set).rdata {
            if let RData::SOA(soa) = rd {
                soa.serial = serial;
            }
        }
    }
    zone.serial = serial;
    // Whatever a consumer derived belongs to the old version.
    zone.derived = std::sync::OnceLock::new();
    zone
}

/// The changeset that turns `old` into `new`. The SOAs are always present, so diffing a
/// version against itself gives a changeset whose only records are the (equal) SOAs.
/// A changed TTL removes and re-adds the whole RRset, as BIND and Knot do.
pub fn diff(old: &Zone, new: &Zone) -> Changeset {
    // (sort key, type, records) per changed RRset, sorted at the end so the output is
    // deterministic; only changed RRsets are sorted.
    let mut out = DiffOut::default();
    let (old_shards, new_shards) = (old.nodes.shards(), new.nodes.shards());
    if old_shards.len() == new_shards.len() {
        // A name lands in the same shard in every version, so shards pair up, and a shard
        // shared by both versions holds no difference at all.
        for (o, n) in old_shards.iter().zip(new_shards) {
            if !Arc::ptr_eq(o, n) {
                out.walk(
                    o.entries(),
                    o.len(),
                    n.entries(),
                    |k| o.get_node(k),
                    |k| n.get_node(k).is_some(),
                );
            }
        }
    } else {
        out.walk(
            old.nodes.iter(),
            old.nodes.len(),
            new.nodes.iter(),
            |k| old.nodes.get(k),
            |k| new.nodes.contains_key(k),
        );
    }
    let DiffOut { removed, added } = out;

    Changeset {
        from_serial: old.serial,
        to_serial: new.serial,
        removed: flatten_sorted(old.soa(), removed),
        added: flatten_sorted(new.soa(), added),
    }
}

/// Changed RRsets as (sort key, type, records), sorted at the end so the output is
/// deterministic; only changed RRsets are sorted.
#[derive(Default)]
struct DiffOut<'a> {
    removed: Vec<(&'a LowerName, RecordType, Vec<Record>)>,
    added: Vec<(&'a LowerName, RecordType, Vec<Record>)>,
}

impl<'a> DiffOut<'a> {
    /// Compares the nodes of a part of two versions (everything, or one pair of shards).
    fn walk(
        &mut self,
        old_nodes: impl Iterator<Item = (&'a LowerName, &'a Node)>,
        old_len: usize,
        new_nodes: impl Iterator<Item = (&'a LowerName, &'a Node)>,
        old_get: impl Fn(&LowerName) -> Option<&'a Node>,
        new_contains: impl Fn(&LowerName) -> bool,
    ) {
        let mut found = 0usize;
        for (name, new_node) in new_nodes {
            let old_node = old_get(name);
            found += usize::from(old_node.is_some());
            for set in &new_node.rrsets {
                if set.rtype == RecordType::SOA {
                    continue;
                }
                match old_node.and_then(|n| n.get(set.rtype)) {
                    None => self.added.push((name, set.rtype, set.records().collect())),
                    Some(old_set) if Arc::ptr_eq(old_set, set) => {}
                    Some(old_set) => {
                        let (r, a) = diff_rrset(old_set, set);
                        if !r.is_empty() {
                            self.removed.push((name, set.rtype, r));
                        }
                        if !a.is_empty() {
                            self.added.push((name, set.rtype, a));
                        }
                    }
                }
            }
            if let Some(old_node) = old_node {
                for old_set in &old_node.rrsets {
                    if old_set.rtype != RecordType::SOA && new_node.get(old_set.rtype).is_none() {
                        self.removed
                            .push((name, old_set.rtype, old_set.records().collect()));
                    }
                }
            }
        }
        if found == old_len {
            // Every old name is still there: no need to look for deleted ones.
            return;
        }
        for (name, old_node) in old_nodes {
            if new_contains(name) {
                continue;
            }
            for set in &old_node.rrsets {
                self.removed
                    .push((name, set.rtype, set.records().collect()));
            }
        }
    }
}

fn flatten_sorted(
    soa: &RRset,
    mut sets: Vec<(&LowerName, RecordType, Vec<Record>)>,
) -> Vec<Record> {
    sets.sort_by(|a, b| a.0.cmp(b.0).then(u16::from(a.1).cmp(&u16::from(b.1))));
    let mut out: Vec<Record> = soa.records().take(1).collect();
    for (_, _, recs) in sets {
        out.extend(recs);
    }
    out
}

/// Records to remove and to add to turn one RRset into another of the same name and type.
fn diff_rrset(old: &RRset, new: &RRset) -> (Vec<Record>, Vec<Record>) {
    if old.ttl != new.ttl {
        return (old.records().collect(), new.records().collect());
    }
    let only_in = |a: &RRset, b: &RRset| -> Vec<Record> {
        let present = RdataSet::new(&b.rdata);
        a.rdata
            .iter()
            .filter(|rd| !present.contains(rd))
            .map(|rd| Record::from_rdata(a.name.clone(), a.ttl, rd.clone()))
            .collect()
    };
    (only_in(old, new), only_in(new, old))
}

/// Membership test over an RRset's RDATA: a linear scan for the usual handful of records,
/// a hash set for the rare huge RRset so a diff never goes quadratic.
enum RdataSet<'a> {
    Small(&'a [RData]),
    Large(HashSet<&'a RData>),
}

impl<'a> RdataSet<'a> {
    fn new(rdata: &'a [RData]) -> Self {
        if rdata.len() <= 16 {
            RdataSet::Small(rdata)
        } else {
            RdataSet::Large(rdata.iter().collect())
        }
    }

    fn contains(&self, rd: &RData) -> bool {
        match self {
            RdataSet::Small(v) => v.contains(rd),
            RdataSet::Large(s) => s.contains(rd),
        }
    }
}

#[cfg(test)]
#[path = "diff_tests.rs"]
pub(crate) mod tests;
