//! Change stamps: which parts of the cache changed since an answer was encoded.
//!
//! A counter per bucket of owner names, bumped whenever an entry of a name in that
//! bucket is stored or removed, plus an epoch for flushing everything. An encoded
//! answer remembers the counters of the names it was built from and is replayed only
//! while they are unchanged, so cache traffic about other names (every miss being
//! resolved writes some) does not invalidate it.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::rr::LowerName;

const BUCKETS: usize = 4096;

#[derive(Debug)]
pub struct Stamps {
    buckets: Box<[AtomicU64]>,
    epoch: AtomicU64,
    hasher: foldhash::fast::RandomState,
}

impl Default for Stamps {
    fn default() -> Self {
        Stamps {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            epoch: AtomicU64::new(0),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

/// The state of the names one answer was built from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stamp {
    epoch: u64,
    names: Vec<(usize, u64)>,
}

impl Stamps {
    fn bucket(&self, name: &LowerName) -> usize {
        (self.hasher.hash_one(name) as usize) % BUCKETS
    }

    pub fn bump(&self, name: &LowerName) {
        if let Some(b) = self.buckets.get(self.bucket(name)) {
            b.fetch_add(1, Ordering::Release);
        }
    }

    pub fn bump_all(&self) {
        self.epoch.fetch_add(1, Ordering::Release);
    }

    pub fn start(&self) -> Stamp {
        Stamp {
            epoch: self.epoch.load(Ordering::Acquire),
            names: Vec::new(),
        }
    }

    /// Adds `name`'s current counter to `stamp`.
    pub fn add(&self, stamp: &mut Stamp, name: &LowerName) {
        let i = self.bucket(name);
        if let Some(b) = self.buckets.get(i) {
            stamp.names.push((i, b.load(Ordering::Acquire)));
        }
    }

    /// True while nothing the stamp covers has changed.
    pub fn unchanged(&self, stamp: &Stamp) -> bool {
        stamp.epoch == self.epoch.load(Ordering::Acquire)
            && stamp.names.iter().all(|&(i, v)| {
                self.buckets
                    .get(i)
                    .is_some_and(|b| b.load(Ordering::Acquire) == v)
            })
    }
}
