//! Building a version record by record (a loaded file, an AXFR as it arrives) or RRset by
//! RRset (the store).
//!
//! In two passes, because a large zone's build is bound by memory, not by arithmetic.
//! `push` only hashes the owner (once, as lower-cased wire bytes) and appends the record
//! to the bucket of its hash: sequential writes, no table to probe, nothing that waits on
//! a cache miss, so a transfer's records are taken as fast as they are decoded. `finish`
//! then turns each bucket into the table of one shard: a table of about a thousand names
//! stays in cache while it fills, buckets are independent (two threads take half each),
//! and a bucket's records are freed before the next bucket's table is allocated. Last,
//! every new name is linked to its parent (empty non-terminals created) by probing
//! suffixes of its wire bytes. A 1,000,000-record zone builds in a few hundred
//! milliseconds.

use std::sync::{Arc, OnceLock, mpsc};

use hashbrown::HashTable;
use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};

use super::nodes::{self, Shard, Shards};
use super::wire_key::{self, WireKey};
use super::{Node, RRset, Zone, ZoneError};

fn out_of_zone(origin: &Name, name: &Name) -> ZoneError {
    ZoneError::OutOfZone {
        zone: origin.clone(),
        name: Box::new(name.clone()),
    }
}

/// Records of a bucket, each an RRset of its own until `finish` merges them.
#[derive(Default)]
struct Bucket {
    /// (hash of the owner, where its wire bytes start in `wire`, the records).
    items: Vec<(u64, u32, RRset)>,
    /// The lower-cased owners in wire form, one after another.
    wire: Vec<u8>,
}

/// What `finish` makes of one bucket: its shard, and the wire form of every name it
/// added (each still to be linked to its parent).
struct Built {
    shard: Shard,
    new_names: Vec<u8>,
    records: usize,
}

/// Below this many records `finish` works on one thread.
const PARALLEL_RECORDS: usize = 50_000;

/// Collects the records of one version; [`ZoneBuilder::finish`] checks the apex and
/// returns the [`Zone`].
pub struct ZoneBuilder {
    origin: Name,
    origin_lower: LowerName,
    apex: Vec<u8>,
    apex_labels: usize,
    buckets: Vec<Bucket>,
    pushed: usize,
}

impl ZoneBuilder {
    pub fn new(origin: Name) -> Self {
        Self::with_capacity(origin, 0)
    }

    /// `records` is how many records to expect.
    pub fn with_capacity(origin: Name, records: usize) -> Self {
        let origin_lower = LowerName::new(&origin);
        let key = WireKey::new(&origin);
        let (apex, apex_labels) = key.map_or((Vec::new(), 0), |k| (k.bytes().to_vec(), k.labels()));
        let count = nodes::MAX_SHARDS;
        // A hostile size hint (an AXFR peer's claim, a stored count) must not reserve
        // unbounded memory up front.
        let per = records.min(1 << 24) / count;
        ZoneBuilder {
            origin,
            origin_lower,
            apex,
            apex_labels,
            buckets: (0..count)
                .map(|_| Bucket {
                    items: Vec::with_capacity(per + per / 8),
                    wire: Vec::new(),
                })
                .collect(),
            pushed: 0,
        }
    }

    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// Queues one RRset under its owner; errors if the owner is not in the zone.
    fn queue(&mut self, set: RRset) -> Result<(), ZoneError> {
        let name = &set.name;
        let Some(key) = WireKey::new(name) else {
            return Err(out_of_zone(&self.origin, name));
        };
        if key.labels() < self.apex_labels || key.suffix(self.apex_labels) != self.apex {
            return Err(out_of_zone(&self.origin, name));
        }
        let h = wire_key::hash(key.bytes());
        let bits = nodes::MAX_SHARDS.trailing_zeros();
        let Some(bucket) = self.buckets.get_mut(nodes::shard_index(h, bits)) else {
            return Err(out_of_zone(&self.origin, name));
        };
        let at = bucket.wire.len() as u32;
        bucket.wire.extend_from_slice(key.bytes());
        bucket.items.push((h, at, set));
        self.pushed += 1;
        Ok(())
    }

