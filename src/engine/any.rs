//! QTYPE=ANY (RFC 8482 §4.1): answer with one RRset of the name, not all of them.
//!
//! Measured: Knot and NSD both return a single RRset, over UDP and TCP alike and with or
//! without DO, with its additional addresses and no NS in authority; BIND returns every
//! RRset. They differ in which one: Knot takes the lowest type number (NS at an apex, A
//! before TXT, MX before AAAA); NSD takes the SOA at an apex and otherwise its own internal
//! order. We take the lowest type number, Knot's rule, because it is deterministic and does
//! not depend on the order records were loaded in.

use hickory_proto::rr::Name;

use super::Answer;
use super::additional;
use crate::zone::{Node, RRset, Zone};

/// The RRset RFC 8482 lets us answer with, or None for an empty non-terminal.
pub(crate) fn pick(node: &Node) -> Option<&RRset> {
    node.rrsets()
        .iter()
        .min_by_key(|s| u16::from(s.rtype))
        .map(|s| &**s)
}

/// Fills the answer for ANY at `owner`. Returns false when there is nothing to answer.
pub(crate) fn answer(zone: &Zone, node: &Node, owner: &Name, ans: &mut Answer) -> bool {
    let Some(set) = pick(node) else {
        return false;
    };
    ans.answers.extend(set.records_as(owner));
    additional::for_answer(zone, set, ans);
    true
}
