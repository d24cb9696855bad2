//! Semantic checks of a parsed zone, as named-checkzone makes them. Each finding points
//! at the record that causes it. Out-of-zone records are dropped with a warning (BIND:
//! "ignoring out-of-zone data") and TTLs within an RRset are unified to the first one
//! (RFC 2181 §5.2, BIND: "TTL set to prior TTL").
//!
//! Each owner name is hashed once, as lower-cased wire bytes, into one table of names
//! that records what every later rule needs (its types, the first record of each, the
//! TTLs); the names themselves are never copied, since the first record of each name
//! stands for it. A million-record zone is checked in a fraction of a second.

use hashbrown::HashTable;
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use smallvec::SmallVec;

use super::load::{Diagnostic, ParsedRecord, Severity};
use super::wire_key::{self, WireKey};

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

/// One RRset of a name (RRSIGs: one per covered type, as their TTLs may differ).
#[derive(Clone, Copy)]
struct SetInfo {
    rtype: RecordType,
    covered: u16,
    /// Index of the RRset's first record.
    first: u32,
    ttl: u32,
}

#[derive(Default)]
struct NameInfo {
    /// Index of the first record with this owner: it stands for the name.
    rec: u32,
    sets: SmallVec<[SetInfo; 2]>,
    cut: bool,
    dname: bool,
    ns_target: bool,
}

impl NameInfo {
    fn first_of(&self, t: RecordType) -> Option<u32> {
        self.sets.iter().find(|s| s.rtype == t).map(|s| s.first)
    }
    fn has(&self, t: RecordType) -> bool {
        self.sets.iter().any(|s| s.rtype == t)
    }
}

/// The owner names of the zone's records, each once.
struct Names<'r> {
    recs: &'r [&'r ParsedRecord],
    table: HashTable<u32>,
    info: Vec<NameInfo>,
}

impl Names<'_> {
    fn find(&self, wire: &[u8]) -> Option<usize> {
        let h = wire_key::hash(wire);
        let id = self.table.find(h, |&id| self.eq(id, wire))?;
        Some(*id as usize)
    }

    fn eq(&self, id: u32, wire: &[u8]) -> bool {
        let rec = self.info.get(id as usize).map_or(0, |n| n.rec as usize);
        self.recs
            .get(rec)
            .is_some_and(|r| wire_key::eq_name(&r.record.name, wire))
    }

    fn name(&self, id: usize) -> Option<&Name> {
        let info = self.info.get(id)?;
        Some(&self.recs.get(info.rec as usize)?.record.name)
    }

    /// The closest strict ancestor of `key` below the apex whose info matches `pick`.
    fn ancestor(
        &self,
        key: &WireKey,
        apex_labels: usize,
        pick: fn(&NameInfo) -> bool,
    ) -> Option<usize> {
        (apex_labels + 1..key.labels())
            .rev()
            .filter_map(|k| self.find(key.suffix(k)))
            .find(|&id| self.info.get(id).is_some_and(pick))
    }
}

/// The covered type of an RRSIG, whose TTL is that of the RRset it covers (RFC 4034 §3),
/// so RRSIGs of different covered types may differ.
fn covered(rec: &Record) -> u16 {
    match rec.record_type() {
        RecordType::RRSIG => super::load::wire::encode(&rec.data)
            .and_then(|b| Some(u16::from_be_bytes([*b.first()?, *b.get(1)?])))
            .unwrap_or(0),
        _ => 0,
    }
}

/// Whether `name` is at or below the apex given as lower-cased wire bytes.
fn in_zone(name: &Name, apex_labels: usize, apex_wire: &[u8]) -> bool {
    WireKey::new(name)
        .is_some_and(|k| k.labels() >= apex_labels && k.suffix(apex_labels) == apex_wire)
}

/// Checks the records and returns them as the zone is made of: out-of-zone records
/// dropped, TTLs within an RRset unified.
pub fn check(origin: &Name, parsed: Vec<ParsedRecord>, file_label: &str) -> CheckOutput {
    let Findings {
        diagnostics,
        ttl_fixes,
    } = findings(origin, &parsed, file_label);
    let origin_key = WireKey::new(origin);
    let apex_labels = origin_key.as_ref().map_or(0, WireKey::labels);
    let apex_wire: &[u8] = origin_key.as_ref().map_or(&[0], WireKey::bytes);
    let mut recs = parsed;
    recs.retain(|pr| in_zone(&pr.record.name, apex_labels, apex_wire));
    for (i, ttl) in ttl_fixes {
        if let Some(r) = recs.get_mut(i) {
            r.record.ttl = ttl;
        }
    }
    CheckOutput {
        records: recs.into_iter().map(|r| r.record).collect(),
        diagnostics,
    }
}

