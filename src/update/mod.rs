//! RFC 2136 dynamic UPDATE, sans-IO: an UPDATE message and the zone's current version
//! in, the RCODE and (when something changed) the next version's records and the diff
//! out. The caller commits the diff to the journal, publishes the version, answers, and
//! sends NOTIFY; this module never touches a socket, a clock or a file.
//!
//! Order of the checks, as BIND and Knot do it: the zone section (FORMERR, NOTAUTH), then
//! `allow-update` (REFUSED, before any prerequisite so an unauthorised client learns
//! nothing about the zone), then the prerequisites (RFC 2136 §3.2), then a prescan of the
//! whole update section (§3.4.1) so a malformed update changes nothing, then the update
//! itself (§3.4.2) on a private copy: all or nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::SystemTime;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};

mod acl;

pub use acl::{AclRule, Cidr, UpdateAcl};

use crate::serial::SerialPolicy;
use crate::zone::Zone;
use crate::zone::diff::{Changeset, apply};
use crate::zone::file_edit::{
    EditError, PlannedEdit, RRsetEdit, SerialMode, ZoneEditor, edit_serial, increment_serial,
};

/// The three sections of an UPDATE (RFC 2136 §2): zone, prerequisites, updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateRequest {
    pub zone: Name,
    pub prerequisites: Vec<Record>,
    pub updates: Vec<Record>,
}

/// Reads the sections of an UPDATE message. Only the form is checked here (§3.1.1).
pub fn parse_request(msg: &Message) -> Result<UpdateRequest, ResponseCode> {
    if msg.metadata.op_code != OpCode::Update {
        return Err(ResponseCode::NotImp);
    }
    let [zone] = msg.queries.as_slice() else {
        return Err(ResponseCode::FormErr);
    };
    if zone.query_type() != RecordType::SOA {
        return Err(ResponseCode::FormErr);
    }
    if zone.query_class() != DNSClass::IN {
        // Only class IN zones are served, so this is a zone we are not authoritative for.
        return Err(ResponseCode::NotAuth);
    }
    Ok(UpdateRequest {
        zone: zone.name().clone(),
        prerequisites: msg.answers.clone(),
        updates: msg.authorities.clone(),
    })
}

/// A successful update that changed the zone.
#[derive(Debug, Clone)]
pub struct AppliedUpdate {
    pub from_serial: u32,
    pub to_serial: u32,
    pub old_soa: Record,
    pub new_soa: Record,
    /// Records removed and added, SOA excluded; a TTL change removes and re-adds.
    pub removed: Vec<Record>,
    pub added: Vec<Record>,
    /// Every RRset whose content changed (SOA included), for writing back to the file.
    pub touched: Vec<(Name, RecordType)>,
    /// The next version of the zone.
    pub zone: Zone,
}

impl AppliedUpdate {
    /// The update in IXFR shape, ready for the journal.
    pub fn changeset(&self) -> Changeset {
        ixfr_shape(
            self.from_serial,
            self.to_serial,
            &self.old_soa,
            &self.new_soa,
            &self.removed,
            &self.added,
        )
    }
}

fn ixfr_shape(
    from_serial: u32,
    to_serial: u32,
    old_soa: &Record,
    new_soa: &Record,
    removed: &[Record],
    added: &[Record],
) -> Changeset {
    Changeset {
        from_serial,
        to_serial,
        removed: std::iter::once(old_soa).chain(removed).cloned().collect(),
        added: std::iter::once(new_soa).chain(added).cloned().collect(),
    }
}

/// What became of an UPDATE: the RCODE to answer with, and the change if there was one
/// (a NOERROR update may change nothing, e.g. deleting an absent RRset).
#[derive(Debug, Clone)]
pub struct UpdateResult {
    pub rcode: ResponseCode,
    pub applied: Option<AppliedUpdate>,
}

impl UpdateResult {
    fn error(rcode: ResponseCode) -> Self {
        UpdateResult {
            rcode,
            applied: None,
        }
    }
}