    /// Adds one record. Records of the same name and type form one RRset, whose TTL is
    /// the first one seen; duplicate RDATA is dropped (RFC 2181 §5).
    #[allow(clippy::result_large_err)]
    pub fn push(&mut self, rec: Record) -> Result<(), ZoneError> {
        if rec.dns_class != DNSClass::IN {
            return Err(ZoneError::BadClass {
                zone: self.origin.clone(),
                name: Box::new(rec.name.clone()),
                class: rec.dns_class,
            });
        }
        let rtype = rec.record_type();
        self.queue(RRset {
            name: rec.name,
            rtype,
            ttl: rec.ttl,
            rdata: vec![rec.data],
        })
    }

    /// Adds a whole RRset (from the store, where each is stored once). Merged record by
    /// record if the name already has an RRset of that type.
    #[allow(clippy::result_large_err)]
    pub fn push_rrset(&mut self, set: RRset) -> Result<(), ZoneError> {
        if set.rdata.is_empty() {
            return Ok(());
        }
        self.queue(set)
    }

    /// Takes over what another builder of the same zone collected (threads that each
    /// decode a part of a version). Its records count as pushed after this one's.
    pub fn absorb(&mut self, other: ZoneBuilder) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            let base = mine.wire.len() as u32;
            mine.wire.extend_from_slice(&theirs.wire);
            if mine.items.is_empty() {
                mine.items = theirs.items;
                if base > 0 {
                    mine.items.iter_mut().for_each(|item| item.1 += base);
                }
            } else {
                let moved = theirs
                    .items
                    .into_iter()
                    .map(|(h, at, set)| (h, at + base, set));
                mine.items.extend(moved);
            }
        }
        self.pushed += other.pushed;
    }

    /// Builds the shards, links the names, checks the apex (one SOA) and returns the
    /// version.
    #[allow(clippy::result_large_err)]
    pub fn finish(self) -> Result<Zone, ZoneError> {
        let ZoneBuilder {
            origin,
            origin_lower,
            apex,
            apex_labels,
            buckets,
            pushed,
        } = self;
        let threads = if pushed >= PARALLEL_RECORDS {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
        } else {
            1
        };
        let built = build_buckets(buckets, threads);
        let record_count = built.iter().map(|b| b.records).sum();
        let (shards, new_names): (Vec<Shard>, Vec<Vec<u8>>) =
            built.into_iter().map(|b| (b.shard, b.new_names)).unzip();
        let mut nodes = Shards::from_tables(shards, nodes::MAX_SHARDS.trailing_zeros());
        for wire in &new_names {
            let mut rest = wire.as_slice();
            while let Some(key) = WireKey::from_wire(rest) {
                nodes::link_to_parent(&mut nodes, &key, apex_labels);
                rest = rest.get(key.bytes().len()..).unwrap_or_default();
            }
        }
        drop(new_names);
        let serial = {
            let soa = nodes
                .find(wire_key::hash(&apex), &apex)
                .and_then(|n| n.get(RecordType::SOA))
                .ok_or_else(|| ZoneError::NoSoa(origin.clone()))?;
            if soa.rdata.len() != 1 {
                return Err(ZoneError::MultipleSoa(origin.clone()));
            }
            match soa.rdata.first() {
                Some(RData::SOA(s)) => s.serial,
                _ => return Err(ZoneError::NoSoa(origin.clone())),
            }
        };
        Ok(Zone {
            origin,
            origin_lower,
            nodes: nodes.into_map(),
            serial,
            record_count,
            derived: OnceLock::new(),
        })
    }
}

