//! DNAME substitution (RFC 6672 §3.2): the DNAME record itself plus a CNAME synthesized
//! for the query name, after which the lookup restarts at the new name.
//!
//! hickory-proto has no DNAME RDATA type, so a DNAME is stored as RFC 3597 unknown data
//! whose bytes are the uncompressed target name (RFC 6672 §2.1).

use hickory_proto::rr::rdata::{CNAME, NULL};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinDecodable;

use super::lookup::suffix;
use crate::zone::Node;

/// The target of a DNAME RDATA, if it decodes.
pub(crate) fn target(rd: &RData) -> Option<Name> {
    match rd {
        RData::Unknown { code, rdata } if *code == RecordType::DNAME => {
            Name::from_bytes(&rdata.anything).ok()
        }
        _ => None,
    }
}

/// The RDATA for a DNAME to `target`, for zone builders and tests.
pub fn rdata(target: &Name) -> RData {
    use hickory_proto::serialize::binary::BinEncodable;
    // A name of at most 255 octets always encodes.
    let bytes = target.to_bytes().unwrap_or_default();
    RData::Unknown {
        code: RecordType::DNAME,
        rdata: NULL::with(bytes),
    }
}

/// What substitution produced. Lives only on the stack of one query, so the size of the
/// rewritten variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Substitution {
    /// The DNAME record, the synthesized CNAME, and the name to continue at.
    Rewritten {
        dname: Record,
        cname: Record,
        next: Name,
    },
    /// The rewritten name would exceed 255 octets: YXDOMAIN (RFC 6672 §2.2).
    TooLong { dname: Record },
    /// The DNAME RDATA does not decode; answer as if it were absent.
    Broken,
}

/// Rewrites `cur` (at least one label below the DNAME owner, which has `labels` labels).
pub(crate) fn substitute(node: &Node, labels: usize, cur: &Name) -> Substitution {
    let Some(set) = node.get(RecordType::DNAME) else {
        return Substitution::Broken;
    };
    let Some(rd) = set.rdata.first() else {
        return Substitution::Broken;
    };
    let Some(dest) = target(rd) else {
        return Substitution::Broken;
    };
    let owner = suffix(cur, labels);
    let dname = Record::from_rdata(owner, set.ttl, rd.clone());
    let keep = super::lookup::label_count(cur).saturating_sub(labels);
    let prefix = match Name::from_labels(cur.iter().take(keep)) {
        Ok(p) => p,
        Err(_) => return Substitution::Broken,
    };
    match prefix.append_name(&dest) {
        Ok(next) => {
            let cname = Record::from_rdata(cur.clone(), set.ttl, RData::CNAME(CNAME(next.clone())));
            Substitution::Rewritten { dname, cname, next }
        }
        Err(_) => Substitution::TooLong { dname },
    }
}