/// The whole server-side decision for one UPDATE message. `zone` is the most specific
/// zone the caller serves for the zone section's name (None: not authoritative);
/// `verified_key` is the TSIG key name of a request whose signature checked out.
pub fn handle_update(
    msg: &Message,
    zone: Option<&Zone>,
    acl: &UpdateAcl,
    client: IpAddr,
    verified_key: Option<&Name>,
    policy: SerialPolicy,
    now: SystemTime,
) -> UpdateResult {
    let req = match parse_request(msg) {
        Ok(r) => r,
        Err(rcode) => return UpdateResult::error(rcode),
    };
    let Some(zone) = zone.filter(|z| *z.origin() == req.zone) else {
        return UpdateResult::error(ResponseCode::NotAuth);
    };
    if !acl.allows(client, verified_key) {
        return UpdateResult::error(ResponseCode::Refused);
    }
    match apply_update(zone, &req, policy, now) {
        Ok(applied) => UpdateResult {
            rcode: ResponseCode::NoError,
            applied,
        },
        Err(rcode) => UpdateResult::error(rcode),
    }
}

/// The answer to an UPDATE (RFC 2136 §3.8): the request's ID and zone section, and the
/// RCODE; the other sections stay empty. EDNS and TSIG are the caller's to add.
pub fn response(request: &Message, rcode: ResponseCode) -> Message {
    let mut m = Message::response(request.metadata.id, OpCode::Update);
    m.metadata.response_code = rcode;
    // A FORMERR may be about the zone section itself; echo it only when it has one entry.
    if request.queries.len() == 1 {
        m.queries = request.queries.clone();
    }
    m
}

/// Types that never name data in a zone (RFC 2136 §3.4.1.2, RFC 6895 §3.1).
fn is_meta(t: RecordType) -> bool {
    matches!(
        t,
        RecordType::ANY | RecordType::AXFR | RecordType::IXFR | RecordType::OPT | RecordType::TSIG
    ) || matches!(u16::from(t), 128..=255)
}

/// Types that may sit beside a CNAME (RFC 2181 §10.1, RFC 4035 §2.5).
fn cname_compatible(t: RecordType) -> bool {
    matches!(t, RecordType::CNAME | RecordType::RRSIG | RecordType::NSEC)
}

/// The zone as the update sees it: the current version plus the RRsets changed so far.
struct Work<'z> {
    zone: &'z Zone,
    /// (name, type) -> (owner as written, TTL, RDATA); empty RDATA is a deleted RRset.
    changed: HashMap<(LowerName, RecordType), (Name, u32, Vec<RData>)>,
    /// Changed keys in first-touched order, so the output is deterministic.
    order: Vec<(LowerName, RecordType)>,
}

impl<'z> Work<'z> {
    fn get(&self, name: &LowerName, t: RecordType) -> Option<(u32, &[RData])> {
        if let Some((_, ttl, rd)) = self.changed.get(&(name.clone(), t)) {
            return (!rd.is_empty()).then_some((*ttl, rd.as_slice()));
        }
        let set = self.zone.node(name)?.get(t)?;
        Some((set.ttl, set.rdata.as_slice()))
    }

    fn types_at(&self, name: &LowerName) -> Vec<RecordType> {
        let mut out: Vec<RecordType> = self
            .zone
            .node(name)
            .map(|n| n.rrsets().iter().map(|s| s.rtype).collect())
            .unwrap_or_default();
        for (_, t) in self.changed.keys().filter(|(n, _)| n == name) {
            if !out.contains(t) {
                out.push(*t);
            }
        }
        out.retain(|t| self.get(name, *t).is_some());
        out
    }

    fn put(&mut self, owner: &Name, t: RecordType, ttl: u32, rdata: Vec<RData>) {
        let key = (LowerName::new(owner), t);
        if !self.changed.contains_key(&key) {
            self.order.push(key.clone());
        }
        self.changed.insert(key, (owner.clone(), ttl, rdata));
    }
}

/// Applies an UPDATE to a zone. `Ok(None)`: NOERROR, but nothing changed.
pub fn apply_update(
    zone: &Zone,
    req: &UpdateRequest,
    policy: SerialPolicy,
    now: SystemTime,
) -> Result<Option<AppliedUpdate>, ResponseCode> {
    if *zone.origin() != req.zone {
        return Err(ResponseCode::NotAuth);
    }
    check_prerequisites(zone, &req.prerequisites)?;
    prescan(zone, &req.updates)?;
    let apex = zone.origin_lower().clone();
    let mut w = Work {
        zone,
        changed: HashMap::new(),
        order: Vec::new(),
    };
    for rr in &req.updates {
        apply_one(&mut w, &apex, rr);
    }
    finish(zone, w, policy, now)
}

