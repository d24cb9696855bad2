//! The name -> node map of a zone version, split into shards behind `Arc`s.
//!
//! Versions of a large zone differ in a few names, so the next version shares every shard
//! it does not touch: applying a one-record IXFR to a 1,000,000-name zone copies one shard
//! (about a thousand entries) instead of the whole map, and diffing two versions skips
//! every shard they share. A name is hashed once (foldhash: `Name`'s `Hash` feeds bytes
//! one at a time, which SipHash makes the dominant cost of a large diff or a lookup), and
//! that hash picks the shard and probes the shard's table.

use std::sync::Arc;

use hashbrown::HashTable;
use hickory_proto::rr::{LowerName, Name};

use super::Node;
use super::wire_key::{self, WireKey};

type Shard = HashTable<(LowerName, Node)>;

/// Aim for about this many names per shard.
const NAMES_PER_SHARD: usize = 1024;
const MAX_SHARDS: usize = 1024;

/// Hashed as lower-cased wire bytes (see `wire_key`), so a walk down a query name can
/// probe with slices of one buffer.
fn hash(name: &LowerName) -> u64 {
    wire_key::hash_name(name)
}

fn rehash(entry: &(LowerName, Node)) -> u64 {
    hash(&entry.0)
}

/// The shard of a hash. Mixed before taking the top bits: the shard's table uses the same
/// hash, and entries sharing raw top bits would crowd its control bytes.
fn shard_index(h: u64, bits: u32) -> usize {
    if bits == 0 {
        return 0;
    }
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
}

#[derive(Debug, Clone)]
pub(crate) struct NodeMap {
    shards: Box<[Arc<Shard>]>,
    bits: u32,
    len: usize,
}

impl NodeMap {
    /// Splits a built table of `len` (hash, name, node) entries into shards sized for it;
    /// the hash each entry carries places it. The shard count then stays fixed for the
    /// versions derived from this one.
    pub(crate) fn from_hashed(
        len: usize,
        entries: impl IntoIterator<Item = (u64, LowerName, Node)>,
    ) -> NodeMap {
        let count = (len / NAMES_PER_SHARD)
            .next_power_of_two()
            .clamp(1, MAX_SHARDS);
        let bits = count.trailing_zeros();
        let mut shards: Vec<Shard> = (0..count)
            .map(|_| HashTable::with_capacity(len / count + len / (4 * count)))
            .collect();
        for (h, name, node) in entries {
            if let Some(shard) = shards.get_mut(shard_index(h, bits)) {
                shard.insert_unique(h, (name, node), rehash);
            }
        }
        NodeMap {
            shards: shards.into_iter().map(Arc::new).collect(),
            bits,
            len,
        }
    }

    fn locate(&self, name: &LowerName) -> (u64, usize) {
        let h = hash(name);
        (h, shard_index(h, self.bits))
    }

    pub(crate) fn get(&self, name: &LowerName) -> Option<&Node> {
        let (h, i) = self.locate(name);
        self.shards
            .get(i)?
            .find(h, |(k, _)| k == name)
            .map(|(_, n)| n)
    }

    /// The node of a name given as lower-cased wire bytes (see `wire_key`).
    pub(crate) fn get_wire(&self, wire: &[u8]) -> Option<&Node> {
        let h = wire_key::hash(wire);
        self.shards
            .get(shard_index(h, self.bits))?
            .find(h, |(k, _)| wire_key::eq_name(k, wire))
            .map(|(_, n)| n)
    }

    pub(crate) fn contains_key(&self, name: &LowerName) -> bool {
        self.get(name).is_some()
    }

    /// Copies the name's shard first if it is shared with another version.
    pub(crate) fn get_mut(&mut self, name: &LowerName) -> Option<&mut Node> {
        let (h, i) = self.locate(name);
        let shard = self.shards.get_mut(i)?;
        shard.find(h, |(k, _)| k == name)?;
        Arc::make_mut(shard)
            .find_mut(h, |(k, _)| k == name)
            .map(|(_, n)| n)
    }

