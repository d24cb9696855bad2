//! Semantic checks of a parsed zone, as named-checkzone makes them. Each finding points
//! at the record that causes it. Out-of-zone records are dropped with a warning (BIND:
//! "ignoring out-of-zone data") and TTLs within an RRset are unified to the first one
//! (RFC 2181 §5.2, BIND: "TTL set to prior TTL").

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

use super::load::{Diagnostic, ParsedRecord, Severity};

/// The records that make the zone, and every finding.
#[derive(Debug, Clone, Default)]
pub struct CheckOutput {
    pub records: Vec<Record>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Types allowed beside a CNAME (RFC 2181 §10.1, RFC 4035 §2.5).
pub(crate) fn cname_compatible(t: RecordType) -> bool {
    matches!(t, RecordType::CNAME | RecordType::RRSIG | RecordType::NSEC)
}

/// Types that belong at a delegation point in the parent (RFC 4035 §2.4).
fn parent_side(t: RecordType) -> bool {
    matches!(
        t,
        RecordType::NS | RecordType::DS | RecordType::NSEC | RecordType::RRSIG
    )
}

fn is_address(t: RecordType) -> bool {
    matches!(t, RecordType::A | RecordType::AAAA)
}

/// How the TTL unification warning starts: a reload that keeps state needs to know
/// whether the file mixes TTLs within an RRset.
pub(crate) const PRIOR_TTL: &str = "TTL set to prior TTL";

/// The warning for a record outside the zone, which is dropped.
pub(crate) fn out_of_zone(pr: &ParsedRecord) -> Diagnostic {
    let msg = format!("ignoring out-of-zone data ({})", pr.record.name);
    pr.diagnostic(Severity::Warning, msg)
}

pub fn check(origin: &Name, parsed: Vec<ParsedRecord>, file_label: &str) -> CheckOutput {
    let origin_l = LowerName::new(origin);
    let mut diags: Vec<(usize, Diagnostic)> = Vec::new();
    let mut recs: Vec<ParsedRecord> = Vec::with_capacity(parsed.len());

    for pr in parsed {
        if origin_l.zone_of(&LowerName::new(&pr.record.name)) {
            recs.push(pr);
        } else {
            diags.push((recs.len(), out_of_zone(&pr)));
        }
    }

    // Per-RRset first record and TTL; per-name types.
    let mut first: HashMap<(LowerName, RecordType), usize> = HashMap::new();
    let mut ttls: HashMap<(LowerName, RecordType, u16), u32> = HashMap::new();
    let mut types: HashMap<LowerName, Vec<RecordType>> = HashMap::new();
    let mut names: Vec<LowerName> = Vec::with_capacity(recs.len());
    for i in 0..recs.len() {
        let name = LowerName::new(&recs[i].record.name);
        let rtype = recs[i].record.record_type();
        names.push(name.clone());
        // RFC 4034 §3: an RRSIG's TTL is that of the RRset it covers, so RRSIGs of
        // different covered types may differ.
        let covered = match rtype {
            RecordType::RRSIG => super::load::wire::encode(&recs[i].record.data)
                .and_then(|b| Some(u16::from_be_bytes([*b.first()?, *b.get(1)?])))
                .unwrap_or(0),
            _ => 0,
        };
        match ttls.entry((name.clone(), rtype, covered)) {
            Entry::Occupied(o) => {
                let ttl = *o.get();
                if recs[i].record.ttl != ttl {
                    let d = recs[i].diagnostic(Severity::Warning, format!("{PRIOR_TTL} ({ttl})"));
                    diags.push((i, d));
                    recs[i].record.ttl = ttl;
                }
            }
            Entry::Vacant(v) => {
                v.insert(recs[i].record.ttl);
            }
        }
        match first.get(&(name.clone(), rtype)) {
            Some(&f) => {
                // Singleton types; an exact duplicate is merely dropped later.
                let singleton = matches!(
                    rtype,
                    RecordType::CNAME | RecordType::DNAME | RecordType::SOA
                );
                if singleton && recs[f].record.data != recs[i].record.data {
                    let d = recs[i].diagnostic(
                        Severity::Error,
                        format!("multiple {rtype} records at {}", recs[i].record.name),
                    );
                    diags.push((i, d));
                }
            }
            None => {
                first.insert((name.clone(), rtype), i);
                let ts = types.entry(name.clone()).or_default();
                let conflict = if rtype == RecordType::CNAME {
                    ts.iter().any(|t| !cname_compatible(*t))
                } else {
                    !cname_compatible(rtype) && ts.contains(&RecordType::CNAME)
                };
                if conflict {
                    diags.push((
                        i,
                        recs[i].diagnostic(Severity::Error, "CNAME and other data"),
                    ));
                }
                ts.push(rtype);
            }
        }
    }
    let has = |n: &LowerName, t: RecordType| first.contains_key(&(n.clone(), t));

    // SOA and NS at the apex.
    let anchor = |i: Option<usize>| -> Diagnostic {
        match i.and_then(|i| recs.get(i)) {
            Some(r) => r.diagnostic(Severity::Error, ""),
            None => Diagnostic {
                file: file_label.to_string(),
                line: 1,
                column: 1,
                text: origin.to_string(),
                message: String::new(),
                severity: Severity::Error,
            },
        }
    };
    let soa_at = first.get(&(origin_l.clone(), RecordType::SOA)).copied();
    if soa_at.is_none() {
        let mut d = anchor(if recs.is_empty() { None } else { Some(0) });
        d.message = "no SOA record at the zone apex".into();
        diags.push((0, d));
    } else if !has(&origin_l, RecordType::NS) {
        let mut d = anchor(soa_at);
        d.message = "no NS records at the zone apex".into();
        diags.push((soa_at.unwrap_or(0), d));
    }

    // Zone cuts, DNAMEs, and which names are NS targets.
    let cuts: HashSet<LowerName> = types
        .iter()
        .filter(|(n, ts)| **n != origin_l && ts.contains(&RecordType::NS))
        .map(|(n, _)| n.clone())
        .collect();
    let dnames: HashSet<LowerName> = types
        .iter()
        .filter(|(_, ts)| ts.contains(&RecordType::DNAME))
        .map(|(n, _)| n.clone())
        .collect();
    let ns_targets: HashSet<LowerName> = recs
        .iter()
        .filter_map(|r| match &r.record.data {
            RData::NS(ns) => Some(LowerName::new(&ns.0)),
            _ => None,
        })
        .collect();
    // The closest strict ancestor of `n` (below the apex) that is in `set`.
    let ancestor_in = |n: &LowerName, set: &HashSet<LowerName>| -> Option<LowerName> {
        let mut cur = n.clone();
        while cur.num_labels() > origin_l.num_labels() {
            cur = cur.base_name();
            if set.contains(&cur) && cur != origin_l {
                return Some(cur);
            }
        }
        None
    };
    let dname_apex = dnames.contains(&origin_l);

    for (i, r) in recs.iter().enumerate() {
        let name = &names[i];
        let rtype = r.record.record_type();
        if let Some(d) = ancestor_in(name, &dnames)
            .or_else(|| (dname_apex && *name != origin_l).then(|| origin_l.clone()))
        {
            diags.push((
                i,
                r.diagnostic(Severity::Error, format!("data below DNAME at {d}")),
            ));
        }
        if rtype == RecordType::SOA && *name != origin_l {
            diags.push((
                i,
                r.diagnostic(Severity::Error, "SOA record not at top of zone"),
            ));
        }
        let cut = ancestor_in(name, &cuts)
            .or_else(|| (cuts.contains(name) && !parent_side(rtype)).then(|| name.clone()));
        if let Some(cut) = cut
            && !(is_address(rtype) && ns_targets.contains(name))
            && !(rtype == RecordType::NS && cuts.contains(name))
        {
            let msg = format!("occluded data below delegation at {cut} (not glue)");
            diags.push((i, r.diagnostic(Severity::Warning, msg)));
        }
        if let RData::NS(ns) = &r.record.data {
            let target = LowerName::new(&ns.0);
            if !origin_l.zone_of(&target) {
                continue;
            }
            // In-bailiwick of its own delegation, or authoritative data of this zone:
            // the addresses must be here. Targets below another cut are that child's.
            let target_cut = if cuts.contains(&target) {
                Some(target.clone())
            } else {
                ancestor_in(&target, &cuts)
            };
            let required = match &target_cut {
                None => true,
                Some(_) => cuts.contains(name) && name.zone_of(&target),
            };
            if target_cut.is_none() && has(&target, RecordType::CNAME) {
                let msg = format!("{}/NS '{}' is a CNAME (illegal)", r.record.name, ns.0);
                diags.push((i, r.diagnostic(Severity::Error, msg)));
            } else if required && !has(&target, RecordType::A) && !has(&target, RecordType::AAAA) {
                let msg = format!(
                    "{}/NS '{}' has no address records (A or AAAA)",
                    r.record.name, ns.0
                );
                diags.push((i, r.diagnostic(Severity::Error, msg)));
            }
        }
    }

    diags.sort_by_key(|(i, _)| *i);
    CheckOutput {
        records: recs.into_iter().map(|r| r.record).collect(),
        diagnostics: diags.into_iter().map(|(_, d)| d).collect(),
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