/// RFC 2136 §3.2, on the zone as it is before any update.
fn check_prerequisites(zone: &Zone, prereqs: &[Record]) -> Result<(), ResponseCode> {
    let apex = zone.origin_lower();
    let w = Work {
        zone,
        changed: HashMap::new(),
        order: Vec::new(),
    };
    // Value-dependent RRset tests, collected and compared as whole RRsets (§3.2.5).
    let mut temp: Vec<((LowerName, RecordType), Vec<RData>)> = Vec::new();
    for rr in prereqs {
        if rr.ttl != 0 {
            return Err(ResponseCode::FormErr);
        }
        let name = LowerName::new(&rr.name);
        if !apex.zone_of(&name) {
            return Err(ResponseCode::NotZone);
        }
        let t = rr.record_type();
        let empty = matches!(rr.data, RData::Update0(_));
        match rr.dns_class {
            DNSClass::ANY => {
                if !empty {
                    return Err(ResponseCode::FormErr);
                }
                if t == RecordType::ANY {
                    if w.types_at(&name).is_empty() {
                        return Err(ResponseCode::NXDomain);
                    }
                } else if w.get(&name, t).is_none() {
                    return Err(ResponseCode::NXRRSet);
                }
            }
            DNSClass::NONE => {
                if !empty {
                    return Err(ResponseCode::FormErr);
                }
                if t == RecordType::ANY {
                    if !w.types_at(&name).is_empty() {
                        return Err(ResponseCode::YXDomain);
                    }
                } else if w.get(&name, t).is_some() {
                    return Err(ResponseCode::YXRRSet);
                }
            }
            DNSClass::IN => {
                if empty || is_meta(t) {
                    return Err(ResponseCode::FormErr);
                }
                let key = (name, t);
                match temp.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, v)) => {
                        if !v.contains(&rr.data) {
                            v.push(rr.data.clone());
                        }
                    }
                    None => temp.push((key, vec![rr.data.clone()])),
                }
            }
            _ => return Err(ResponseCode::FormErr),
        }
    }
    for ((name, t), want) in &temp {
        let have = w.get(name, *t).map(|(_, rd)| rd).unwrap_or_default();
        if have.len() != want.len() || !want.iter().all(|r| have.contains(r)) {
            return Err(ResponseCode::NXRRSet);
        }
    }
    Ok(())
}

/// RFC 2136 §3.4.1: the whole update section is checked before anything is applied.
fn prescan(zone: &Zone, updates: &[Record]) -> Result<(), ResponseCode> {
    let apex = zone.origin_lower();
    for rr in updates {
        if !apex.zone_of(&LowerName::new(&rr.name)) {
            return Err(ResponseCode::NotZone);
        }
        let t = rr.record_type();
        let empty = matches!(rr.data, RData::Update0(_));
        let ok = match rr.dns_class {
            DNSClass::IN => !is_meta(t) && !empty,
            DNSClass::ANY => rr.ttl == 0 && empty && (t == RecordType::ANY || !is_meta(t)),
            DNSClass::NONE => rr.ttl == 0 && !empty && !is_meta(t),
            _ => false,
        };
        if !ok {
            return Err(ResponseCode::FormErr);
        }
    }
    Ok(())
}

