//! The set of zones a node serves, each behind an atomically swappable pointer.
//!
//! The zone list itself changes rarely (config reload) and the contents of a zone change
//! often (edits, transfers). So the catalog is an immutable map from apex to a
//! [`ZoneHandle`], and each handle holds the current [`Zone`] version in an `ArcSwap`:
//! publishing a new version is one pointer swap, and a query that already loaded the old
//! version finishes on it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::{ArcSwap, ArcSwapOption};
use hickory_proto::rr::{LowerName, Name};

use crate::zone::Zone;
use crate::zone::wire_key::{self, WireKey};

/// The live state of one served zone.
#[derive(Debug)]
pub struct ZoneHandle {
    name: Name,
    lower: LowerName,
    current: ArcSwapOption<Zone>,
    /// Set by a secondary whose expire timer ran out: the data must not be served
    /// (RFC 1035 §4.3.5) and queries get SERVFAIL with EDE 24.
    expired: AtomicBool,
}

impl ZoneHandle {
    pub fn new(name: Name, zone: Option<Arc<Zone>>) -> Self {
        ZoneHandle {
            lower: LowerName::new(&name),
            name,
            current: ArcSwapOption::new(zone),
            expired: AtomicBool::new(false),
        }
    }

    pub fn name(&self) -> &Name {
        &self.name
    }

    pub fn lower(&self) -> &LowerName {
        &self.lower
    }

    /// The version to answer from, if one has been loaded or transferred.
    pub fn current(&self) -> Option<Arc<Zone>> {
        self.current.load_full()
    }

    /// Publishes a new version; callers commit it durably first.
    pub fn publish(&self, zone: Arc<Zone>) {
        self.current.store(Some(zone));
    }

    pub fn is_expired(&self) -> bool {
        self.expired.load(Ordering::Acquire)
    }

    pub fn set_expired(&self, expired: bool) {
        self.expired.store(expired, Ordering::Release);
    }
}

/// Every zone of a node, keyed by lower-cased apex.
#[derive(Debug, Default)]
pub struct Catalog {
    zones: HashMap<LowerName, Arc<ZoneHandle>, foldhash::fast::RandomState>,
    /// The same zones keyed by lower-cased wire bytes and hashed with `wire_key::hash`,
    /// so `find` probes the query name's suffixes as slices of one buffer.
    by_wire: hashbrown::HashTable<(Box<[u8]>, Arc<ZoneHandle>)>,
    /// Bit k is set when some apex has k labels, so `find` builds and looks up only the
    /// suffixes of the query name that could be an apex (a name has at most 127 labels).
    /// Building a suffix is the expensive step of `find` on the query path.
    apex_label_counts: u128,
}

impl Catalog {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, handle: Arc<ZoneHandle>) {
        self.apex_label_counts |= 1u128 << handle.lower().iter().len().min(127);
        if let Some(key) = WireKey::new(handle.lower()) {
            let wire: Box<[u8]> = key.bytes().into();
            let h = wire_key::hash(&wire);
            match self.by_wire.find_mut(h, |(k, _)| *k == wire) {
                Some(slot) => slot.1 = handle.clone(),
                None => {
                    self.by_wire
                        .insert_unique(h, (wire, handle.clone()), |(k, _)| wire_key::hash(k));
                }
            }
        }
        self.zones.insert(handle.lower().clone(), handle);
    }

    pub fn get(&self, apex: &LowerName) -> Option<&Arc<ZoneHandle>> {
        self.zones.get(apex)
    }

    /// The most specific zone containing `name`: walks from the name towards the root,
    /// so the cost is bounded by the label count, not the number of zones, and suffix
    /// lengths no apex has are skipped.
    pub fn find(&self, name: &LowerName) -> Option<&Arc<ZoneHandle>> {
        self.find_wire(&WireKey::new(name)?)
    }

    /// [`Catalog::find`] for a name already in wire form.
    pub fn find_wire(&self, key: &WireKey) -> Option<&Arc<ZoneHandle>> {
        let labels = key.labels().min(127);
        for k in (0..=labels).rev() {
            if self.apex_label_counts & (1u128 << k) == 0 {
                continue;
            }
            let wire = key.suffix(k);
            if let Some((_, h)) = self
                .by_wire
                .find(wire_key::hash(wire), |(w, _)| **w == *wire)
            {
                return Some(h);
            }
        }
        None
    }

    pub fn handles(&self) -> impl Iterator<Item = &Arc<ZoneHandle>> {
        self.zones.values()
    }

    pub fn len(&self) -> usize {
        self.zones.len()
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }
}

/// A catalog that can be replaced wholesale on reload while queries run.
pub type SharedCatalog = Arc<ArcSwap<Catalog>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn most_specific_zone_wins() {
        let mut c = Catalog::new();
        for z in [".", "test.", "example.test."] {
            c.insert(Arc::new(ZoneHandle::new(Name::from_str(z).unwrap(), None)));
        }
        let find = |q: &str| {
            c.find(&LowerName::new(&Name::from_str(q).unwrap()))
                .map(|h| h.name().to_string())
        };
        assert_eq!(find("www.Example.TEST.").as_deref(), Some("example.test."));
        assert_eq!(find("other.test.").as_deref(), Some("test."));
        assert_eq!(find("org.").as_deref(), Some("."));
        let mut only = Catalog::new();
        only.insert(Arc::new(ZoneHandle::new(
            Name::from_str("test.").unwrap(),
            None,
        )));
        assert!(
            only.find(&LowerName::new(&Name::from_str("org.").unwrap()))
                .is_none()
        );
    }
}