/// Builds every bucket, on `threads` threads (each takes every `threads`-th bucket),
/// returning them in bucket order.
fn build_buckets(buckets: Vec<Bucket>, threads: usize) -> Vec<Built> {
    if threads < 2 {
        return buckets.into_iter().map(build_bucket).collect();
    }
    let mut lanes: Vec<Vec<(usize, Bucket)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, b) in buckets.into_iter().enumerate() {
        if let Some(lane) = lanes.get_mut(i % threads) {
            lane.push((i, b));
        }
    }
    let mut done: Vec<(usize, Built)> = std::thread::scope(|s| {
        let handles: Vec<_> = lanes
            .into_iter()
            .map(|lane| {
                s.spawn(move || {
                    lane.into_iter()
                        .map(|(i, b)| (i, build_bucket(b)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, b)| b).collect()
}

/// One bucket's records as the table of its shard.
fn build_bucket(bucket: Bucket) -> Built {
    let Bucket { items, wire } = bucket;
    let mut shard: Shard = HashTable::with_capacity(items.len());
    let mut new_names = Vec::new();
    let mut records = 0usize;
    for (h, at, set) in items {
        let name = wire_at(&wire, at);
        match shard.find_mut(h, |e| wire_key::eq_name(&e.1, name)) {
            Some(entry) => records += merge(&mut entry.2, set),
            None => {
                new_names.extend_from_slice(name);
                records += set.rdata.len();
                let lower = LowerName::new(&set.name);
                let mut node = Node::default();
                node.rrsets.push(Arc::new(set));
                shard.insert_unique(h, (h, lower, node), |e| e.0);
            }
        }
    }
    Built {
        shard,
        new_names,
        records,
    }
}

/// The wire name starting at `at` (it ends with its root label).
fn wire_at(wire: &[u8], at: u32) -> &[u8] {
    let rest = wire.get(at as usize..).unwrap_or_default();
    let mut end = 0usize;
    while let Some(&len) = rest.get(end) {
        end += 1 + usize::from(len);
        if len == 0 {
            break;
        }
    }
    rest.get(..end).unwrap_or_default()
}

/// Adds `set` to a node: a new RRset, or its records into the RRset of its type (first
/// TTL and first owner case kept, duplicates dropped). Returns the records added.
fn merge(node: &mut Node, set: RRset) -> usize {
    match node.rrsets.iter_mut().find(|s| s.rtype == set.rtype) {
        Some(existing) => {
            let mut added = 0;
            for rd in set.rdata {
                if !existing.rdata.contains(&rd) {
                    Arc::make_mut(existing).rdata.push(rd);
                    added += 1;
                }
            }
            added
        }
        None => {
            let n = set.rdata.len();
            node.rrsets.push(Arc::new(set));
            n
        }
    }
}

/// A [`ZoneBuilder`] on a thread of its own, fed batches of records: a transfer decodes
/// on the network task while the version is built beside it, on the other core.
pub struct BuildThread {
    tx: Option<mpsc::Sender<Vec<Record>>>,
    handle: std::thread::JoinHandle<Result<Zone, ZoneError>>,
}

impl BuildThread {
    pub fn spawn(origin: Name, names: usize) -> std::io::Result<BuildThread> {
        let (tx, rx) = mpsc::channel::<Vec<Record>>();
        let handle = std::thread::Builder::new()
            .name("zone-build".into())
            .spawn(move || {
                let mut b = ZoneBuilder::with_capacity(origin, names);
                for batch in rx {
                    for rec in batch {
                        b.push(rec)?;
                    }
                }
                b.finish()
            })?;
        Ok(BuildThread {
            tx: Some(tx),
            handle,
        })
    }

    /// Queues records. After an error the thread has stopped taking them, and
    /// [`BuildThread::finish`] reports that error.
    pub fn push(&self, batch: Vec<Record>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(batch);
        }
    }

    /// Waits for the last batch to be built (blocking) and returns the version.
    #[allow(clippy::result_large_err)]
    pub fn finish(mut self) -> Result<Zone, ZoneError> {
        drop(self.tx.take());
        match self.handle.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::diff::tests::{a, n, soa};

    /// Each node with its child count and its RRsets.
    fn shape(z: &Zone) -> Vec<String> {
        let mut v: Vec<String> = z
            .nodes()
            .map(|(k, node)| {
                let sets: Vec<String> = node
                    .rrsets()
                    .iter()
                    .map(|s| format!("{} {} {:?}", s.rtype, s.ttl, s.rdata))
                    .collect();
                format!("{k} {} {sets:?}", node.children)
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn order_and_grouping_do_not_matter() {
        let recs = vec![
            a("x.deep.b.example.test.", 60, 1),
            soa(3),
            a("b.example.test.", 60, 2),
            a("X.Deep.B.example.test.", 99, 3),
            a("c.example.test.", 60, 4),
            a("x.deep.b.example.test.", 60, 1),
        ];
        let z = Zone::from_records(n("example.test."), recs.clone()).unwrap();
        let mut rev = recs.clone();
        rev.reverse();
        let mut b = ZoneBuilder::new(n("example.test."));
        for r in rev {
            b.push(r).unwrap();
        }
        let z2 = b.finish().unwrap();
        assert_eq!(z.record_count(), 5, "the duplicate is dropped");
        // Reversed, the TTL of the first A at x.deep.b differs (first seen wins).
        let mut s1 = shape(&z);
        let mut s2 = shape(&z2);
        s1.retain(|l| !l.starts_with("x.deep"));
        s2.retain(|l| !l.starts_with("x.deep"));
        assert_eq!(s1, s2);
        // Child counts: the apex has b and c, b has the empty non-terminal deep.b.
        let children = |name: &str| z.node(&LowerName::new(&n(name))).map(|x| x.children);
        assert_eq!(children("example.test."), Some(2));
        assert_eq!(children("b.example.test."), Some(1));
        assert!(
            z.node(&LowerName::new(&n("deep.b.example.test.")))
                .unwrap()
                .is_empty_non_terminal()
        );
        assert_eq!(children("deep.b.example.test."), Some(1));

        // Whole RRsets, as the store hands them over, build the same version.
        let mut b = ZoneBuilder::with_capacity(n("example.test."), 8);
        for (_, node) in z.nodes() {
            for set in node.rrsets() {
                b.push_rrset(RRset::clone(set)).unwrap();
            }
        }
        assert_eq!(shape(&b.finish().unwrap()), shape(&z));
    }

    #[test]
    fn a_large_build_on_threads_links_every_name_once() {
        let n_hosts = (PARALLEL_RECORDS + 10_000) as u32;
        let mut recs = vec![soa(9)];
        for i in 0..n_hosts {
            let name = format!("h{i}.S{}.deep.example.test.", i % 7);
            recs.push(a(&name, 60, (i % 250) as u8));
            if i % 1000 == 0 {
                recs.push(a(&name, 60, (i % 250) as u8));
                recs.push(a(&name.to_uppercase(), 90, 251));
            }
        }
        let z = Zone::from_records(n("example.test."), recs).unwrap();
        assert_eq!(
            z.record_count(),
            n_hosts as usize + 1 + n_hosts.div_ceil(1000) as usize
        );
        let node = |s: &str| z.node(&LowerName::new(&n(s))).unwrap();
        assert_eq!(node("example.test.").children, 1);
        assert_eq!(node("deep.example.test.").children, 7);
        assert!(node("deep.example.test.").is_empty_non_terminal());
        for k in 0..7u32 {
            let kids = (0..n_hosts).filter(|i| i % 7 == k).count() as u32;
            assert_eq!(node(&format!("s{k}.deep.example.test.")).children, kids);
        }
        let set = node("H1000.s6.DEEP.example.test.")
            .get(RecordType::A)
            .unwrap();
        assert_eq!((set.ttl, set.rdata.len()), (60, 2));
        assert_eq!(z.nodes().count(), n_hosts as usize + 1 + 1 + 7);
    }

    #[test]
    fn absorbed_builders_build_what_one_builder_does() {
        let mut recs = vec![soa(4)];
        recs.extend((0..300u32).map(|i| a(&format!("h{i}.x{}.example.test.", i % 3), 60, i as u8)));
        recs.push(a("h1.x1.example.test.", 60, 200));
        let whole = Zone::from_records(n("example.test."), recs.clone()).unwrap();
        let mut parts = Vec::new();
        for part in recs.chunks(70) {
            let mut b = ZoneBuilder::new(n("example.test."));
            for r in part {
                b.push(r.clone()).unwrap();
            }
            parts.push(b);
        }
        let mut merged = ZoneBuilder::new(n("example.test."));
        for p in parts {
            merged.absorb(p);
        }
        assert_eq!(shape(&merged.finish().unwrap()), shape(&whole));
    }

    #[test]
    fn rejects_what_from_records_rejects() {
        let mut b = ZoneBuilder::new(n("example.test."));
        assert!(matches!(
            b.push(a("www.other.test.", 1, 1)),
            Err(ZoneError::OutOfZone { .. })
        ));
        let mut rec = a("www.example.test.", 1, 1);
        rec.dns_class = DNSClass::CH;
        assert!(matches!(b.push(rec), Err(ZoneError::BadClass { .. })));
        b.push(a("www.example.test.", 1, 1)).unwrap();
        assert_eq!(
            b.finish().unwrap_err(),
            ZoneError::NoSoa(n("example.test."))
        );
    }
}