/// RFC 2136 §3.4.2 for one RR; the RFC's "ignore" cases change nothing.
fn apply_one(w: &mut Work<'_>, apex: &LowerName, rr: &Record) {
    let name = LowerName::new(&rr.name);
    let t = rr.record_type();
    let at_apex = name == *apex;
    match rr.dns_class {
        DNSClass::IN => {
            let types = w.types_at(&name);
            if t == RecordType::CNAME && types.iter().any(|t| !cname_compatible(*t)) {
                return;
            }
            if !cname_compatible(t) && types.contains(&RecordType::CNAME) {
                return;
            }
            match t {
                RecordType::SOA => {
                    let (Some((_, cur)), RData::SOA(new)) = (w.get(&name, t), &rr.data) else {
                        return;
                    };
                    let newer = match cur.first() {
                        Some(RData::SOA(old)) => {
                            hickory_proto::rr::SerialNumber::new(new.serial)
                                > hickory_proto::rr::SerialNumber::new(old.serial)
                        }
                        _ => false,
                    };
                    if at_apex && newer {
                        w.put(&rr.name, t, rr.ttl, vec![rr.data.clone()]);
                    }
                }
                RecordType::CNAME => w.put(&rr.name, t, rr.ttl, vec![rr.data.clone()]),
                _ => {
                    let mut rdata = w.get(&name, t).map(|(_, r)| r.to_vec()).unwrap_or_default();
                    let owner = w.owner(&name, t).unwrap_or_else(|| rr.name.clone());
                    if !rdata.contains(&rr.data) {
                        rdata.push(rr.data.clone());
                    }
                    // One TTL per RRset (RFC 2181 §5.2): the added record's, as BIND does.
                    if w.get(&name, t)
                        .is_none_or(|(ttl, r)| ttl != rr.ttl || r.len() != rdata.len())
                    {
                        w.put(&owner, t, rr.ttl, rdata);
                    }
                }
            }
        }
        DNSClass::ANY => {
            let types = if t == RecordType::ANY {
                w.types_at(&name)
            } else {
                vec![t]
            };
            for t in types {
                if at_apex && matches!(t, RecordType::SOA | RecordType::NS) {
                    continue;
                }
                if let Some((ttl, _)) = w.get(&name, t) {
                    let owner = w.owner(&name, t).unwrap_or_else(|| rr.name.clone());
                    w.put(&owner, t, ttl, Vec::new());
                }
            }
        }
        DNSClass::NONE => {
            if t == RecordType::SOA {
                return;
            }
            let Some((ttl, cur)) = w.get(&name, t) else {
                return;
            };
            if !cur.contains(&rr.data) {
                return;
            }
            if at_apex && t == RecordType::NS && cur.len() == 1 {
                return;
            }
            let rest: Vec<RData> = cur.iter().filter(|r| **r != rr.data).cloned().collect();
            let owner = w.owner(&name, t).unwrap_or_else(|| rr.name.clone());
            w.put(&owner, t, ttl, rest);
        }
        _ => {}
    }
}

impl Work<'_> {
    /// The owner name as the zone writes it, so an update does not change its case.
    fn owner(&self, name: &LowerName, t: RecordType) -> Option<Name> {
        if let Some((n, _, _)) = self.changed.get(&(name.clone(), t)) {
            return Some(n.clone());
        }
        let node = self.zone.node(name)?;
        node.get(t)
            .or_else(|| node.rrsets().first())
            .map(|s| s.name.clone())
    }
}

/// The serial after an update that did not set one (RFC 2136 §3.6) under the zone's
/// policy; `keep` cannot refuse an update, so it increments like BIND's default.
fn update_serial(policy: SerialPolicy, old: u32, now: SystemTime) -> u32 {
    let policy = match policy {
        SerialPolicy::Keep => SerialPolicy::Increment,
        p => p,
    };
    edit_serial(policy, old, old, now).unwrap_or_else(|_| increment_serial(old, old))
}

