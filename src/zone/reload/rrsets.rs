//! From the records of the old and the new window to the changeset a full reload would
//! have found, or the reason it cannot be told from the window alone.
//!
//! What makes it possible: the snapshot only exists while the file repeats no record and
//! mixes no TTLs within an RRset (see `Snapshot::new`), so every record of the zone is
//! written exactly once, with its RRset's TTL. An RRset's records outside the window are
//! then the zone's RRset minus the old window's, and the new RRset is those plus the new
//! window's. Everything `check` would judge differently in the new file makes a fallback.

use std::collections::{HashMap, HashSet};

use hickory_proto::rr::{LowerName, RData, Record, RecordType};

use super::Fallback;
use crate::zone::check::{cname_compatible, out_of_zone};
use crate::zone::diff::Changeset;
use crate::zone::load::{Diagnostic, ParsedRecord};
use crate::zone::{RRset, Zone};

/// What the window diff gives: the changeset to the file's content (its SOA and serial
/// are the file's), that SOA, and warnings about the new window's records.
pub(super) struct WindowChange {
    pub changeset: Changeset,
    pub file_soa: Record,
    pub warnings: Vec<Diagnostic>,
}

type Key = (LowerName, RecordType);

/// One RRset the edit changes, as `diff` would report it.
struct Change {
    key: Key,
    removed: Vec<Record>,
    added: Vec<Record>,
    /// The RRset still has records after the edit.
    exists: bool,
}

pub(super) fn window_change(
    current: &Zone,
    file_soa: &Record,
    ns_targets: &HashSet<LowerName>,
    old: Vec<ParsedRecord>,
    new: Vec<ParsedRecord>,
) -> Result<WindowChange, Fallback> {
    let apex = current.origin_lower();
    let mut warnings = Vec::new();
    let mut sets: HashMap<Key, (Vec<Record>, Vec<Record>)> = HashMap::new();
    for pr in old {
        let key = (LowerName::new(&pr.record.name), pr.record.record_type());
        if apex.zone_of(&key.0) {
            sets.entry(key).or_default().0.push(pr.record);
        }
    }
    for pr in new {
        let key = (LowerName::new(&pr.record.name), pr.record.record_type());
        if apex.zone_of(&key.0) {
            sets.entry(key).or_default().1.push(pr.record);
        } else {
            warnings.push(out_of_zone(&pr));
        }
    }

    let mut new_soa = file_soa.clone();
    let mut changes = Vec::new();
    for (key, (old, new)) in sets {
        if same_records(&old, &new) {
            continue;
        }
        match key.1 {
            RecordType::SOA => new_soa = soa_edit(&key, apex, file_soa, old, new)?,
            RecordType::NS | RecordType::DNAME | RecordType::RRSIG => {
                return Err(Fallback::Type(key.1, key.0.into()));
            }
            _ => changes.push(rrset_change(current, key, &old, new)?),
        }
    }
    cross_checks(current, ns_targets, &changes)?;

    changes
        .sort_by(|a, b| (a.key.0.cmp(&b.key.0)).then(u16::from(a.key.1).cmp(&u16::from(b.key.1))));
    let served_soa = current
        .soa()
        .records()
        .next()
        .ok_or(Fallback::Inconsistent("the zone has no SOA record"))?;
    let to_serial = match &new_soa.data {
        RData::SOA(s) => s.serial,
        _ => return Err(Fallback::Inconsistent("the file's SOA is not an SOA")),
    };
    let mut removed = vec![served_soa];
    let mut added = vec![new_soa.clone()];
    for c in changes {
        removed.extend(c.removed);
        added.extend(c.added);
    }
    Ok(WindowChange {
        changeset: Changeset {
            from_serial: current.serial(),
            to_serial,
            removed,
            added,
        },
        file_soa: new_soa,
        warnings,
    })
}

/// Equal as multisets of (RDATA, TTL): the RRset is untouched, whatever the order or the
/// case of the owner (neither of which a full reload's diff looks at).
fn same_records(a: &[Record], b: &[Record]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut count: HashMap<(&RData, u32), isize> = HashMap::new();
    for r in a {
        *count.entry((&r.data, r.ttl)).or_default() += 1;
    }
    for r in b {
        *count.entry((&r.data, r.ttl)).or_default() -= 1;
    }
    count.values().all(|c| *c == 0)
}

/// The SOA may only be replaced in place: one out (the file's), one in, at the apex.
fn soa_edit(
    key: &Key,
    apex: &LowerName,
    file_soa: &Record,
    old: Vec<Record>,
    mut new: Vec<Record>,
) -> Result<Record, Fallback> {
    let replaced = key.0 == *apex
        && matches!(old.as_slice(), [o] if o.data == file_soa.data && o.ttl == file_soa.ttl)
        && new.len() == 1;
    match new.pop() {
        Some(soa) if replaced => Ok(soa),
        _ => Err(Fallback::Soa),
    }
}

