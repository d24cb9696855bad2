//! Building a version record by record (a loaded file, an AXFR as it arrives) or RRset by
//! RRset (the store).
//!
//! A name is hashed once, as lower-cased wire bytes, and that hash is kept beside the
//! entry: it finds the node while building, links a new node to its parent by probing
//! suffixes of the same bytes, and places the node in its shard at the end without
//! hashing again. A 1,000,000-record zone is built in a few hundred milliseconds instead
//! of seconds, which is what a primary's start-up and a secondary's AXFR wait for.

use std::sync::{Arc, OnceLock, mpsc};

use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};

use super::nodes::{self, Shards};
use super::wire_key::{self, WireKey};
use super::{Node, RRset, Zone, ZoneError};

fn out_of_zone(origin: &Name, name: &Name) -> ZoneError {
    ZoneError::OutOfZone {
        zone: origin.clone(),
        name: Box::new(name.clone()),
    }
}

/// Collects the records of one version; [`ZoneBuilder::finish`] checks the apex and
/// returns the [`Zone`].
pub struct ZoneBuilder {
    origin: Name,
    origin_lower: LowerName,
    apex: Vec<u8>,
    apex_labels: usize,
    nodes: Shards,
    record_count: usize,
}

impl ZoneBuilder {
    pub fn new(origin: Name) -> Self {
        Self::with_capacity(origin, 0)
    }

    /// `names` is how many owner names to expect, so the table does not grow in steps.
    pub fn with_capacity(origin: Name, names: usize) -> Self {
        let origin_lower = LowerName::new(&origin);
        let key = WireKey::new(&origin);
        let (apex, apex_labels) = key.map_or((Vec::new(), 0), |k| (k.bytes().to_vec(), k.labels()));
        ZoneBuilder {
            origin,
            origin_lower,
            apex,
            apex_labels,
            // A hostile size hint (an AXFR peer's claim, a stored count) must not reserve
            // unbounded memory up front.
            nodes: Shards::with_capacity(names.min(1 << 24)),
            record_count: 0,
        }
    }

    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// Records so far, duplicates not counted.
    pub fn record_count(&self) -> usize {
        self.record_count
    }

    /// The node of `name`, created (and linked to its parent, with empty non-terminals up
    /// to the first existing ancestor) if new. Errors if the name is not in the zone.
    fn node(&mut self, name: &Name) -> Result<&mut Node, ZoneError> {
        let Some(key) = WireKey::new(name) else {
            return Err(out_of_zone(&self.origin, name));
        };
        if key.labels() < self.apex_labels || key.suffix(self.apex_labels) != self.apex {
            return Err(out_of_zone(&self.origin, name));
        }
        let h = wire_key::hash(key.bytes());
        if self.nodes.find(h, key.bytes()).is_none() {
            nodes::link_to_parent(&mut self.nodes, &key, name, self.apex_labels);
            self.nodes
                .insert_new(h, LowerName::new(name), Node::default());
        }
        let origin = &self.origin;
        self.nodes
            .find_mut(h, key.bytes())
            .ok_or_else(|| out_of_zone(origin, name))
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
        let node = self.node(&rec.name)?;
        let added = match node.rrsets.iter_mut().find(|s| s.rtype == rtype) {
            Some(set) => {
                if set.rdata.contains(&rec.data) {
                    false
                } else {
                    Arc::make_mut(set).rdata.push(rec.data);
                    true
                }
            }
            None => {
                node.rrsets.push(Arc::new(RRset {
                    name: rec.name,
                    rtype,
                    ttl: rec.ttl,
                    rdata: vec![rec.data],
                }));
                true
            }
        };
        self.record_count += usize::from(added);
        Ok(())
    }

    /// Adds a whole RRset (from the store, where each is stored once). Merged record by
    /// record if the name already has an RRset of that type.
    #[allow(clippy::result_large_err)]
    pub fn push_rrset(&mut self, set: RRset) -> Result<(), ZoneError> {
        if set.rdata.is_empty() {
            return Ok(());
        }
        let node = self.node(&set.name)?;
        if node.get(set.rtype).is_some() {
            let RRset {
                name,
                rtype: _,
                ttl,
                rdata,
            } = set;
            for rd in rdata {
                let mut rec = Record::from_rdata(name.clone(), ttl, rd);
                rec.dns_class = DNSClass::IN;
                self.push(rec)?;
            }
            return Ok(());
        }
        let count = set.rdata.len();
        node.rrsets.push(Arc::new(set));
        self.record_count += count;
        Ok(())
    }

    /// Checks the apex (one SOA) and returns the version.
    #[allow(clippy::result_large_err)]
    pub fn finish(self) -> Result<Zone, ZoneError> {
        let ZoneBuilder {
            origin,
            origin_lower,
            apex,
            nodes,
            record_count,
            ..
        } = self;
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