/// Diffs the changed RRsets, bumps the serial (§3.6), and builds the next version.
fn finish(
    zone: &Zone,
    w: Work<'_>,
    policy: SerialPolicy,
    now: SystemTime,
) -> Result<Option<AppliedUpdate>, ResponseCode> {
    let mut removed = Vec::new();
    let mut added = Vec::new();
    let mut touched = Vec::new();
    let mut new_soa: Option<Record> = None;
    for key in &w.order {
        let Some((owner, ttl, rdata)) = w.changed.get(key) else {
            continue;
        };
        let old = zone.node(&key.0).and_then(|n| n.get(key.1));
        let (old_ttl, old_rd) = old.map_or((0, &[][..]), |s| (s.ttl, s.rdata.as_slice()));
        let same_ttl = old.is_none() || rdata.is_empty() || old_ttl == *ttl;
        let mut rem: Vec<Record> = old_rd
            .iter()
            .filter(|r| !same_ttl || !rdata.contains(r))
            .map(|r| {
                Record::from_rdata(
                    old.map_or(owner.clone(), |s| s.name.clone()),
                    old_ttl,
                    r.clone(),
                )
            })
            .collect();
        let mut add: Vec<Record> = rdata
            .iter()
            .filter(|r| !same_ttl || !old_rd.contains(r))
            .map(|r| Record::from_rdata(owner.clone(), *ttl, r.clone()))
            .collect();
        if rem.is_empty() && add.is_empty() {
            continue;
        }
        touched.push((owner.clone(), key.1));
        if key.1 == RecordType::SOA {
            new_soa = add.pop();
            continue;
        }
        removed.append(&mut rem);
        added.append(&mut add);
    }
    if removed.is_empty() && added.is_empty() && new_soa.is_none() {
        return Ok(None);
    }
    let old_soa = zone.soa().records().next().ok_or(ResponseCode::ServFail)?;
    let from_serial = zone.serial();
    let new_soa = match new_soa {
        Some(s) => s,
        None => {
            let mut s = old_soa.clone();
            if let RData::SOA(soa) = &mut s.data {
                soa.serial = update_serial(policy, from_serial, now);
            }
            touched.push((zone.origin().clone(), RecordType::SOA));
            s
        }
    };
    let to_serial = match &new_soa.data {
        RData::SOA(s) => s.serial,
        _ => return Err(ResponseCode::ServFail),
    };
    // The next version shares every part of the zone the update did not touch.
    let cs = ixfr_shape(from_serial, to_serial, &old_soa, &new_soa, &removed, &added);
    let next = apply(zone, &cs).map_err(|e| {
        tracing::warn!("update produced an inconsistent changeset: {e}");
        ResponseCode::ServFail
    })?;
    Ok(Some(AppliedUpdate {
        from_serial,
        to_serial,
        old_soa,
        new_soa,
        removed,
        added,
        touched,
        zone: next,
    }))
}

/// Writes an applied update into the zone's file, through the same editor as
/// `zonecast zone set`, so that a later hand edit starts from the updated content.
///
/// Conflict rule (compare Knot's `zonefile-sync`): the file stays the source of truth for
/// every RRset the update did not touch; each RRset the update touched is written with
/// the update's result, replacing whatever the file has for it. The file's serial
/// becomes the update's serial when that is newer than the file's, else the file's serial
/// plus one (a hand edit was loaded or is pending, and both must move forward).
/// The returned edit is validated but not yet written; call `commit`.
pub fn write_back(
    main: &Path,
    origin: &Name,
    applied: &AppliedUpdate,
) -> Result<PlannedEdit, EditError> {
    write_back_rrsets(main, origin, &applied.zone, &applied.touched)
}

/// `write_back` for several updates at once: `zone` is the newest version and `touched`
/// every RRset the updates since the last write-back changed. Writing back costs a full
/// parse and check of the files, so a busy primary batches (as Knot's `zonefile-sync`
/// delay does) rather than rewriting the file after every update.
pub fn write_back_rrsets(
    main: &Path,
    origin: &Name,
    zone: &Zone,
    touched: &[(Name, RecordType)],
) -> Result<PlannedEdit, EditError> {
    let editor = ZoneEditor::open(main, origin)?;
    let mut edits: Vec<RRsetEdit> = crate::zone::file_edit::rrset_edits_from(zone, touched);
    let serial = increment_serial(editor.zone().serial(), zone.serial());
    // The SOA goes through as an edit only when a field other than the serial changed.
    edits.retain(|e| e.rtype != RecordType::SOA || soa_fields_changed(editor.zone(), e));
    editor.plan(&edits, SerialMode::Exact(serial))
}

fn soa_fields_changed(file_zone: &Zone, e: &RRsetEdit) -> bool {
    match (file_zone.soa().rdata.first(), e.rdata.first()) {
        (Some(RData::SOA(a)), Some(RData::SOA(b))) => {
            let mut b = b.clone();
            b.serial = a.serial;
            *a != b || Some(file_zone.soa().ttl) != e.ttl
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_files;
