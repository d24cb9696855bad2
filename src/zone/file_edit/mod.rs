//! Scripted edits of zone files that keep the file a person wrote: comments, layout,
//! `$ORIGIN`/`$INCLUDE` structure, relative names and omitted owners stay as they were,
//! and only the lines of the RRsets that change are touched.
//!
//! An edit is planned in memory, validated by the loader and its checks (as if the files
//! already had the new text), and verified to produce exactly the intended zone before
//! anything is written. Files are then replaced atomically (temp file, fsync, rename), so a
//! primary that watches them sees either the old or the new content, never a torn edit.

mod files;
mod render;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use hickory_proto::rr::rdata::SOA;
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::rr::{LowerName, Name, RData, RecordType};
use thiserror::Error;

use super::Zone;
use super::diff::diff;
use super::load::wire;
use super::load::{LoadErrors, load_zone_file_overlay};
use crate::serial::{SerialError, SerialPolicy};
use files::{ZoneFiles, read_zone_files};
pub(crate) use render::atomic_write_impl;

#[derive(Debug, Error)]
pub enum EditError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the zone does not load as it is; fix it first:\n{0}")]
    CurrentInvalid(LoadErrors),
    #[error("the edit would make the zone invalid; nothing written:\n{0}")]
    Invalid(LoadErrors),
    #[error("cannot edit: {0}")]
    Unsupported(String),
    #[error("nothing matches {0}; nothing written")]
    NothingMatched(String),
    #[error("{}: changed on disk during the edit; nothing written", .0.display())]
    Changed(PathBuf),
    #[error("{0}")]
    Serial(#[from] SerialError),
}

/// The wanted content of one RRset after an edit; empty `rdata` deletes the RRset.
/// `ttl: None` keeps the RRset's TTL (or picks the file's default for a new one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RRsetEdit {
    pub name: Name,
    pub rtype: RecordType,
    pub ttl: Option<u32>,
    pub rdata: Vec<RData>,
}

/// How the SOA serial of an edited zone is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialMode {
    /// Per the serial policy, when anything changed.
    Bump,
    /// Exactly this serial (written back from a dynamic update, or chosen by the caller).
    Exact(u32),
}

/// The serial of an edited zone under `policy`: `proposed` is the serial the edit itself
/// wrote (the old one when it did not touch the SOA). The content did change: edits that
/// change nothing never get here.
pub fn edit_serial(
    policy: SerialPolicy,
    old: u32,
    proposed: u32,
    now: SystemTime,
) -> Result<u32, SerialError> {
    crate::serial::next_serial(policy, old, proposed, true, now)
}

/// `increment`: `proposed` when it is newer than `old` (RFC 1982), else old+1.
pub fn increment_serial(old: u32, proposed: u32) -> u32 {
    // Increment never refuses; the fallback only keeps this total.
    edit_serial(SerialPolicy::Increment, old, proposed, UNIX_EPOCH).unwrap_or(old.wrapping_add(1))
}

/// A zone file opened for editing: its current (valid) version and its located lines.
#[derive(Debug, Clone)]
pub struct ZoneEditor {
    main: PathBuf,
    origin: Name,
    zone: Zone,
    files: ZoneFiles,
    policy: SerialPolicy,
    /// For the `unixtime` and `dateserial` policies.
    now: SystemTime,
}

/// An edit that validated, ready to be written.
#[derive(Debug, Clone)]
pub struct PlannedEdit {
    pub old_serial: u32,
    pub new_serial: u32,
    /// The version the files will load as.
    pub zone: Zone,
    /// New text per changed file, the main file last.
    pub writes: Vec<FileWrite>,
}

#[derive(Debug, Clone)]
pub struct FileWrite {
    pub path: PathBuf,
    pub text: String,
    /// What the file held when it was read; a different content at write time aborts.
    pub expect_on_disk: Option<String>,
}

impl PlannedEdit {
    /// False when the edit changes nothing (the RRsets already are as asked).
    pub fn changed(&self) -> bool {
        !self.writes.is_empty()
    }

    /// Writes every changed file atomically, included files first so that the main file
    /// (usually watched, and holding the SOA) changes last.
    pub fn commit(&self) -> Result<(), EditError> {
        for w in &self.writes {
            if let Some(expect) = &w.expect_on_disk {
                let now = std::fs::read_to_string(&w.path).map_err(|e| EditError::Io {
                    path: w.path.clone(),
                    source: e,
                })?;
                if &now != expect {
                    return Err(EditError::Changed(w.path.clone()));
                }
            }
        }
        for w in &self.writes {
            atomic_write(&w.path, &w.text)?;
        }
        Ok(())
    }
}

