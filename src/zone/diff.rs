//! Changesets between zone versions: the unit of the journal and of IXFR (RFC 1995).
//!
//! Large zones are the norm, so nothing here is quadratic in the zone size. [`diff`] walks
//! both versions' hash maps once and compares RRsets (an `Arc` shared by both versions is
//! skipped without looking inside). [`apply`] copies the node map (pointer copies) and
//! rebuilds only the RRsets a changeset touches.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};
use thiserror::Error;

use super::nodes::NodeMap;
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
                    o.iter(),
                    o.len(),
                    n.iter(),
                    |k| o.get(k),
                    |k| n.contains_key(k),
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

/// Applies `cs` to `zone`, giving the next version. Every removed record must be present
/// and every added record absent (RDATA compared, TTL ignored for removals); otherwise the
/// history is inconsistent and nothing is applied.
pub fn apply(zone: &Zone, cs: &Changeset) -> Result<Zone, DiffError> {
    let origin = zone.origin();
    let malformed = |reason: &str| DiffError::Malformed {
        zone: origin.clone(),
        reason: reason.to_string(),
    };
    if cs.from_serial != zone.serial {
        return Err(DiffError::SerialMismatch {
            zone: origin.clone(),
            expected: zone.serial,
            found: cs.from_serial,
        });
    }
    let (old_soa, new_soa) = cs
        .soas()
        .ok_or_else(|| malformed("missing the old or new SOA"))?;
    match (&old_soa.data, &new_soa.data) {
        (RData::SOA(o), RData::SOA(n))
            if o.serial == cs.from_serial && n.serial == cs.to_serial => {}
        _ => {
            return Err(malformed(
                "the leading records are not SOAs matching its serials",
            ));
        }
    }
    if LowerName::new(&new_soa.name) != zone.origin_lower
        || LowerName::new(&old_soa.name) != zone.origin_lower
    {
        return Err(malformed("the SOA is not at the zone apex"));
    }
    if zone.soa().rdata.first() != Some(&old_soa.data) {
        return Err(DiffError::MissingRecord {
            zone: origin.clone(),
            record: old_soa.to_string(),
        });
    }

    // Group the rest per RRset so each touched RRset is rebuilt once.
    type Edits<'r> = (Vec<&'r Record>, Vec<&'r Record>);
    let mut edits: HashMap<(LowerName, RecordType), Edits<'_>> = HashMap::new();
    for rec in cs.removed.iter().skip(1) {
        check_record(zone, rec)?;
        edits
            .entry((LowerName::new(&rec.name), rec.record_type()))
            .or_default()
            .0
            .push(rec);
    }
    for rec in cs.added.iter().skip(1) {
        check_record(zone, rec)?;
        edits
            .entry((LowerName::new(&rec.name), rec.record_type()))
            .or_default()
            .1
            .push(rec);
    }

    let mut nodes = zone.nodes.clone();
    let mut record_count = zone.record_count as isize;
    let mut emptied: Vec<LowerName> = Vec::new();
    let mut created: Vec<LowerName> = Vec::new();

    for ((name, rtype), (rem, add)) in edits {
        let existing = nodes.get(&name).and_then(|n| n.get(rtype)).cloned();
        let mut set = match existing {
            Some(s) => (*s).clone(),
            None => RRset {
                name: add
                    .first()
                    .map_or_else(|| name.clone().into(), |r| r.name.clone()),
                rtype,
                ttl: 0,
                rdata: Vec::new(),
            },
        };
        for r in rem {
            match set.rdata.iter().position(|rd| *rd == r.data) {
                Some(pos) => {
                    set.rdata.remove(pos);
                    record_count -= 1;
                }
                None => {
                    return Err(DiffError::MissingRecord {
                        zone: origin.clone(),
                        record: r.to_string(),
                    });
                }
            }
        }
        for a in add {
            if set.rdata.contains(&a.data) {
                return Err(DiffError::DuplicateRecord {
                    zone: origin.clone(),
                    record: a.to_string(),
                });
            }
            if set.rdata.is_empty() {
                set.name = a.name.clone();
            }
            // An added record's TTL becomes the RRset's (RFC 2181 §5.2 allows one TTL).
            set.ttl = a.ttl;
            set.rdata.push(a.data.clone());
            record_count += 1;
        }

        if !nodes.contains_key(&name) {
            if set.rdata.is_empty() {
                continue;
            }
            created.push(name.clone());
            nodes.insert(name.clone(), Node::default());
        }
        let Some(node) = nodes.get_mut(&name) else {
            continue;
        };
        let pos = node.rrsets.iter().position(|s| s.rtype == rtype);
        match (pos, set.rdata.is_empty()) {
            (Some(p), true) => {
                node.rrsets.remove(p);
                if node.rrsets.is_empty() {
                    emptied.push(name);
                }
            }
            (Some(p), false) => node.rrsets[p] = Arc::new(set),
            (None, false) => node.rrsets.push(Arc::new(set)),
            (None, true) => {}
        }
    }

    for name in created {
        insert_empty_non_terminals(&mut nodes, &name, &zone.origin_lower);
    }
    if !emptied.is_empty() {
        prune_empty_leaves(&mut nodes, emptied, &zone.origin_lower);
    }

    let serial = cs.to_serial;
    let mut soa_set = (**zone.soa()).clone();
    soa_set.name = new_soa.name.clone();
    soa_set.ttl = new_soa.ttl;
    soa_set.rdata = vec![new_soa.data.clone()];
    if let Some(apex) = nodes.get_mut(&zone.origin_lower)
        && let Some(s) = apex.rrsets.iter_mut().find(|s| s.rtype == RecordType::SOA)
    {
        *s = Arc::new(soa_set);
    }

    Ok(Zone {
        origin: zone.origin.clone(),
        origin_lower: zone.origin_lower.clone(),
        nodes,
        serial,
        record_count: record_count.max(0) as usize,
    })
}

