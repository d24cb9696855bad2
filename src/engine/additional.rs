//! Additional-section processing (RFC 1034 §4.3.2 step 6, RFC 2782): addresses of the
//! names that NS, MX and SRV records point at, when this zone holds them.

use hickory_proto::rr::{LowerName, Name, RData, RecordType};
use smallvec::SmallVec;

use super::lookup::{Nodes, authoritative_node, suffix};
use super::owner::Owners;
use super::{Answer, derived};
use crate::zone::{Node, RRset, Zone};

/// The name whose addresses a record asks for, if any.
fn target(rd: &RData) -> Option<&Name> {
    match rd {
        RData::NS(ns) => Some(&ns.0),
        RData::MX(mx) => Some(&mx.exchange),
        RData::SRV(srv) => Some(&srv.target),
        _ => None,
    }
}

fn wants_additional(rtype: RecordType) -> bool {
    matches!(rtype, RecordType::NS | RecordType::MX | RecordType::SRV)
}

/// Appends the A then AAAA RRsets of `node` under `owner` (the target as written in the
/// RDATA), once per name: a target named twice is listed once, as the peers do.
fn push_addresses(node: &Node, owner: &Name, ans: &mut Answer) {
    if ans.additionals.iter().any(|r| r.name == *owner) {
        return;
    }
    for rtype in [RecordType::A, RecordType::AAAA] {
        if let Some(set) = node.get(rtype)
            && !in_answer(ans, owner, rtype)
        {
            ans.additionals.extend(set.records_as(owner));
        }
    }
}

/// Whether the answer section already holds this RRset: NSD and Knot never repeat an
/// answer RRset in the additional section (e.g. `ns1.example.test A` with the apex NS in
/// authority), and neither do we.
fn in_answer(ans: &Answer, owner: &Name, rtype: RecordType) -> bool {
    ans.answers
        .iter()
        .any(|r| r.record_type() == rtype && r.name == *owner)
}

/// Addresses for the targets of an answer RRset: authoritative in-zone data, never other
/// zones of the catalog (all three peers). Names below a cut are occluded for MX and SRV
/// targets (NSD and BIND; Knot adds them), but an NS target below a cut is glue, which
/// Knot and NSD both add (e.g. `. NS` gives `a.root-servers.test. A` when `test.` is
/// delegated).
pub(crate) fn for_answer<Z: Nodes + ?Sized>(zone: &Z, set: &RRset, ans: &mut Answer) {
    if !wants_additional(set.rtype) {
        return;
    }
    for rd in &set.rdata {
        let Some(t) = target(rd) else { continue };
        let tl = LowerName::new(t);
        let node = match authoritative_node(zone, &tl) {
            Some(n) => Some(n),
            None if set.rtype == RecordType::NS && zone.origin_lower().zone_of(&tl) => {
                Nodes::node(zone, &tl)
            }
            None => None,
        };
        if let Some(node) = node {
            push_addresses(node, t, ans);
        }
    }
}

/// The apex NS RRset in the authority section of a positive answer, with its addresses.
/// NSD and BIND do this by default; Knot answers minimally. We follow the majority.
pub(crate) fn apex_ns(zone: &Zone, owners: &Owners<'_>, ans: &mut Answer) {
    let Some(d) = derived::get(zone) else {
        let Some(ns) = zone.apex().get(RecordType::NS) else {
            return;
        };
        let owner = owners.apex();
        ans.authorities.extend(ns.records_as(&owner));
        for_answer(zone, ns, ans);
        return;
    };
    if owners.is_lower() {
        ans.authorities.extend_from_slice(&d.apex_ns);
    } else {
        let owner = owners.apex();
        ans.authorities.extend(d.apex_ns.iter().map(|r| {
            let mut r = r.clone();
            r.name = owner.clone();
            r
        }));
    }
    let before = ans.additionals.len();
    ans.additionals.reserve(d.apex_ns_additional.len());
    for r in &d.apex_ns_additional {
        if !ans.additionals[..before].iter().any(|x| x.name == r.name)
            && !in_answer(ans, &r.name, r.record_type())
        {
            ans.additionals.push(r.clone());
        }
    }
}

/// A referral: the cut's NS RRset in authority and, in additional, first the glue below
/// the cut (in-domain glue, which must fit: RFC 9471 §3.1), then the addresses of the
/// other targets in this zone, sibling glue below other cuts included (Knot, NSD and BIND
/// add them; RFC 9471 §3.2 makes them optional).
pub(crate) fn referral(zone: &Zone, cut: &Node, labels: usize, cur: &Name, ans: &mut Answer) {
    let Some(ns) = cut.get(RecordType::NS) else {
        return;
    };
    let owner = suffix(cur, labels);
    ans.authorities.extend(ns.records_as(&owner));
    let cut_lower = LowerName::new(&owner);
    // Targets outside the cut wait until every in-domain glue record is in, so that those
    // come first and can be counted as required.
    let mut elsewhere: SmallVec<[(&Name, LowerName); 4]> = SmallVec::new();
    for t in ns.rdata.iter().filter_map(target) {
        let tl = LowerName::new(t);
        if !cut_lower.zone_of(&tl) {
            if zone.origin_lower().zone_of(&tl) {
                elsewhere.push((t, tl));
            }
        } else if let Some(node) = Nodes::node(zone, &tl) {
            push_addresses(node, t, ans);
        }
    }
    ans.required_additionals = ans.additionals.len();
    for (t, tl) in elsewhere {
        let node = authoritative_node(zone, &tl).or_else(|| Nodes::node(zone, &tl));
        if let Some(node) = node {
            push_addresses(node, t, ans);
        }
    }
}
