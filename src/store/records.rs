//! A zone's current version as rows: full commits (initial load, AXFR), incremental commits
//! (edits, IXFR) and loading at start.

use std::collections::HashSet;
use std::str::FromStr;

use hickory_proto::rr::{LowerName, Name, Record, RecordType};
use rusqlite::{OptionalExtension, Transaction, params};

use super::codec::{decode_rdata, encode_rdata, name_from_wire, name_wire, write_name};
use super::{Fault, Store, StoreError, check_fault, journal, zone_key};
use crate::zone::diff::Changeset;
use crate::zone::{RRset, Zone};

/// A zone's row in `zones`: (id, generation, serial, data bytes).
type ZoneRow = (i64, Option<i64>, Option<u32>, i64);

pub(super) fn zone_row(tx: &Transaction<'_>, key: &str) -> Result<Option<ZoneRow>, StoreError> {
    Ok(tx
        .query_row(
            "SELECT id, gen, serial, data_bytes FROM zones WHERE name = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?)
}

/// The zone's id, creating its row if needed.
pub(super) fn ensure_zone(tx: &Transaction<'_>, key: &str) -> Result<i64, StoreError> {
    tx.execute("INSERT OR IGNORE INTO zones (name) VALUES (?1)", [key])?;
    Ok(tx.query_row("SELECT id FROM zones WHERE name = ?1", [key], |r| r.get(0))?)
}

/// Buffers reused across the rows of one commit.
#[derive(Default)]
struct Scratch {
    cased: Vec<u8>,
    rdata: Vec<u8>,
    item: Vec<u8>,
}

/// Writes one RRset row; returns the bytes it takes (for the journal's size limit).
fn insert_rrset(
    stmt: &mut rusqlite::CachedStatement<'_>,
    generation: i64,
    owner: &[u8],
    set: &RRset,
    scratch: &mut Scratch,
) -> Result<i64, StoreError> {
    write_name(&set.name, &mut scratch.cased);
    let cased = (scratch.cased != owner).then_some(scratch.cased.as_slice());
    encode_rdata(set, &mut scratch.rdata, &mut scratch.item)?;
    stmt.execute(params![
        generation,
        owner,
        u16::from(set.rtype),
        cased,
        set.ttl,
        scratch.rdata
    ])?;
    Ok((owner.len() + scratch.rdata.len() + cased.map_or(0, <[u8]>::len)) as i64)
}

const INSERT_RRSET: &str =
    "INSERT INTO rrsets (gen, owner, rtype, name, ttl, rdata) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

impl Store {
    /// The last committed version of a zone, or `None` if none was ever committed. This is
    /// what a node serves at start, before (or without) any transfer.
    pub fn load_zone(&self, zone: &Name) -> Result<Option<Zone>, StoreError> {
        let key = zone_key(zone);
        let generation: Option<i64> = self
            .conn
            .query_row("SELECT gen FROM zones WHERE name = ?1", [&key], |r| {
                r.get(0)
            })
            .optional()?
            .flatten();
        let Some(generation) = generation else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT owner, rtype, name, ttl, rdata FROM rrsets WHERE gen = ?1")?;
        let mut rows = stmt.query([generation])?;
        let mut records = Vec::new();
        while let Some(row) = rows.next()? {
            let owner: Vec<u8> = row.get(0)?;
            let rtype = RecordType::from(row.get::<_, u16>(1)?);
            let cased: Option<Vec<u8>> = row.get(2)?;
            let ttl: u32 = row.get(3)?;
            let rdata: Vec<u8> = row.get(4)?;
            let name = name_from_wire(cased.as_deref().unwrap_or(&owner))?;
            for rd in decode_rdata(rtype, &rdata)? {
                records.push(Record::from_rdata(name.clone(), ttl, rd));
            }
        }
        let origin = Name::from_str(&key).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Zone::from_records(origin, records)
            .map(Some)
            .map_err(|source| StoreError::BadZone {
                zone: key,
                source: Box::new(source),
            })
    }

    /// The serial of the last committed version, if any.
    pub fn serial(&self, zone: &Name) -> Result<Option<u32>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT serial FROM zones WHERE name = ?1",
                [zone_key(zone)],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Replaces a zone's stored version with `zone` (initial load, AXFR). The journal
    /// restarts: its changesets led to the replaced version and may not lead to this one.
    /// The replaced rows are deleted after the commit, so that the new version is durable as
    /// soon as its own rows are written.
    pub fn commit_full(&mut self, zone: &Zone) -> Result<(), StoreError> {
        self.writable()?;
        let key = zone_key(zone.origin());
        let fault = self.fault;
        let tx = self.conn.transaction()?;
        let id = ensure_zone(&tx, &key)?;
        let old_gen: Option<i64> =
            tx.query_row("SELECT gen FROM zones WHERE id = ?1", [id], |r| r.get(0))?;
        let new_gen: i64 =
            tx.query_row("SELECT value FROM meta WHERE key = 'next_gen'", [], |r| {
                r.get(0)
            })?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'next_gen'",
            [new_gen + 1],
        )?;
        let mut bytes = 0i64;
        {
            // In key order, so that every insert appends to the B-tree instead of
            // splitting pages all over it.
            // Owner names go into one arena rather than a vector each: a million small
            // allocations would cost more than the sort.
            let mut arena: Vec<u8> = Vec::with_capacity(zone.record_count() * 24);
            let mut rows: Vec<(std::ops::Range<usize>, u16, &RRset)> =
                Vec::with_capacity(zone.record_count());
            let mut name = Vec::new();
            for (lname, node) in zone.nodes() {
                if node.rrsets().is_empty() {
                    continue;
                }
                write_name(lname, &mut name);
                let range = arena.len()..arena.len() + name.len();
                arena.extend_from_slice(&name);
                for set in node.rrsets() {
                    rows.push((range.clone(), u16::from(set.rtype), set));
                }
            }
            let key = |r: &(std::ops::Range<usize>, u16, &RRset)| (arena.get(r.0.clone()), r.1);
            rows.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
            let mut stmt = tx.prepare_cached(INSERT_RRSET)?;
            let mut scratch = Scratch::default();
            for (range, _, set) in &rows {
                let owner = arena.get(range.clone()).unwrap_or_default();
                bytes += insert_rrset(&mut stmt, new_gen, owner, set, &mut scratch)?;
            }
        }
        tx.execute(
            "UPDATE zones SET gen = ?1, serial = ?2, record_count = ?3, data_bytes = ?4
             WHERE id = ?5",
            params![
                new_gen,
                zone.serial(),
                zone.record_count() as i64,
                bytes,
                id
            ],
        )?;
        if let Some(g) = old_gen {
            tx.execute("INSERT OR IGNORE INTO orphan_gens (gen) VALUES (?1)", [g])?;
        }
        tx.execute("DELETE FROM journal WHERE zone_id = ?1", [id])?;
        check_fault(fault, Fault::BeforeCommit)?;
        tx.commit()?;
        self.collect_garbage()
    }

    /// Commits the next version of a zone together with the changeset that leads to it,
    /// in one transaction: only the RRsets the changeset touches are rewritten, and the
    /// journal is pruned to its limits in the same transaction. `new` must be the result
    /// of applying `cs` to the stored version.
    pub fn commit_changeset(&mut self, cs: &Changeset, new: &Zone) -> Result<(), StoreError> {
        self.commit_changesets(std::slice::from_ref(cs), new)
    }

    /// Commits several consecutive changesets (one IXFR response) and the version they
    /// lead to, all or nothing: each changeset becomes its own journal entry, so that
    /// downstream secondaries can still be served step by step.
    pub fn commit_changesets(&mut self, css: &[Changeset], new: &Zone) -> Result<(), StoreError> {
        self.writable()?;
        let key = zone_key(new.origin());
        let inconsistent = |why: String| StoreError::Inconsistent {
            zone: key.clone(),
            why,
        };
        let (Some(first), Some(last)) = (css.first(), css.last()) else {
            return Err(inconsistent("no changeset to commit".into()));
        };
        if last.to_serial != new.serial() {
            return Err(inconsistent(format!(
                "the changesets end at serial {}, the version is {}",
                last.to_serial,
                new.serial()
            )));
        }
        if let Some(w) = css.windows(2).find(|w| w[0].to_serial != w[1].from_serial) {
            return Err(inconsistent(format!(
                "serial {} is followed by a changeset from {}",
                w[0].to_serial, w[1].from_serial
            )));
        }
        let limits = self.limits_for(&key);
        let fault = self.fault;
        let tx = self.conn.transaction()?;
        let (id, generation, serial, mut bytes) = match zone_row(&tx, &key)? {
            Some((id, Some(g), serial, bytes)) => (id, g, serial, bytes),
            _ => return Err(StoreError::UnknownZone(key)),
        };
        if serial != Some(first.from_serial) {
            return Err(StoreError::SerialMismatch {
                zone: key,
                stored: serial,
                from: first.from_serial,
            });
        }
        let touched: HashSet<(LowerName, RecordType)> = css
            .iter()
            .flat_map(|cs| cs.removed.iter().chain(&cs.added))
            .map(|r| (LowerName::new(&r.name), r.record_type()))
            .collect();
        {
            let mut delete = tx.prepare_cached(
                "DELETE FROM rrsets WHERE gen = ?1 AND owner = ?2 AND rtype = ?3
                 RETURNING length(owner) + length(rdata) + coalesce(length(name), 0)",
            )?;
            let mut insert = tx.prepare_cached(INSERT_RRSET)?;
            let mut scratch = Scratch::default();
            for (lname, rtype) in &touched {
                let owner = name_wire(lname);
                let freed: Option<i64> = delete
                    .query_row(params![generation, owner, u16::from(*rtype)], |r| r.get(0))
                    .optional()?;
                bytes -= freed.unwrap_or(0);
                if let Some(set) = new.node(lname).and_then(|n| n.get(*rtype)) {
                    bytes += insert_rrset(&mut insert, generation, &owner, set, &mut scratch)?;
                }
            }
        }
        tx.execute(
            "UPDATE zones SET serial = ?1, record_count = ?2, data_bytes = ?3 WHERE id = ?4",
            params![new.serial(), new.record_count() as i64, bytes, id],
        )?;
        for cs in css {
            journal::append(&tx, id, cs)?;
        }
        journal::prune(&tx, id, &limits, bytes)?;
        check_fault(fault, Fault::BeforeCommit)?;
        tx.commit()?;
        Ok(())
    }
}
