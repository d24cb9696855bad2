//! The name -> node map of a zone version, split into shards behind `Arc`s.
//!
//! Versions of a large zone differ in a few names, so the next version shares every shard
//! it does not touch: applying a one-record IXFR to a 1,000,000-name zone copies one shard
//! (a few thousand entries) instead of the whole map, and diffing two versions skips
//! every shard they share. Lookups hash the name once to pick the shard and once inside
//! it, with foldhash: `Name`'s `Hash` feeds bytes one at a time, which SipHash makes the
//! dominant cost of a large diff.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, LazyLock};

use hickory_proto::rr::LowerName;

use super::Node;

type Hasher = foldhash::fast::RandomState;
pub(crate) type Shard = HashMap<LowerName, Node, Hasher>;

/// One random seed per process, so every version of every zone puts a name in the same
/// shard (which is what lets a diff compare shards pairwise), while the hashes stay
/// unpredictable from outside.
static STATE: LazyLock<Hasher> = LazyLock::new(Hasher::default);

/// Aim for about this many names per shard.
const NAMES_PER_SHARD: usize = 1024;
const MAX_SHARDS: usize = 1024;

fn shard_index(name: &LowerName, bits: u32) -> usize {
    if bits == 0 {
        return 0;
    }
    // Mix before taking the top bits: the shard's own table uses the same hash, and names
    // sharing raw top bits would crowd its control bytes.
    let h = STATE.hash_one(name).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> (64 - bits)) as usize
}

#[derive(Debug, Clone)]
pub(crate) struct NodeMap {
    shards: Box<[Arc<Shard>]>,
    len: usize,
}

impl NodeMap {
    /// An empty single map to build a version in before it is split with [`Self::from_map`].
    pub(crate) fn new_shard() -> Shard {
        HashMap::with_hasher(STATE.clone())
    }

    /// Splits a built map into shards sized for its length. The shard count then stays
    /// fixed for the versions derived from this one.
    pub(crate) fn from_map(map: Shard) -> NodeMap {
        let len = map.len();
        let count = (len / NAMES_PER_SHARD)
            .next_power_of_two()
            .clamp(1, MAX_SHARDS);
        if count == 1 {
            return NodeMap {
                shards: Box::new([Arc::new(map)]),
                len,
            };
        }
        let mut shards: Vec<Shard> = (0..count)
            .map(|_| {
                HashMap::with_capacity_and_hasher(len / count + len / (4 * count), STATE.clone())
            })
            .collect();
        let mut out = NodeMap {
            shards: Box::new([]),
            len,
        };
        let bits = count.trailing_zeros();
        for (name, node) in map {
            let i = shard_index(&name, bits);
            if let Some(shard) = shards.get_mut(i) {
                shard.insert(name, node);
            }
        }
        out.shards = shards.into_iter().map(Arc::new).collect();
        out
    }

    fn shard_of(&self, name: &LowerName) -> usize {
        shard_index(name, self.shards.len().trailing_zeros())
    }

    fn shard_mut(&mut self, name: &LowerName) -> &mut Shard {
        let i = self.shard_of(name);
        Arc::make_mut(&mut self.shards[i])
    }

    pub(crate) fn get(&self, name: &LowerName) -> Option<&Node> {
        self.shards[self.shard_of(name)].get(name)
    }

    pub(crate) fn contains_key(&self, name: &LowerName) -> bool {
        self.get(name).is_some()
    }

    /// Copies the name's shard if it is shared with another version.
    pub(crate) fn get_mut(&mut self, name: &LowerName) -> Option<&mut Node> {
        let i = self.shard_of(name);
        if !self.shards[i].contains_key(name) {
            return None;
        }
        Arc::make_mut(&mut self.shards[i]).get_mut(name)
    }

    pub(crate) fn insert(&mut self, name: LowerName, node: Node) {
        if self.shard_mut(&name).insert(name, node).is_none() {
            self.len += 1;
        }
    }

    pub(crate) fn remove(&mut self, name: &LowerName) -> Option<Node> {
        let i = self.shard_of(name);
        if !self.shards[i].contains_key(name) {
            return None;
        }
        let removed = Arc::make_mut(&mut self.shards[i]).remove(name);
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&LowerName, &Node)> {
        self.shards.iter().flat_map(|s| s.iter())
    }

    /// The shards, for a diff that walks two versions side by side.
    pub(crate) fn shards(&self) -> &[Arc<Shard>] {
        &self.shards
    }
}
