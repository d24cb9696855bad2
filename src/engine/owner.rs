//! Owner names for records written into a reply.
//!
//! Knot and NSD write the apex and every ancestor of the query name with the query's
//! spelling (their name compression points back into the question), so `WwW.ExAmPlE.TeSt`
//! gets an SOA owned by `ExAmPlE.TeSt`. BIND writes the zone's spelling; we follow Knot and
//! NSD. Rebuilding a name is the expensive part, so the common case (an already lower-case
//! query) reuses the zone's lower-cased apex.

use hickory_proto::rr::{LowerName, Name};

use super::lookup::{label_count, suffix};
use crate::zone::Zone;

pub(crate) struct Owners<'a> {
    qname: &'a Name,
    apex_lower: &'a LowerName,
    apex_labels: usize,
    /// The query name is already lower-case, so its suffixes equal the lower-cased names.
    lower: bool,
}

impl<'a> Owners<'a> {
    pub(crate) fn new(zone: &'a Zone, qname: &'a Name) -> Self {
        let apex_lower = zone.origin_lower();
        Owners {
            qname,
            apex_lower,
            apex_labels: label_count(apex_lower),
            lower: is_lower(qname),
        }
    }

    /// True when the query name is all lower-case, so records owned by the lower-cased
    /// apex can be reused as they are.
    pub(crate) fn is_lower(&self) -> bool {
        self.lower
    }

    /// The apex, spelled as in the query.
    pub(crate) fn apex(&self) -> Name {
        if self.lower {
            Name::clone(self.apex_lower)
        } else {
            suffix(self.qname, self.apex_labels)
        }
    }
}

/// No upper-case ASCII letter in any label; cheaper than comparing with the lower-cased
/// copy label by label.
fn is_lower(name: &Name) -> bool {
    name.iter()
        .all(|label| !label.iter().any(u8::is_ascii_uppercase))
}
