//! Applying a changeset to a version: the next version shares every shard the changeset
//! does not touch.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use hickory_proto::rr::{DNSClass, LowerName, RData, Record, RecordType};

use super::super::nodes::{NodeMap, link_to_parent};
use super::super::wire_key::WireKey;
use super::super::{Node, RRset, Zone};
use super::{Changeset, DiffError};

/// Applies `cs` to `zone`, giving the next version. Every removed record must be present
/// and every added record absent (RDATA compared, TTL ignored for removals); otherwise the
/// history is inconsistent and nothing is applied.
pub fn apply(zone: &Zone, cs: &Changeset) -> Result<Zone, DiffError> {
    let origin = zone.origin();
    let malformed = |reason: &str| DiffError::Malformed {
        zone: origin.clone(),
        reason: reason.to_string(),
    };
    if cs.from_serial != zone.serial {
        return Err(DiffError::SerialMismatch {
            zone: origin.clone(),
            expected: zone.serial,
            found: cs.from_serial,
        });
    }
    let (old_soa, new_soa) = cs
        .soas()
        .ok_or_else(|| malformed("missing the old or new SOA"))?;
    match (&old_soa.data, &new_soa.data) {
        (RData::SOA(o), RData::SOA(n))
            if o.serial == cs.from_serial && n.serial == cs.to_serial => {}
        _ => {
            return Err(malformed(
                "the leading records are not SOAs matching its serials",
            ));
        }
    }
    if LowerName::new(&new_soa.name) != zone.origin_lower
        || LowerName::new(&old_soa.name) != zone.origin_lower
    {
        return Err(malformed("the SOA is not at the zone apex"));
    }
    if zone.soa().rdata.first() != Some(&old_soa.data) {
        return Err(DiffError::MissingRecord {
            zone: origin.clone(),
            record: old_soa.to_string(),
        });
    }

    // Group the rest per RRset so each touched RRset is rebuilt once.
    type Edits<'r> = (Vec<&'r Record>, Vec<&'r Record>);
    let mut edits: HashMap<(LowerName, RecordType), Edits<'_>> = HashMap::new();
    for rec in cs.removed.iter().skip(1) {
        check_record(zone, rec)?;
        edits
            .entry((LowerName::new(&rec.name), rec.record_type()))
            .or_default()
            .0
            .push(rec);
    }
    for rec in cs.added.iter().skip(1) {
        check_record(zone, rec)?;
        edits
            .entry((LowerName::new(&rec.name), rec.record_type()))
            .or_default()
            .1
            .push(rec);
    }

    let mut nodes = zone.nodes.clone();
    let mut record_count = zone.record_count as isize;
    let mut emptied: Vec<LowerName> = Vec::new();
    let mut created: Vec<LowerName> = Vec::new();

    for ((name, rtype), (rem, add)) in edits {
        let existing = nodes.get(&name).and_then(|n| n.get(rtype)).cloned();
        let mut set = match existing {
            Some(s) => (*s).clone(),
            None => RRset {
                name: add
                    .first()
                    .map_or_else(|| name.clone().into(), |r| r.name.clone()),
                rtype,
                ttl: 0,
                rdata: Vec::new(),
            },
        };
        for r in rem {
            match set.rdata.iter().position(|rd| *rd == r.data) {
                Some(pos) => {
                    set.rdata.remove(pos);
                    record_count -= 1;
                }
                None => {
                    return Err(DiffError::MissingRecord {
                        zone: origin.clone(),
                        record: r.to_string(),
                    });
                }
            }
        }
        for a in add {
            if set.rdata.contains(&a.data) {
                return Err(DiffError::DuplicateRecord {
                    zone: origin.clone(),
                    record: a.to_string(),
                });
            }
            if set.rdata.is_empty() {
                set.name = a.name.clone();
            }
            // An added record's TTL becomes the RRset's (RFC 2181 §5.2 allows one TTL).
            set.ttl = a.ttl;
            set.rdata.push(a.data.clone());
            record_count += 1;
        }

        if !nodes.contains_key(&name) {
            if set.rdata.is_empty() {
                continue;
            }
            created.push(name.clone());
            nodes.insert(name.clone(), Node::default());
        }
        let Some(node) = nodes.get_mut(&name) else {
            continue;
        };
        let pos = node.rrsets.iter().position(|s| s.rtype == rtype);
        match (pos, set.rdata.is_empty()) {
            (Some(p), true) => {
                node.rrsets.remove(p);
                if node.rrsets.is_empty() {
                    emptied.push(name);
                }
            }
            (Some(p), false) => node.rrsets[p] = Arc::new(set),
            (None, false) => node.rrsets.push(Arc::new(set)),
            (None, true) => {}
        }
    }

    let apex_labels = usize::from(zone.origin_lower.num_labels());
    for name in created {
        if let Some(key) = WireKey::new(&name) {
            link_to_parent(&mut nodes, &key, apex_labels);
        }
    }
    if !emptied.is_empty() {
        prune_empty_leaves(&mut nodes, emptied, &zone.origin_lower);
    }

    let serial = cs.to_serial;
    let mut soa_set = (**zone.soa()).clone();
    soa_set.name = new_soa.name.clone();
    soa_set.ttl = new_soa.ttl;
    soa_set.rdata = vec![new_soa.data.clone()];
    if let Some(apex) = nodes.get_mut(&zone.origin_lower)
        && let Some(s) = apex.rrsets.iter_mut().find(|s| s.rtype == RecordType::SOA)
    {
        *s = Arc::new(soa_set);
    }

    Ok(Zone {
        origin: zone.origin.clone(),
        origin_lower: zone.origin_lower.clone(),
        nodes,
        serial,
        record_count: record_count.max(0) as usize,
        derived: OnceLock::new(),
    })
}

fn check_record(zone: &Zone, rec: &Record) -> Result<(), DiffError> {
    let malformed = |reason: String| DiffError::Malformed {
        zone: zone.origin().clone(),
        reason,
    };
    if rec.record_type() == RecordType::SOA {
        return Err(malformed(format!("an SOA inside the changeset: {rec}")));
    }
    if rec.dns_class != DNSClass::IN {
        return Err(malformed(format!("class {} in {rec}", rec.dns_class)));
    }
    if !zone.origin_lower.zone_of(&LowerName::new(&rec.name)) {
        return Err(malformed(format!("{} is out of zone", rec.name)));
    }
    Ok(())
}

/// Removes nodes left without data and without children, and then any empty
/// non-terminal that existed only for them.
fn prune_empty_leaves(nodes: &mut NodeMap, emptied: Vec<LowerName>, apex: &LowerName) {
    for name in emptied {
        let mut cur = name;
        while cur.num_labels() > apex.num_labels()
            && nodes
                .get(&cur)
                .is_some_and(|n| n.rrsets.is_empty() && n.children == 0)
        {
            nodes.remove(&cur);
            let parent = cur.base_name();
            if let Some(p) = nodes.get_mut(&parent) {
                p.children = p.children.saturating_sub(1);
            }
            cur = parent;
        }
    }
}