/// Replaces `path` with `text` atomically: a temp file in the same directory, fsync,
/// rename over the original (keeping its permissions), fsync of the directory.
pub fn atomic_write(path: &Path, text: &str) -> Result<(), EditError> {
    atomic_write_impl(path, text).map_err(|e| EditError::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

type Key = (LowerName, RecordType);

impl ZoneEditor {
    /// Loads the zone (it must be valid) and locates its records in its files.
    pub fn open(main: &Path, origin: &Name) -> Result<ZoneEditor, EditError> {
        Self::open_overlay(main, origin, HashMap::new())
    }

    /// As `open`, with files' text given by canonical path instead of read from disk.
    pub fn open_overlay(
        main: &Path,
        origin: &Name,
        overlay: HashMap<PathBuf, String>,
    ) -> Result<ZoneEditor, EditError> {
        let files = read_zone_files(main, origin, &overlay)?;
        let loaded =
            load_zone_file_overlay(main, origin, overlay).map_err(EditError::CurrentInvalid)?;
        Ok(ZoneEditor {
            main: main.to_path_buf(),
            origin: origin.clone(),
            zone: loaded.zone,
            files,
            policy: SerialPolicy::Increment,
            now: UNIX_EPOCH,
        })
    }

    /// The serial policy for `SerialMode::Bump` (default `increment`), and the time it reads.
    pub fn with_serial_policy(mut self, policy: SerialPolicy, now: SystemTime) -> Self {
        self.policy = policy;
        self.now = now;
        self
    }

    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// `zone set`: the RRset `name`/`rtype` becomes exactly `rdata`.
    pub fn set(
        &self,
        name: &Name,
        rtype: RecordType,
        ttl: Option<u32>,
        rdata: Vec<RData>,
    ) -> Result<PlannedEdit, EditError> {
        let edit = RRsetEdit {
            name: name.clone(),
            rtype,
            ttl,
            rdata,
        };
        self.plan(&[edit], SerialMode::Bump)
    }

    /// `zone del`: every RRset at `name`, or one RRset, or some of its records.
    pub fn delete(
        &self,
        name: &Name,
        rtype: Option<RecordType>,
        rdata: &[RData],
    ) -> Result<PlannedEdit, EditError> {
        let what = match rtype {
            Some(t) => format!("{name} {}", wire::type_name(t)),
            None => name.to_string(),
        };
        let node = self.zone.node(&LowerName::new(name));
        let mut edits = Vec::new();
        for set in node.map(|n| n.rrsets()).unwrap_or_default() {
            if rtype.is_some_and(|t| t != set.rtype) {
                continue;
            }
            let keep: Vec<RData> = if rdata.is_empty() {
                Vec::new()
            } else {
                set.rdata
                    .iter()
                    .filter(|r| !rdata.contains(r))
                    .cloned()
                    .collect()
            };
            if keep.len() == set.rdata.len() {
                continue;
            }
            edits.push(RRsetEdit {
                name: set.name.clone(),
                rtype: set.rtype,
                ttl: None,
                rdata: keep,
            });
        }
        if edits.is_empty() {
            return Err(EditError::NothingMatched(what));
        }
        self.plan(&edits, SerialMode::Bump)
    }

    /// Plans RRset edits and the serial, renders the files, and validates the result.
    pub fn plan(&self, edits: &[RRsetEdit], serial: SerialMode) -> Result<PlannedEdit, EditError> {
        let old_serial = self.zone.serial();
        let mut wanted: BTreeMap<Key, (Name, u32, Vec<RData>)> = BTreeMap::new();
        for e in edits {
            if !self.origin.zone_of(&e.name) {
                return Err(EditError::Unsupported(format!(
                    "{} is not in zone {}",
                    e.name, self.origin
                )));
            }
            let key = (LowerName::new(&e.name), e.rtype);
            let current = self.zone.node(&key.0).and_then(|n| n.get(e.rtype));
            let ttl = e
                .ttl
                .or(current.map(|c| c.ttl))
                .unwrap_or_else(|| self.default_ttl(&e.name));
            let mut rdata: Vec<RData> = Vec::new();
            for r in &e.rdata {
                if !rdata.contains(r) {
                    rdata.push(r.clone());
                }
            }
            let same = current.is_some_and(|c| {
                c.ttl == ttl
                    && c.rdata.len() == rdata.len()
                    && rdata.iter().all(|r| c.rdata.contains(r))
            });
            let absent = current.is_none() && rdata.is_empty();
            if !same && !absent {
                wanted.insert(key, (e.name.clone(), ttl, rdata));
            }
        }
        let soa_key = (self.zone.origin_lower().clone(), RecordType::SOA);
        let cur_soa = self.soa_rdata()?;
        let edited_soa = match wanted.get(&soa_key) {
            Some((_, _, rd)) => match rd.as_slice() {
                [RData::SOA(s)] => Some(s.clone()),
                _ => {
                    return Err(EditError::Unsupported(
                        "the zone needs exactly one SOA record".into(),
                    ));
                }
            },
            None => None,
        };
        let new_serial = match serial {
            SerialMode::Exact(s) => s,
            SerialMode::Bump if wanted.is_empty() => old_serial,
            SerialMode::Bump => edit_serial(
                self.policy,
                old_serial,
                edited_soa.as_ref().map_or(old_serial, |s| s.serial),
                self.now,
            )?,
        };
        if wanted.is_empty() && new_serial == old_serial {
            return Ok(PlannedEdit {
                old_serial,
                new_serial,
                zone: self.zone.clone(),
                writes: Vec::new(),
            });
        }
        let mut soa = edited_soa.unwrap_or(cur_soa);
        soa.serial = new_serial;
        let soa_ttl = wanted
            .get(&soa_key)
            .map_or(self.zone.soa().ttl, |(_, t, _)| *t);
        wanted.insert(
            soa_key,
            (self.zone.origin().clone(), soa_ttl, vec![RData::SOA(soa)]),
        );

        let writes = render::render(self, &wanted)?;
        let overlay: HashMap<PathBuf, String> = writes
            .iter()
            .map(|(i, text)| (self.files.files[*i].canon.clone(), text.clone()))
            .collect();
        let loaded = load_zone_file_overlay(&self.main, &self.origin, overlay)
            .map_err(EditError::Invalid)?;
        self.verify(&loaded.zone, &wanted)?;
        let mut writes: Vec<FileWrite> = writes
            .into_iter()
            .map(|(i, text)| FileWrite {
                path: self.files.files[i].path.clone(),
                text,
                expect_on_disk: self.files.files[i].disk.clone(),
            })
            .collect();
        // The main file (index 0) last.
        writes.reverse();
        Ok(PlannedEdit {
            old_serial,
            new_serial,
            zone: loaded.zone,
            writes,
        })
    }

    fn soa_rdata(&self) -> Result<SOA, EditError> {
        match self.zone.soa().rdata.first() {
            Some(RData::SOA(s)) => Ok(s.clone()),
            _ => Err(EditError::Unsupported("the zone has no SOA".into())),
        }
    }

    /// The TTL of a new RRset: the file's `$TTL`, else the SOA's TTL.
    fn default_ttl(&self, name: &Name) -> u32 {
        let lower = LowerName::new(name);
        let file = self
            .files
            .entries
            .iter()
            .rev()
            .find(|e| LowerName::new(&e.owner) == lower)
            .map_or(0, |e| e.file);
        self.files
            .files
            .get(file)
            .and_then(|f| f.last_ttl_directive)
            .or(self.files.files.first().and_then(|f| f.last_ttl_directive))
            .unwrap_or(self.zone.soa().ttl)
    }

    /// The written files must load as exactly the old zone with the wanted RRsets; this
    /// catches any layout subtlety (inherited TTLs, owners) the renderer did not foresee.
    fn verify(
        &self,
        got: &Zone,
        wanted: &BTreeMap<Key, (Name, u32, Vec<RData>)>,
    ) -> Result<(), EditError> {
        let layout = |what: String| {
            EditError::Unsupported(format!(
                "the file layout defeats a safe edit ({what} would change too); edit it by hand"
            ))
        };
        // Every RRset the new text changes must be one the edit meant to change...
        let cs = diff(&self.zone, got);
        for rec in cs.removed.iter().chain(&cs.added) {
            let key = (LowerName::new(&rec.name), rec.record_type());
            if !wanted.contains_key(&key) {
                return Err(layout(format!("{} {}", rec.name, wire::type_name(key.1))));
            }
        }
        // ...and each of those must now be exactly as wanted.
        for (key, (name, ttl, rdata)) in wanted {
            let ok = match got.node(&key.0).and_then(|n| n.get(key.1)) {
                None => rdata.is_empty(),
                Some(s) => {
                    s.ttl == *ttl
                        && s.rdata.len() == rdata.len()
                        && rdata.iter().all(|r| s.rdata.contains(r))
                }
            };
            if !ok {
                return Err(layout(format!("{name} {}", wire::type_name(key.1))));
            }
        }
        Ok(())
    }
}

/// True when two versions differ in anything but the SOA serial: the "content changed"
/// input of the serial policy.
pub fn content_differs(a: &Zone, b: &Zone) -> bool {
    diff(a, b).content_changed()
}

/// Records as the editor's RRset edits: the final content of every RRset an update (or a
/// diff) touched, so they can be written to the file.
pub fn rrset_edits_from(zone: &Zone, touched: &[(Name, RecordType)]) -> Vec<RRsetEdit> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (name, rtype) in touched {
        let key = (LowerName::new(name), *rtype);
        if !seen.insert(key.clone()) {
            continue;
        }
        let set = zone.node(&key.0).and_then(|n| n.get(*rtype));
        out.push(RRsetEdit {
            name: name.clone(),
            rtype: *rtype,
            ttl: set.map(|s| s.ttl),
            rdata: set.map(|s| s.rdata.clone()).unwrap_or_default(),
        });
    }
    out
}

#[cfg(test)]
mod tests;
