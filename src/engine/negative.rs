//! Negative answers: NXDOMAIN and NODATA carry the zone's SOA in the authority section
//! so resolvers can cache the denial (RFC 2308 §3).

use hickory_proto::rr::{RData, Record};

use super::Answer;
use super::owner::Owners;
use crate::zone::Zone;

/// Appends the apex SOA with TTL = min(SOA TTL, SOA MINIMUM) (RFC 2308 §5), the TTL all
/// three peers put on it.
pub(crate) fn add_soa(zone: &Zone, owners: &Owners<'_>, ans: &mut Answer) {
    let soa = zone.soa();
    for rd in &soa.rdata {
        let ttl = match rd {
            RData::SOA(s) => soa.ttl.min(s.minimum),
            _ => soa.ttl,
        };
        ans.authorities
            .push(Record::from_rdata(owners.apex(), ttl, rd.clone()));
    }
}