/// The change to one RRset (not SOA, NS, DNAME or RRSIG), given its records in the old
/// and the new window.
fn rrset_change(
    current: &Zone,
    key: Key,
    old: &[Record],
    new: Vec<Record>,
) -> Result<Change, Fallback> {
    let name = || key.0.clone().into();
    let zset: Option<&RRset> = current
        .node(&key.0)
        .and_then(|n| n.get(key.1))
        .map(AsRef::as_ref);
    let empty = Vec::new();
    let (zrdata, zttl) = zset.map_or((&empty, 0), |s| (&s.rdata, s.ttl));
    let in_old: HashSet<&RData> = old.iter().map(|r| &r.data).collect();
    if old
        .iter()
        .any(|r| r.ttl != zttl || !zrdata.contains(&r.data))
        || in_old.len() != old.len()
    {
        return Err(Fallback::Inconsistent(
            "the old lines hold records the zone does not",
        ));
    }
    // The RRset's records written elsewhere in the file, which stay.
    let outside: HashSet<&RData> = zrdata.iter().filter(|rd| !in_old.contains(rd)).collect();
    let mut in_new: HashSet<&RData> = HashSet::with_capacity(new.len());
    for r in &new {
        if !in_new.insert(&r.data) || outside.contains(&r.data) {
            return Err(Fallback::Duplicate(key.1, name()));
        }
    }
    let ttl = match new.first() {
        _ if !outside.is_empty() => zttl,
        Some(first) => first.ttl,
        None => zttl,
    };
    if new.iter().any(|r| r.ttl != ttl) {
        return Err(Fallback::MixedTtl(key.1, name()));
    }
    let count = outside.len() + new.len();
    if key.1 == RecordType::CNAME && count > 1 {
        return Err(Fallback::Check(format!(
            "multiple CNAME records at {}",
            name()
        )));
    }
    let Some(zset) = zset else {
        return Ok(Change {
            key,
            removed: Vec::new(),
            added: new_records(new, None),
            exists: true,
        });
    };
    let (removed, added) = if count == 0 || ttl != zset.ttl {
        (zset.records().collect(), new_records(new, None))
    } else {
        let removed = zset
            .records()
            .filter(|r| !in_new.contains(&r.data) && !outside.contains(&r.data))
            .collect();
        let zrd: HashSet<&RData> = zrdata.iter().collect();
        let added: Vec<Record> = new.into_iter().filter(|r| !zrd.contains(&r.data)).collect();
        // A full reload names added records after the new RRset's first record: ours when
        // the whole RRset is in the window, otherwise most likely the served one's.
        let owner = (!outside.is_empty()).then_some(zset);
        (removed, new_records(added, owner))
    };
    Ok(Change {
        key,
        removed,
        added,
        exists: count > 0,
    })
}

/// Added records carry one owner spelling, the RRset's, as a full reload's diff gives.
fn new_records(mut recs: Vec<Record>, owner: Option<&RRset>) -> Vec<Record> {
    let name = match (owner, recs.first()) {
        (Some(set), _) => set.name.clone(),
        (None, Some(first)) => first.name.clone(),
        (None, None) => return recs,
    };
    for r in &mut recs {
        r.name = name.clone();
    }
    recs
}

/// What `check` looks at across names, for the names the edit touches: data beside a
/// CNAME, data below a DNAME, data at or below a delegation (occluded or glue), and the
/// targets of NS records (their addresses, never a CNAME). Any of these falls back, so
/// that the full load reports it (or accepts it) exactly as it would.
fn cross_checks(
    current: &Zone,
    ns_targets: &HashSet<LowerName>,
    changes: &[Change],
) -> Result<(), Fallback> {
    let apex = current.origin_lower();
    let mut names: HashMap<&LowerName, Vec<&Change>> = HashMap::new();
    for c in changes {
        names.entry(&c.key.0).or_default().push(c);
    }
    for (name, cs) in names {
        let shown = || LowerName::clone(name).to_string();
        if ns_targets.contains(name) {
            return Err(Fallback::Check(format!("{} is an NS target", shown())));
        }
        if cs.iter().all(|c| c.added.is_empty()) {
            continue;
        }
        let mut types: Vec<RecordType> = current
            .node(name)
            .map(|n| n.rrsets().iter().map(|s| s.rtype).collect())
            .unwrap_or_default();
        for c in &cs {
            types.retain(|t| *t != c.key.1);
            if c.exists {
                types.push(c.key.1);
            }
        }
        if types.contains(&RecordType::CNAME) && types.iter().any(|t| !cname_compatible(*t)) {
            return Err(Fallback::Check(format!(
                "CNAME and other data at {}",
                shown()
            )));
        }
        let mut cur = LowerName::clone(name);
        let mut first = true;
        while cur.num_labels() > apex.num_labels() {
            let node = current.node(&cur);
            if node.is_some_and(|n| n.get(RecordType::NS).is_some()) {
                return Err(Fallback::Check(format!(
                    "{} is at or below the delegation {cur}",
                    shown()
                )));
            }
            if !first && node.is_some_and(|n| n.get(RecordType::DNAME).is_some()) {
                return Err(Fallback::Check(format!("{} is below a DNAME", shown())));
            }
            first = false;
            cur = cur.base_name();
        }
        let apex_dname = current.apex().get(RecordType::DNAME).is_some();
        if apex_dname && name != apex {
            return Err(Fallback::Check(format!("{} is below a DNAME", shown())));
        }
    }
    Ok(())
}