/// What [`findings`] reports.
pub struct Findings {
    pub diagnostics: Vec<Diagnostic>,
    /// (position among the in-zone records, the RRset's first TTL) for each record whose
    /// TTL is set to its RRset's.
    pub ttl_fixes: Vec<(usize, u32)>,
}

/// The checks alone, reading the records in place: a loader can build the version from
/// the same records meanwhile (which takes each RRset's first TTL itself).
pub fn findings(origin: &Name, parsed: &[ParsedRecord], file_label: &str) -> Findings {
    let origin_l = LowerName::new(origin);
    let origin_key = WireKey::new(origin);
    let apex_labels = origin_key.as_ref().map_or(0, WireKey::labels);
    let apex_wire: &[u8] = origin_key.as_ref().map_or(&[0], WireKey::bytes);
    let mut diags: Vec<(usize, Diagnostic)> = Vec::new();

    // Out-of-zone records go first; indices below count the records that stay.
    let mut recs: Vec<&ParsedRecord> = Vec::with_capacity(parsed.len());
    for pr in parsed {
        if in_zone(&pr.record.name, apex_labels, apex_wire) {
            recs.push(pr);
        } else {
            diags.push((recs.len(), out_of_zone(pr)));
        }
    }

    // Per name: its RRsets with their first record and TTL.
    let mut ids: Vec<u32> = Vec::with_capacity(recs.len());
    let mut names = Names {
        recs: &recs,
        table: HashTable::with_capacity(recs.len()),
        info: Vec::with_capacity(recs.len()),
    };
    let mut ttl_fixes: Vec<(usize, u32)> = Vec::new();
    for (i, r) in recs.iter().enumerate() {
        let Some(key) = WireKey::new(&r.record.name) else {
            ids.push(u32::MAX);
            continue;
        };
        let h = wire_key::hash(key.bytes());
        let id = match names.find(key.bytes()) {
            Some(id) => id,
            None => {
                let id = names.info.len();
                names.table.insert_unique(h, id as u32, |_| h);
                names.info.push(NameInfo {
                    rec: i as u32,
                    ..NameInfo::default()
                });
                id
            }
        };
        ids.push(id as u32);
        let Some(info) = names.info.get_mut(id) else {
            continue;
        };
        let rtype = r.record.record_type();
        let cov = covered(&r.record);
        match info
            .sets
            .iter()
            .find(|s| s.rtype == rtype && s.covered == cov)
        {
            Some(s) if r.record.ttl != s.ttl => {
                let ttl = s.ttl;
                let d = r.diagnostic(Severity::Warning, format!("{PRIOR_TTL} ({ttl})"));
                diags.push((i, d));
                ttl_fixes.push((i, ttl));
            }
            Some(_) => {}
            None => {}
        }
        match info.first_of(rtype) {
            Some(f) => {
                // Singleton types; an exact duplicate is merely dropped later.
                let singleton = matches!(
                    rtype,
                    RecordType::CNAME | RecordType::DNAME | RecordType::SOA
                );
                if singleton
                    && recs
                        .get(f as usize)
                        .is_some_and(|first| first.record.data != r.record.data)
                {
                    let d = r.diagnostic(
                        Severity::Error,
                        format!("multiple {rtype} records at {}", r.record.name),
                    );
                    diags.push((i, d));
                }
            }
            None => {
                let conflict = if rtype == RecordType::CNAME {
                    info.sets.iter().any(|s| !cname_compatible(s.rtype))
                } else {
                    !cname_compatible(rtype) && info.has(RecordType::CNAME)
                };
                if conflict {
                    diags.push((i, r.diagnostic(Severity::Error, "CNAME and other data")));
                }
            }
        }
        if !info
            .sets
            .iter()
            .any(|s| s.rtype == rtype && s.covered == cov)
        {
            info.sets.push(SetInfo {
                rtype,
                covered: cov,
                first: i as u32,
                ttl: r.record.ttl,
            });
        }
    }

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
    let apex = names.find(apex_wire);
    let apex_info = apex.and_then(|a| names.info.get(a));
    let soa_at = apex_info
        .and_then(|n| n.first_of(RecordType::SOA))
        .map(|f| f as usize);
    if soa_at.is_none() {
        let mut d = anchor(if recs.is_empty() { None } else { Some(0) });
        d.message = "no SOA record at the zone apex".into();
        diags.push((0, d));
    } else if !apex_info.is_some_and(|n| n.has(RecordType::NS)) {
        let mut d = anchor(soa_at);
        d.message = "no NS records at the zone apex".into();
        diags.push((soa_at.unwrap_or(0), d));
    }

    // Zone cuts, DNAMEs, and which names are NS targets.
    let (mut any_cut, mut any_dname) = (false, false);
    for (id, info) in names.info.iter_mut().enumerate() {
        info.cut = Some(id) != apex && info.has(RecordType::NS);
        info.dname = info.has(RecordType::DNAME);
        any_cut |= info.cut;
        any_dname |= info.dname;
    }
    let mut targets = Vec::new();
    for r in &recs {
        if let RData::NS(ns) = &r.record.data
            && let Some(key) = WireKey::new(&ns.0)
            && let Some(id) = names.find(key.bytes())
        {
            targets.push(id);
        }
    }
    for id in targets {
        if let Some(info) = names.info.get_mut(id) {
            info.ns_target = true;
        }
    }
    let dname_apex = apex
        .and_then(|a| names.info.get(a))
        .is_some_and(|n| n.dname);
    let lower = |id: usize| names.name(id).map(LowerName::new);

    for (i, r) in recs.iter().enumerate() {
        let rtype = r.record.record_type();
        let id = ids.get(i).map_or(usize::MAX, |&id| id as usize);
        let at_apex = Some(id) == apex;
        let info = names.info.get(id);
        let is_ns = matches!(r.record.data, RData::NS(_));
        let key = (any_dname || any_cut || is_ns)
            .then(|| WireKey::new(&r.record.name))
            .flatten();
        let ancestor = |pick: fn(&NameInfo) -> bool| {
            key.as_ref()
                .and_then(|k| names.ancestor(k, apex_labels, pick))
        };
        if any_dname {
            let d = ancestor(|n| n.dname)
                .and_then(lower)
                .or_else(|| (dname_apex && !at_apex).then(|| origin_l.clone()));
            if let Some(d) = d {
                diags.push((
                    i,
                    r.diagnostic(Severity::Error, format!("data below DNAME at {d}")),
                ));
            }
        }
        if rtype == RecordType::SOA && !at_apex {
            diags.push((
                i,
                r.diagnostic(Severity::Error, "SOA record not at top of zone"),
            ));
        }
        let is_cut = info.is_some_and(|n| n.cut);
        if any_cut {
            let cut = ancestor(|n| n.cut).or((is_cut && !parent_side(rtype)).then_some(id));
            if let Some(cut) = cut.and_then(lower)
                && !(is_address(rtype) && info.is_some_and(|n| n.ns_target))
                && !(rtype == RecordType::NS && is_cut)
            {
                let msg = format!("occluded data below delegation at {cut} (not glue)");
                diags.push((i, r.diagnostic(Severity::Warning, msg)));
            }
        }
        if let RData::NS(ns) = &r.record.data {
            check_ns_target(&names, r, &ns.0, is_cut, apex_labels, apex_wire)
                .into_iter()
                .for_each(|d| diags.push((i, d)));
        }
    }

    diags.sort_by_key(|(i, _)| *i);
    Findings {
        diagnostics: diags.into_iter().map(|(_, d)| d).collect(),
        ttl_fixes,
    }
}

