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
use hickory_proto::serialize::binary::BinDecodable;

use super::Node;
use super::wire_key::{self, WireKey};

/// (hash, name, node): the hash is kept so that a shard grows, and a builder splits
/// shards, without hashing a name again.
pub(crate) type Entry = (u64, LowerName, Node);
pub(crate) type Shard = HashTable<Entry>;

/// Aim for about this many names per shard.
const NAMES_PER_SHARD: usize = 1024;
pub(crate) const MAX_SHARDS: usize = 1024;

/// Hashed as lower-cased wire bytes (see `wire_key`), so a walk down a query name can
/// probe with slices of one buffer.
fn hash(name: &LowerName) -> u64 {
    wire_key::hash_name(name)
}

fn rehash(entry: &Entry) -> u64 {
    entry.0
}

/// The shard count (as bits) for a map of `len` names.
fn bits_for(len: usize) -> u32 {
    (len / NAMES_PER_SHARD)
        .next_power_of_two()
        .clamp(1, MAX_SHARDS)
        .trailing_zeros()
}

/// The shard of a hash. Mixed before taking the top bits: the shard's table uses the same
/// hash, and entries sharing raw top bits would crowd its control bytes.
pub(crate) fn shard_index(h: u64, bits: u32) -> usize {
    if bits == 0 {
        return 0;
    }
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
}

#[derive(Debug, Clone, Default)]
pub(crate) struct NodeMap {
    shards: Box<[Arc<Shard>]>,
    bits: u32,
    len: usize,
}

impl NodeMap {
    fn locate(&self, name: &LowerName) -> (u64, usize) {
        let h = hash(name);
        (h, shard_index(h, self.bits))
    }

    pub(crate) fn get(&self, name: &LowerName) -> Option<&Node> {
        let (h, i) = self.locate(name);
        self.shards
            .get(i)?
            .find(h, |(_, k, _)| k == name)
            .map(|(_, _, n)| n)
    }

    /// The node of a name given as lower-cased wire bytes (see `wire_key`).
    pub(crate) fn get_wire(&self, wire: &[u8]) -> Option<&Node> {
        let h = wire_key::hash(wire);
        self.shards
            .get(shard_index(h, self.bits))?
            .find(h, |(_, k, _)| wire_key::eq_name(k, wire))
            .map(|(_, _, n)| n)
    }

    pub(crate) fn contains_key(&self, name: &LowerName) -> bool {
        self.get(name).is_some()
    }

    /// Copies the name's shard first if it is shared with another version.
    pub(crate) fn get_mut(&mut self, name: &LowerName) -> Option<&mut Node> {
        let (h, i) = self.locate(name);
        let shard = self.shards.get_mut(i)?;
        shard.find(h, |(_, k, _)| k == name)?;
        Arc::make_mut(shard)
            .find_mut(h, |(_, k, _)| k == name)
            .map(|(_, _, n)| n)
    }

    pub(crate) fn insert(&mut self, name: LowerName, node: Node) {
        let (h, i) = self.locate(&name);
        let Some(shard) = self.shards.get_mut(i) else {
            return;
        };
        let shard = Arc::make_mut(shard);
        match shard.find_mut(h, |(_, k, _)| *k == name) {
            Some(slot) => slot.2 = node,
            None => {
                shard.insert_unique(h, (h, name, node), rehash);
                self.len += 1;
            }
        }
    }

    pub(crate) fn remove(&mut self, name: &LowerName) -> Option<Node> {
        let (h, i) = self.locate(name);
        let shard = self.shards.get_mut(i)?;
        shard.find(h, |(_, k, _)| k == name)?;
        let entry = Arc::make_mut(shard)
            .find_entry(h, |(_, k, _)| k == name)
            .ok()?;
        let ((_, _, node), _) = entry.remove();
        self.len -= 1;
        Some(node)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&LowerName, &Node)> {
        self.shards
            .iter()
            .flat_map(|s| s.iter().map(|(_, k, n)| (k, n)))
    }

    /// The nodes of part `part` of `parts` (a contiguous run of shards), so that a walk
    /// over a large version can be split between threads.
    pub(crate) fn iter_part(
        &self,
        part: usize,
        parts: usize,
    ) -> impl Iterator<Item = (&LowerName, &Node)> {
        let n = self.shards.len();
        let parts = parts.max(1);
        let range = n * part / parts..n * (part + 1) / parts;
        self.shards
            .get(range)
            .unwrap_or_default()
            .iter()
            .flat_map(|s| s.iter().map(|(_, k, n)| (k, n)))
    }

    /// The shards, for a diff that walks two versions side by side.
    pub(crate) fn shards(&self) -> &[Arc<Shard>] {
        &self.shards
    }
}