fn check_record(zone: &Zone, rec: &Record) -> Result<(), DiffError> {
    let malformed = |reason: String| DiffError::Malformed {
        zone: zone.origin().clone(),
        reason,
    };
    if rec.record_type() == RecordType::SOA {
        return Err(malformed(format!("an SOA inside the changeset: {rec}")));
    }
    if rec.dns_class != DNSClass::IN {
        return Err(malformed(format!("class {} in {rec}", rec.dns_class)));
    }
    if !zone.origin_lower.zone_of(&LowerName::new(&rec.name)) {
        return Err(malformed(format!("{} is out of zone", rec.name)));
    }
    Ok(())
}

fn insert_empty_non_terminals(nodes: &mut NodeMap, name: &LowerName, apex: &LowerName) {
    let mut cur = name.base_name();
    while cur.num_labels() > apex.num_labels() && !nodes.contains_key(&cur) {
        nodes.insert(cur.clone(), Node::default());
        cur = cur.base_name();
    }
}

/// Removes nodes left without data and without descendants, and then any empty
/// non-terminal that existed only for them. A hash map has no child links, so one pass
/// over the names collects the children of the candidates; names whose label count cannot
/// make them a candidate's child are skipped without hashing.
fn prune_empty_leaves(nodes: &mut NodeMap, emptied: Vec<LowerName>, apex: &LowerName) {
    let mut candidates: HashSet<LowerName> = HashSet::new();
    for name in emptied {
        let mut cur = name;
        while cur.num_labels() > apex.num_labels()
            && nodes.get(&cur).is_some_and(Node::is_empty_non_terminal)
            && candidates.insert(cur.clone())
        {
            cur = cur.base_name();
        }
    }
    if candidates.is_empty() {
        return;
    }
    let child_depths: HashSet<u8> = candidates.iter().map(|c| c.num_labels() + 1).collect();
    let mut children: HashMap<LowerName, usize> = HashMap::new();
    for name in nodes.keys() {
        if child_depths.contains(&name.num_labels()) {
            let parent = name.base_name();
            if candidates.contains(&parent) {
                *children.entry(parent).or_default() += 1;
            }
        }
    }
    // Deepest first, so that removing a leaf can free its parent.
    let mut order: Vec<LowerName> = candidates.into_iter().collect();
    order.sort_by_key(|n| std::cmp::Reverse(n.num_labels()));
    for name in order {
        if children.get(&name).copied().unwrap_or(0) == 0 {
            nodes.remove(&name);
            if let Some(c) = children.get_mut(&name.base_name()) {
                *c = c.saturating_sub(1);
            }
        }
    }
}

/// Merges consecutive changesets into one with the same net effect, as an IXFR server may
/// send (RFC 1995 §5): a record added and later removed disappears from the result, and a
/// record removed and re-added unchanged does too.
pub fn condense(origin: &Name, changesets: &[Changeset]) -> Result<Changeset, DiffError> {
    let malformed = |reason: &str| DiffError::Malformed {
        zone: origin.clone(),
        reason: reason.to_string(),
    };
    let (first, last) = match (changesets.first(), changesets.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => return Err(malformed("nothing to condense")),
    };
    for pair in changesets.windows(2) {
        if let [a, b] = pair
            && a.to_serial != b.from_serial
        {
            return Err(DiffError::NotConsecutive {
                zone: origin.clone(),
                to: a.to_serial,
                from: b.from_serial,
            });
        }
    }
    let old_soa = first
        .removed
        .first()
        .ok_or_else(|| malformed("missing the old SOA"))?;
    let new_soa = last
        .added
        .first()
        .ok_or_else(|| malformed("missing the new SOA"))?;

    type Key = (LowerName, RecordType, RData);
    // Insertion order is kept so the result is deterministic.
    let mut removed: Vec<Option<Record>> = Vec::new();
    let mut added: Vec<Option<Record>> = Vec::new();
    let mut removed_at: HashMap<Key, usize> = HashMap::new();
    let mut added_at: HashMap<Key, usize> = HashMap::new();
    let key = |r: &Record| (LowerName::new(&r.name), r.record_type(), r.data.clone());

    for cs in changesets {
        for r in cs.removed.iter().skip(1) {
            let k = key(r);
            if let Some(i) = added_at.remove(&k) {
                // Added by an earlier step: the two cancel out.
                added[i] = None;
            } else if let Entry::Vacant(slot) = removed_at.entry(k) {
                slot.insert(removed.len());
                removed.push(Some(r.clone()));
            }
        }
        for a in cs.added.iter().skip(1) {
            let k = key(a);
            let same_as_removed = removed_at
                .get(&k)
                .and_then(|&i| removed[i].as_ref())
                .is_some_and(|r| r.ttl == a.ttl);
            if same_as_removed {
                if let Some(i) = removed_at.remove(&k) {
                    removed[i] = None;
                }
            } else if let Entry::Vacant(slot) = added_at.entry(k) {
                slot.insert(added.len());
                added.push(Some(a.clone()));
            }
        }
    }

    let mut out_removed = vec![old_soa.clone()];
    out_removed.extend(removed.into_iter().flatten());
    let mut out_added = vec![new_soa.clone()];
    out_added.extend(added.into_iter().flatten());
    Ok(Changeset {
        from_serial: first.from_serial,
        to_serial: last.to_serial,
        removed: out_removed,
        added: out_added,
    })
}

#[cfg(test)]
#[path = "diff_tests.rs"]
pub(crate) mod tests;