/// The NS rules: a target in the zone must not be a CNAME, and must have addresses when
/// it is in-bailiwick of its own delegation or authoritative data of this zone (targets
/// below another cut are that child's business).
fn check_ns_target(
    names: &Names<'_>,
    r: &ParsedRecord,
    target: &Name,
    owner_is_cut: bool,
    apex_labels: usize,
    apex_wire: &[u8],
) -> Option<Diagnostic> {
    let key = WireKey::new(target)?;
    if key.labels() < apex_labels || key.suffix(apex_labels) != apex_wire {
        return None;
    }
    let info = names.find(key.bytes()).and_then(|id| names.info.get(id));
    let target_cut =
        info.is_some_and(|n| n.cut) || names.ancestor(&key, apex_labels, |n| n.cut).is_some();
    let required = !target_cut || (owner_is_cut && r.record.name.zone_of(target));
    let has = |t| info.is_some_and(|n| n.has(t));
    let owner = &r.record.name;
    if !target_cut && has(RecordType::CNAME) {
        let msg = format!("{owner}/NS '{target}' is a CNAME (illegal)");
        Some(r.diagnostic(Severity::Error, msg))
    } else if required && !has(RecordType::A) && !has(RecordType::AAAA) {
        let msg = format!("{owner}/NS '{target}' has no address records (A or AAAA)");
        Some(r.diagnostic(Severity::Error, msg))
    } else {
        None
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
