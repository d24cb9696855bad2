//! Records the engine derives once per zone version instead of once per query: the apex
//! NS RRset and its addresses go into every positive answer, and building them means
//! lower-casing and looking up every NS target.

use std::sync::Arc;

use hickory_proto::rr::{Name, Record, RecordType};

use super::Answer;
use super::lookup::Plain;
use super::{additional, negative};
use crate::zone::Zone;

pub(crate) struct Derived {
    /// The apex NS records, owned by the lower-cased apex.
    pub(crate) apex_ns: Vec<Record>,
    /// The addresses of the apex NS targets this zone is authoritative for.
    pub(crate) apex_ns_additional: Vec<Record>,
    /// The SOA as negative answers carry it, owned by the lower-cased apex.
    pub(crate) negative_soa: Vec<Record>,
    /// Whether the apex owns a DNAME (every name below it is then rewritten).
    pub(crate) apex_dname: bool,
}

fn build(zone: &Zone) -> Derived {
    let mut scratch = Answer::default();
    let mut apex_ns = Vec::new();
    if let Some(ns) = zone.apex().get(RecordType::NS) {
        let owner = Name::clone(zone.origin_lower());
        apex_ns.extend(ns.records_as(&owner));
        additional::for_answer(&Plain(zone), ns, &mut scratch);
    }
    Derived {
        apex_ns,
        apex_ns_additional: scratch.additionals,
        negative_soa: negative::soa_records(zone, &Name::clone(zone.origin_lower())),
        apex_dname: zone.apex().get(RecordType::DNAME).is_some(),
    }
}

/// The derived records of `zone`, built on first use. None only if another consumer put
/// something else into the zone's slot, in which case callers compute per query.
pub(crate) fn get(zone: &Zone) -> Option<&Derived> {
    zone.derived()
        .get_or_init(|| Arc::new(build(zone)))
        .downcast_ref::<Derived>()
}