    pub(crate) fn insert(&mut self, name: LowerName, node: Node) {
        let (h, i) = self.locate(&name);
        let Some(shard) = self.shards.get_mut(i) else {
            return;
        };
        let shard = Arc::make_mut(shard);
        match shard.find_mut(h, |(k, _)| *k == name) {
            Some(slot) => slot.1 = node,
            None => {
                shard.insert_unique(h, (name, node), rehash);
                self.len += 1;
            }
        }
    }

    pub(crate) fn remove(&mut self, name: &LowerName) -> Option<Node> {
        let (h, i) = self.locate(name);
        let shard = self.shards.get_mut(i)?;
        shard.find(h, |(k, _)| k == name)?;
        let entry = Arc::make_mut(shard)
            .find_entry(h, |(k, _)| k == name)
            .ok()?;
        let ((_, node), _) = entry.remove();
        self.len -= 1;
        Some(node)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&LowerName, &Node)> {
        self.shards
            .iter()
            .flat_map(|s| s.iter().map(|(k, n)| (k, n)))
    }

    /// The shards, for a diff that walks two versions side by side.
    pub(crate) fn shards(&self) -> &[Arc<Shard>] {
        &self.shards
    }
}

/// Lookups in one shard, for a diff walking two versions' shards pairwise.
pub(crate) trait ShardExt {
    fn get_node(&self, name: &LowerName) -> Option<&Node>;
    fn entries(&self) -> impl Iterator<Item = (&LowerName, &Node)>;
}

impl ShardExt for Shard {
    fn get_node(&self, name: &LowerName) -> Option<&Node> {
        self.find(hash(name), |(k, _)| k == name).map(|(_, n)| n)
    }

    fn entries(&self) -> impl Iterator<Item = (&LowerName, &Node)> {
        self.iter().map(|(k, n)| (k, n))
    }
}

/// The two shapes of a version's node table: the table a version is built in, and the
/// sharded map it is served from. Both keep child counts the same way.
pub(crate) trait NodeTable {
    /// The node of a name given as lower-cased wire bytes.
    fn node_mut_wire(&mut self, wire: &[u8]) -> Option<&mut Node>;
    fn put(&mut self, name: LowerName, node: Node);
}

impl NodeTable for NodeMap {
    fn node_mut_wire(&mut self, wire: &[u8]) -> Option<&mut Node> {
        let h = wire_key::hash(wire);
        let shard = self.shards.get_mut(shard_index(h, self.bits))?;
        let eq = |e: &(LowerName, Node)| wire_key::eq_name(&e.0, wire);
        shard.find(h, eq)?;
        Arc::make_mut(shard).find_mut(h, eq).map(|(_, n)| n)
    }
    fn put(&mut self, name: LowerName, node: Node) {
        self.insert(name, node);
    }
}

/// Links a new node (`key`, the lower-cased wire form of `name`) into the tree: bumps its
/// parent's child count, creating empty non-terminals up to the first existing ancestor
/// (whose own ancestors are linked already). Whole-zone builds and `apply` both go
/// through here, so a version reached by IXFR counts children exactly as one built from
/// scratch. Ancestors are probed as suffixes of `key`, so walking up builds no names
/// unless one has to be created.
pub(crate) fn link_to_parent(
    nodes: &mut impl NodeTable,
    key: &WireKey,
    name: &Name,
    apex_labels: usize,
) {
    let mut labels = key.labels();
    while labels > apex_labels {
        labels -= 1;
        if let Some(p) = nodes.node_mut_wire(key.suffix(labels)) {
            p.children += 1;
            return;
        }
        nodes.put(
            LowerName::new(&name.trim_to(labels)),
            Node {
                rrsets: Vec::new(),
                children: 1,
            },
        );
    }
}
