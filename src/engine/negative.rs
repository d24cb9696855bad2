//! Negative answers: NXDOMAIN and NODATA carry the zone's SOA in the authority section
//! so resolvers can cache the denial (RFC 2308 §3).

use hickory_proto::rr::{Name, RData, Record};

use super::owner::Owners;
use super::{Answer, derived};
use crate::zone::Zone;

/// The apex SOA under `owner` with TTL = min(SOA TTL, SOA MINIMUM) (RFC 2308 §5), the
/// TTL all three peers put on it.
pub(crate) fn soa_records(zone: &Zone, owner: &Name) -> Vec<Record> {
    let soa = zone.soa();
    soa.rdata
        .iter()
        .map(|rd| {
            let ttl = match rd {
                RData::SOA(s) => soa.ttl.min(s.minimum),
                _ => soa.ttl,
            };
            Record::from_rdata(owner.clone(), ttl, rd.clone())
        })
        .collect()
}

/// Appends the negative-answer SOA, spelled as the query spells the apex.
pub(crate) fn add_soa(zone: &Zone, owners: &Owners<'_>, ans: &mut Answer) {
    match derived::get(zone) {
        Some(d) if owners.is_lower() => ans.authorities.extend_from_slice(&d.negative_soa),
        _ => ans.authorities.extend(soa_records(zone, &owners.apex())),
    }
}
