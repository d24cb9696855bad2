//! The answer loop for one zone: find where the name lands, answer or follow a CNAME or
//! DNAME inside the zone, and stop at a referral or a negative answer.

use std::borrow::Cow;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{LowerName, Name, RData, RecordType};

use super::lookup::{self, Found};
use super::owner::Owners;
use super::{Answer, MAX_CHAIN, additional, any, dname, negative};
use crate::zone::wire_key::WireKey;
use crate::zone::{Node, Zone};

/// What to do after a CNAME or DNAME was written.
enum Next {
    Continue(Name, LowerName),
    Stop,
}

/// Decides whether to follow an alias to `target`.
///
/// Only in-zone targets are followed: Knot and BIND stop at the zone's edge even when
/// they serve the target's zone, NSD goes on into its other zones; we follow the
/// majority. A name already written as an alias owner is a loop: Knot and NSD answer
/// NOERROR with the aliases so far (BIND SERVFAILs), and so do we. The same answer ends a
/// chain longer than [`MAX_CHAIN`].
fn follow(zone: &Zone, target: Name, hops: usize, ans: &Answer) -> Next {
    if hops >= MAX_CHAIN {
        return Next::Stop;
    }
    let lower = LowerName::new(&target);
    if !zone.origin_lower().zone_of(&lower) {
        return Next::Stop;
    }
    let seen = ans
        .answers
        .iter()
        .any(|r| r.record_type() == RecordType::CNAME && r.name == target);
    if seen {
        return Next::Stop;
    }
    Next::Continue(target, lower)
}

/// Answers `qname` (lower-cased once by the caller as `qlower`, and as `key` when the
/// caller has it in wire form) from `zone` into `ans`, whose buffers are reused.
pub(crate) fn answer_in_zone(
    zone: &Arc<Zone>,
    qname: &Name,
    qlower: &LowerName,
    key: Option<&WireKey>,
    qtype: RecordType,
    ans: &mut Answer,
) {
    ans.reset();
    ans.authoritative = true;
    ans.zone = Some(Arc::clone(zone));
    let owners = Owners::new(zone, qname);
    let mut cur: Cow<'_, Name> = Cow::Borrowed(qname);
    let mut cur_lower: Cow<'_, LowerName> = Cow::Borrowed(qlower);
    let mut hops = 0usize;
    let mut key = key;
    loop {
        let found = match key.take() {
            Some(k) => lookup::find_wire(&**zone, k, qtype),
            None => lookup::find(&**zone, &cur_lower, qtype),
        };
        let next = match found {
            Found::Exact(node) | Found::Wildcard(node) => {
                match at_node(zone, node, &cur, qtype, &owners, ans) {
                    Some(target) => follow(zone, target, hops, ans),
                    None => return,
                }
            }
            Found::Cut { node, labels } => {
                // A referral after an in-zone alias keeps AA for the alias (all peers).
                ans.authoritative = !ans.answers.is_empty();
                additional::referral(zone, node, labels, &cur, ans);
                return;
            }
            Found::Dname { node, labels } => match dname::substitute(node, labels, &cur) {
                dname::Substitution::Rewritten { dname, cname, next } => {
                    ans.answers.push(dname);
                    ans.answers.push(cname);
                    follow(zone, next, hops, ans)
                }
                dname::Substitution::TooLong { dname } => {
                    ans.answers.push(dname);
                    ans.rcode = ResponseCode::YXDomain;
                    return;
                }
                dname::Substitution::Broken => {
                    ans.rcode = ResponseCode::ServFail;
                    return;
                }
            },
            Found::NxDomain => {
                // Also after an alias: the rcode describes the last name (RFC 6604).
                ans.rcode = ResponseCode::NXDomain;
                negative::add_soa(zone, &owners, ans);
                return;
            }
        };
        match next {
            Next::Continue(name, lower) => {
                cur = Cow::Owned(name);
                cur_lower = Cow::Owned(lower);
                hops += 1;
            }
            Next::Stop => return,
        }
    }
}

/// Answers at an existing (or wildcard-synthesized) node. Returns the CNAME target to
/// follow, or None when the answer is complete.
fn at_node(
    zone: &Zone,
    node: &Node,
    owner: &Name,
    qtype: RecordType,
    owners: &Owners<'_>,
    ans: &mut Answer,
) -> Option<Name> {
    if qtype == RecordType::ANY {
        if !any::answer(zone, node, owner, ans) {
            negative::add_soa(zone, owners, ans);
        }
        return None;
    }
    if let Some(set) = node.get(qtype) {
        ans.answers.extend(set.records_as(owner));
        additional::for_answer(zone, set, ans);
        // No NS in authority when the answer already is the apex NS RRset, or is the DS
        // of a cut (parent-side data; all three peers leave authority empty there).
        let apex_ns = qtype == RecordType::NS && std::ptr::eq(node, zone.apex());
        let ds_at_cut = qtype == RecordType::DS && node.get(RecordType::NS).is_some();
        if !apex_ns && !ds_at_cut {
            additional::apex_ns(zone, owners, ans);
        }
        return None;
    }
    if qtype != RecordType::CNAME
        && let Some(cname) = node.get(RecordType::CNAME)
    {
        ans.answers.extend(cname.records_as(owner));
        return match cname.rdata.first() {
            Some(RData::CNAME(c)) => Some(c.0.clone()),
            _ => None,
        };
    }
    negative::add_soa(zone, owners, ans);
    None
}
