//! Finding where a name lands in a zone (RFC 1034 §4.3.2 steps 3a–3c, RFC 4592, RFC 6672).
//!
//! The walk goes down from the apex one label at a time, so a zone cut or a DNAME above the
//! name is seen before any data below it, and the first missing name on the way down is
//! the closest encloser's child. Every step is one hash lookup: the cost depends on the
//! number of labels in the name, never on the size of the zone (empty non-terminals are
//! real nodes in [`Zone`], so no step ever needs to look at neighbouring names).

use hickory_proto::rr::{LowerName, Name, RecordType};
use hickory_proto::serialize::binary::BinDecodable;

use crate::zone::wire_key::WireKey;
use crate::zone::{Node, Zone};

/// The node lookups the walk needs. A trait so that tests can count lookups and prove the
/// walk never scans; `Zone` is the only implementation on the query path.
pub(crate) trait Nodes {
    fn node(&self, name: &LowerName) -> Option<&Node>;
    /// [`Nodes::node`] for lower-cased wire bytes (see `wire_key`), which the walk
    /// slices out of one buffer instead of building a name per ancestor.
    fn node_wire(&self, wire: &[u8]) -> Option<&Node> {
        let name = Name::from_bytes(wire).ok()?;
        self.node(&LowerName::from(name))
    }
    fn apex(&self) -> &Node;
    fn origin_lower(&self) -> &LowerName;
    /// Whether the apex owns a DNAME; asked on every query, so `Zone` answers it from
    /// data derived once per version rather than with a lookup.
    fn apex_dname(&self) -> bool {
        self.apex().get(RecordType::DNAME).is_some()
    }
}

impl Nodes for Zone {
    fn node(&self, name: &LowerName) -> Option<&Node> {
        Zone::node(self, name)
    }
    fn node_wire(&self, wire: &[u8]) -> Option<&Node> {
        Zone::node_wire(self, wire)
    }
    fn apex(&self) -> &Node {
        Zone::apex(self)
    }
    fn origin_lower(&self) -> &LowerName {
        Zone::origin_lower(self)
    }
    fn apex_dname(&self) -> bool {
        match super::derived::get(self) {
            Some(d) => d.apex_dname,
            None => self.apex().get(RecordType::DNAME).is_some(),
        }
    }
}

/// A zone seen without its derived data: the view `derived` builds that data through,
/// so building never waits on itself.
pub(crate) struct Plain<'z>(pub(crate) &'z Zone);

impl Nodes for Plain<'_> {
    fn node(&self, name: &LowerName) -> Option<&Node> {
        self.0.node(name)
    }
    fn node_wire(&self, wire: &[u8]) -> Option<&Node> {
        self.0.node_wire(wire)
    }
    fn apex(&self) -> &Node {
        self.0.apex()
    }
    fn origin_lower(&self) -> &LowerName {
        self.0.origin_lower()
    }
}

/// Where a name lands.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Found<'z> {
    /// The name exists and is authoritative data of the zone.
    Exact(&'z Node),
    /// The name does not exist; the wildcard at `*.<closest encloser>` stands in for it.
    Wildcard(&'z Node),
    /// The name is at or below a zone cut whose owner has `labels` labels.
    Cut { node: &'z Node, labels: usize },
    /// A proper ancestor with `labels` labels owns a DNAME.
    Dname { node: &'z Node, labels: usize },
    /// Nothing in the zone matches.
    NxDomain,
}

/// The real label count; `Name::num_labels` does not count a leading `*`.
pub(crate) fn label_count(name: &Name) -> usize {
    name.iter().len()
}

/// Walks `qlower` (which must be at or below the apex) down from the apex.
///
/// `qtype` matters only at a cut: DS at the cut's own name is parent-side data (RFC 4035
/// §3.1.4.1), every other type there is a referral.
pub(crate) fn find<'z, Z: Nodes + ?Sized>(
    zone: &'z Z,
    qlower: &LowerName,
    qtype: RecordType,
) -> Found<'z> {
    match WireKey::new(qlower) {
        Some(key) => find_wire(zone, &key, qtype),
        // Not reachable for names hickory builds (at most 255 octets).
        None => Found::NxDomain,
    }
}

/// [`find`] for a name already in wire form: every ancestor is a slice of `key`.
pub(crate) fn find_wire<'z, Z: Nodes + ?Sized>(
    zone: &'z Z,
    key: &WireKey,
    qtype: RecordType,
) -> Found<'z> {
    let apex_labels = label_count(zone.origin_lower());
    let q_labels = key.labels();
    if q_labels > apex_labels && zone.apex_dname() {
        return Found::Dname {
            node: zone.apex(),
            labels: apex_labels,
        };
    }
    for k in apex_labels + 1..=q_labels {
        let Some(node) = zone.node_wire(key.suffix(k)) else {
            // The name with `k` labels is the closest encloser's child on the way to the
            // query name, so its wildcard sibling is the source of synthesis (RFC 4592
            // §3.3.1). An existing child, even an empty non-terminal, was found above and
            // blocks the wildcard.
            let parent = key.suffix(k - 1);
            let mut wild = [0u8; 256];
            let Some(dst) = wild.get_mut(2..2 + parent.len()) else {
                return Found::NxDomain;
            };
            dst.copy_from_slice(parent);
            wild[0] = 1;
            wild[1] = b'*';
            return match zone.node_wire(&wild[..2 + parent.len()]) {
                Some(n) => Found::Wildcard(n),
                None => Found::NxDomain,
            };
        };
        if node.get(RecordType::NS).is_some() && !(k == q_labels && qtype == RecordType::DS) {
            return Found::Cut { node, labels: k };
        }
        if k < q_labels && node.get(RecordType::DNAME).is_some() {
            return Found::Dname { node, labels: k };
        }
        if k == q_labels {
            return Found::Exact(node);
        }
    }
    Found::Exact(zone.apex())
}

/// The node of an in-zone name whose data is authoritative (not at or below a cut),
/// wildcard expansion included: the only names whose addresses go into the additional
/// section outside of referrals. Measured: all three peers add addresses synthesized from
/// a wildcard; Knot also adds names below a cut, NSD and BIND do not, and neither do we.
pub(crate) fn authoritative_node<'z, Z: Nodes + ?Sized>(
    zone: &'z Z,
    lower: &LowerName,
) -> Option<&'z Node> {
    if !zone.origin_lower().zone_of(lower) {
        return None;
    }
    match find(zone, lower, RecordType::A) {
        Found::Exact(n) | Found::Wildcard(n) => Some(n),
        _ => None,
    }
}

/// The last `labels` labels of `name`, keeping its case: owners of records found on the
/// way to the query name are written with the query's spelling, as Knot and NSD do.
pub(crate) fn suffix(name: &Name, labels: usize) -> Name {
    if labels >= label_count(name) {
        name.clone()
    } else {
        name.trim_to(labels)
    }
}
