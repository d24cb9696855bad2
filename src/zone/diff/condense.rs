//! Condensing a run of changesets into one, for IXFR.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

use super::{Changeset, DiffError};

/// Merges consecutive changesets into one with the same net effect, as an IXFR server may
/// send (RFC 1995 §5): a record added and later removed disappears from the result, and a
/// record removed and re-added unchanged does too.
pub fn condense(origin: &Name, changesets: &[Changeset]) -> Result<Changeset, DiffError> {
    let malformed = |reason: &str| DiffError::Malformed {
        zone: origin.clone(),
        reason: reason.to_string(),
    };
    let (first, last) = match (changesets.first(), changesets.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => return Err(malformed("nothing to condense")),
    };
    for pair in changesets.windows(2) {
        if let [a, b] = pair
            && a.to_serial != b.from_serial
        {
            return Err(DiffError::NotConsecutive {
                zone: origin.clone(),
                to: a.to_serial,
                from: b.from_serial,
            });
        }
    }
    let old_soa = first
        .removed
        .first()
        .ok_or_else(|| malformed("missing the old SOA"))?;
    let new_soa = last
        .added
        .first()
        .ok_or_else(|| malformed("missing the new SOA"))?;

    type Key = (LowerName, RecordType, RData);
    // Insertion order is kept so the result is deterministic.
    let mut removed: Vec<Option<Record>> = Vec::new();
    let mut added: Vec<Option<Record>> = Vec::new();
    let mut removed_at: HashMap<Key, usize> = HashMap::new();
    let mut added_at: HashMap<Key, usize> = HashMap::new();
    let key = |r: &Record| (LowerName::new(&r.name), r.record_type(), r.data.clone());

    for cs in changesets {
        for r in cs.removed.iter().skip(1) {
            let k = key(r);
            if let Some(i) = added_at.remove(&k) {
                // Added by an earlier step: the two cancel out.
                added[i] = None;
            } else if let Entry::Vacant(slot) = removed_at.entry(k) {
                slot.insert(removed.len());
                removed.push(Some(r.clone()));
            }
        }
        for a in cs.added.iter().skip(1) {
            let k = key(a);
            let same_as_removed = removed_at
                .get(&k)
                .and_then(|&i| removed[i].as_ref())
                .is_some_and(|r| r.ttl == a.ttl);
            if same_as_removed {
                if let Some(i) = removed_at.remove(&k) {
                    removed[i] = None;
                }
            } else if let Entry::Vacant(slot) = added_at.entry(k) {
                slot.insert(added.len());
                added.push(Some(a.clone()));
            }
        }
    }

    let mut out_removed = vec![old_soa.clone()];
    out_removed.extend(removed.into_iter().flatten());
    let mut out_added = vec![new_soa.clone()];
    out_added.extend(added.into_iter().flatten());
    Ok(Changeset {
        from_serial: first.from_serial,
        to_serial: last.to_serial,
        removed: out_removed,
        added: out_added,
    })
}