/// The shards of a version being built (see `build`): not shared yet, and filled table by
/// table; linking adds the empty non-terminals, and [`Shards::into_map`] settles the
/// shard count.
pub(crate) struct Shards {
    shards: Vec<Shard>,
    bits: u32,
    len: usize,
}

impl Shards {
    /// Shards built elsewhere: `tables[i]` must hold exactly the names of shard `i` of
    /// `1 << bits`.
    pub(crate) fn from_tables(tables: Vec<Shard>, bits: u32) -> Shards {
        Shards {
            len: tables.iter().map(HashTable::len).sum(),
            shards: tables,
            bits,
        }
    }

    /// The node of a name given by its hash and lower-cased wire bytes.
    pub(crate) fn find_mut(&mut self, h: u64, wire: &[u8]) -> Option<&mut Node> {
        self.shards
            .get_mut(shard_index(h, self.bits))?
            .find_mut(h, |e| wire_key::eq_name(&e.1, wire))
            .map(|(_, _, n)| n)
    }

    pub(crate) fn find(&self, h: u64, wire: &[u8]) -> Option<&Node> {
        self.shards
            .get(shard_index(h, self.bits))?
            .find(h, |e| wire_key::eq_name(&e.1, wire))
            .map(|(_, _, n)| n)
    }

    /// Adds a name known to be absent.
    pub(crate) fn insert_new(&mut self, h: u64, name: LowerName, node: Node) -> Option<&mut Node> {
        self.len += 1;
        let shard = self.shards.get_mut(shard_index(h, self.bits))?;
        Some(&mut shard.insert_unique(h, (h, name, node), rehash).into_mut().2)
    }

    /// Re-spreads the entries over `1 << bits` shards.
    fn resize(&mut self, bits: u32) {
        let count = 1usize << bits;
        let per = self.len / count + self.len / (4 * count);
        let mut shards: Vec<Shard> = (0..count).map(|_| HashTable::with_capacity(per)).collect();
        for entry in self.shards.drain(..).flatten() {
            if let Some(s) = shards.get_mut(shard_index(entry.0, bits)) {
                s.insert_unique(entry.0, entry, rehash);
            }
        }
        self.shards = shards;
        self.bits = bits;
    }

    /// The finished map, with the shard count any version of its size gets (so that a
    /// diff pairs its shards with another version's).
    pub(crate) fn into_map(mut self) -> NodeMap {
        let bits = bits_for(self.len);
        if bits != self.bits {
            self.resize(bits);
        }
        NodeMap {
            shards: self.shards.into_iter().map(Arc::new).collect(),
            bits: self.bits,
            len: self.len,
        }
    }
}

impl NodeTable for Shards {
    fn node_mut_wire(&mut self, wire: &[u8]) -> Option<&mut Node> {
        self.find_mut(wire_key::hash(wire), wire)
    }
    fn put(&mut self, name: LowerName, node: Node) {
        let h = hash(&name);
        self.insert_new(h, name, node);
    }
}

/// Lookups in one shard, for a diff walking two versions' shards pairwise.
pub(crate) trait ShardExt {
    fn get_node(&self, name: &LowerName) -> Option<&Node>;
    fn entries(&self) -> impl Iterator<Item = (&LowerName, &Node)>;
}

impl ShardExt for Shard {
    fn get_node(&self, name: &LowerName) -> Option<&Node> {
        self.find(hash(name), |(_, k, _)| k == name)
            .map(|(_, _, n)| n)
    }

    fn entries(&self) -> impl Iterator<Item = (&LowerName, &Node)> {
        self.iter().map(|(_, k, n)| (k, n))
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
        let eq = |e: &Entry| wire_key::eq_name(&e.1, wire);
        shard.find(h, eq)?;
        Arc::make_mut(shard).find_mut(h, eq).map(|(_, _, n)| n)
    }
    fn put(&mut self, name: LowerName, node: Node) {
        self.insert(name, node);
    }
}

/// Links a new node (`key`, its lower-cased wire form) into the tree: bumps its parent's
/// child count, creating empty non-terminals up to the first existing ancestor (whose own
/// ancestors are linked already). Whole-zone builds and `apply` both go through here, so
/// a version reached by IXFR counts children exactly as one built from scratch. Ancestors
/// are probed as suffixes of `key`, so walking up builds no names unless one has to be
/// created.
pub(crate) fn link_to_parent(nodes: &mut impl NodeTable, key: &WireKey, apex_labels: usize) {
    let mut labels = key.labels();
    while labels > apex_labels {
        labels -= 1;
        let parent = key.suffix(labels);
        if let Some(p) = nodes.node_mut_wire(parent) {
            p.children += 1;
            return;
        }
        let Ok(name) = Name::from_bytes(parent) else {
            return;
        };
        nodes.put(
            LowerName::new(&name),
            Node {
                rrsets: Default::default(),
                children: 1,
            },
        );
    }
}
