//! A zone's current version as rows: full commits (initial load, AXFR), incremental commits
//! (edits, IXFR) and loading at start.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use hickory_proto::rr::{LowerName, Name, RecordType};
use rusqlite::{OptionalExtension, Transaction, params};

use super::chunks::{self, Prepared, Scratch};
use super::codec::{name_from_wire, name_wire, write_name};
use super::{Fault, Store, StoreError, check_fault, journal, zone_key};
use crate::zone::diff::Changeset;
use crate::zone::{Zone, ZoneBuilder};

/// A zone's row in `zones`: (id, generation, serial, data bytes, chunks).
type ZoneRow = (i64, Option<i64>, Option<u32>, i64, u32);

pub(super) fn zone_row(tx: &Transaction<'_>, key: &str) -> Result<Option<ZoneRow>, StoreError> {
    Ok(tx
        .query_row(
            "SELECT id, gen, serial, data_bytes, chunks FROM zones WHERE name = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?)
}

/// The zone's id, creating its row if needed.
pub(super) fn ensure_zone(tx: &Transaction<'_>, key: &str) -> Result<i64, StoreError> {
    tx.execute("INSERT OR IGNORE INTO zones (name) VALUES (?1)", [key])?;
    Ok(tx.query_row("SELECT id FROM zones WHERE name = ?1", [key], |r| r.get(0))?)
}

const INSERT_CHUNK: &str = "INSERT OR REPLACE INTO chunks (gen, chunk, data) VALUES (?1, ?2, ?3)";

/// Rewrites schema 1's rows (one per RRset) of every zone's current generation as
/// chunks, byte for byte: the RDATA blobs of both schemas are the same.
pub(super) fn migrate_rows_to_chunks(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let zones: Vec<(i64, i64)> = {
        let mut stmt = tx.prepare("SELECT id, gen FROM zones WHERE gen IS NOT NULL")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    for (id, generation) in zones {
        let rows: i64 = tx.query_row(
            "SELECT COUNT(*) FROM rrsets WHERE gen = ?1",
            [generation],
            |r| r.get(0),
        )?;
        let count = chunks::chunk_count(usize::try_from(rows).unwrap_or(0));
        let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); count as usize];
        {
            let mut stmt = tx.prepare(
                "SELECT owner, name, rtype, ttl, rdata FROM rrsets WHERE gen = ?1
                 ORDER BY owner, rtype",
            )?;
            let mut rows = stmt.query([generation])?;
            while let Some(row) = rows.next()? {
                let owner: Vec<u8> = row.get(0)?;
                let cased: Option<Vec<u8>> = row.get(1)?;
                let rtype: u16 = row.get(2)?;
                let ttl: u32 = row.get(3)?;
                let rdata: Vec<u8> = row.get(4)?;
                let len = u32::try_from(rdata.len())
                    .map_err(|_| StoreError::Corrupt("RDATA blob too large".into()))?;
                let c = chunks::chunk_of(&owner, count) as usize;
                let Some(buf) = bufs.get_mut(c) else { continue };
                buf.extend_from_slice(cased.as_deref().unwrap_or(&owner));
                buf.extend_from_slice(&rtype.to_be_bytes());
                buf.extend_from_slice(&ttl.to_be_bytes());
                buf.extend_from_slice(&len.to_be_bytes());
                buf.extend_from_slice(&rdata);
            }
        }
        let bytes = write_chunks(tx, generation, &bufs)?;
        tx.execute(
            "UPDATE zones SET chunks = ?1, data_bytes = ?2 WHERE id = ?3",
            params![count, bytes, id],
        )?;
    }
    Ok(())
}

/// Inserts the non-empty chunks of a generation; returns their total size.
fn write_chunks(
    tx: &Transaction<'_>,
    generation: i64,
    bufs: &[Vec<u8>],
) -> Result<i64, StoreError> {
    let mut stmt = tx.prepare_cached(INSERT_CHUNK)?;
    let mut bytes = 0i64;
    for (c, buf) in bufs.iter().enumerate() {
        if !buf.is_empty() {
            stmt.execute(params![generation, c as i64, buf])?;
            bytes += buf.len() as i64;
        }
    }
    Ok(bytes)
}

/// A version's RRsets as chunk blobs. A large version is encoded by several threads, each
/// over part of the zone: the walk is bound by memory latency (every RRset is somewhere
/// else in memory), which threads overlap.
fn encode_chunks(zone: &Zone, count: u32) -> Result<Vec<Vec<u8>>, StoreError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if threads < 2 || zone.record_count() < 100_000 {
        return encode_part(zone, count, 0, 1);
    }
    let parts: Vec<Result<Vec<Vec<u8>>, StoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|p| s.spawn(move || encode_part(zone, count, p, threads)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut parts = parts.into_iter();
    let mut bufs = parts.next().unwrap_or_else(|| Ok(Vec::new()))?;
    for part in parts {
        for (buf, more) in bufs.iter_mut().zip(part?) {
            buf.extend_from_slice(&more);
        }
    }
    Ok(bufs)
}

fn encode_part(
    zone: &Zone,
    count: u32,
    part: usize,
    parts: usize,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); count as usize];
    let mut scratch = Scratch::default();
    let mut key = Vec::new();
    for (lname, node) in zone.nodes_part(part, parts) {
        if node.rrsets().is_empty() {
            continue;
        }
        write_name(lname, &mut key);
        let Some(buf) = bufs.get_mut(chunks::chunk_of(&key, count) as usize) else {
            continue;
        };
        for set in node.rrsets() {
            chunks::push_set(buf, set, &mut scratch)?;
        }
    }
    Ok(bufs)
}

/// The RRsets of some chunks, into a builder of their own.
fn decode_chunks(
    origin: Name,
    records: usize,
    blobs: &[Vec<u8>],
) -> Result<ZoneBuilder, StoreError> {
    let key = zone_key(&origin);
    let mut builder = ZoneBuilder::with_capacity(origin, records);
    for blob in blobs {
        for entry in chunks::entries(blob) {
            builder
                .push_rrset(entry?.decode()?)
                .map_err(|source| StoreError::BadZone {
                    zone: key.clone(),
                    source: Box::new(source),
                })?;
        }
    }
    Ok(builder)
}

impl Store {
    /// The last committed version of a zone, or `None` if none was ever committed. This is
    /// what a node serves at start, before (or without) any transfer.
    pub fn load_zone(&self, zone: &Name) -> Result<Option<Zone>, StoreError> {
        let key = zone_key(zone);
        let row: Option<(Option<i64>, i64)> = self
            .conn
            .query_row(
                "SELECT gen, record_count FROM zones WHERE name = ?1",
                [&key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((Some(generation), records)) = row else {
            return Ok(None);
        };
        let origin = Name::from_str(&key).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let bad = |source| StoreError::BadZone {
            zone: key.clone(),
            source: Box::new(source),
        };
        let records = usize::try_from(records).unwrap_or(0);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT data FROM chunks WHERE gen = ?1")?;
        let blobs: Vec<Vec<u8>> = stmt
            .query_map([generation], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        // Decoding is most of a load: a large version's chunks are decoded by several
        // threads, each into a builder of its own, and the builders are merged. A name's
        // RRsets are all in one chunk, so each is built in stored order either way.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let threads = if records < 100_000 { 1 } else { threads };
        let per = blobs.len().div_ceil(threads.max(1)).max(1);
        let parts: Vec<Result<ZoneBuilder, StoreError>> = std::thread::scope(|s| {
            let handles: Vec<_> = blobs
                .chunks(per)
                .map(|part| {
                    let origin = origin.clone();
                    s.spawn(move || decode_chunks(origin, records / threads, part))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut builder = ZoneBuilder::with_capacity(origin, 0);
        for part in parts {
            builder.absorb(part?);
        }
        builder.finish().map(Some).map_err(bad)
    }

    /// Says what the current version was loaded from (a primary's files, in a format of
    /// the caller's), right after the commit of that load. Every commit clears it, so it
    /// is only ever present for the version the load produced.
    pub fn set_source(&mut self, zone: &Name, source: &[u8]) -> Result<(), StoreError> {
        self.writable()?;
        self.conn.execute(
            "UPDATE zones SET source = ?1 WHERE name = ?2",
            params![source, zone_key(zone)],
        )?;
        Ok(())
    }

    /// What [`Store::set_source`] recorded for the current version, if anything.
    pub fn source(&self, zone: &Name) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT source FROM zones WHERE name = ?1",
                [zone_key(zone)],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
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
        let count = chunks::chunk_count(zone.record_count());
        self.write_full(zone, count, |_| encode_chunks(zone, count))
    }

    /// [`Store::commit_full`] with the chunks encoded as the version's records arrived;
    /// `prepared` must hold exactly the records `zone` was built from.
    pub fn commit_full_prepared(
        &mut self,
        zone: &Zone,
        prepared: Prepared,
    ) -> Result<(), StoreError> {
        let count = chunks::chunk_count(zone.record_count());
        self.write_full(zone, count, move |count| prepared.into_chunks(count))
    }

    fn write_full(
        &mut self,
        zone: &Zone,
        count: u32,
        chunks: impl FnOnce(u32) -> Result<Vec<Vec<u8>>, StoreError>,
    ) -> Result<(), StoreError> {
        self.writable()?;
        let bufs = chunks(count)?;
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
        let bytes = write_chunks(&tx, new_gen, &bufs)?;
        tx.execute(
            "UPDATE zones SET gen = ?1, serial = ?2, record_count = ?3, data_bytes = ?4,
             chunks = ?5, source = NULL WHERE id = ?6",
            params![
                new_gen,
                zone.serial(),
                zone.record_count() as i64,
                bytes,
                count,
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
        let (id, generation, serial, mut bytes, count) = match zone_row(&tx, &key)? {
            Some((id, Some(g), serial, bytes, count)) => (id, g, serial, bytes, count),
            _ => return Err(StoreError::UnknownZone(key)),
        };
        if serial != Some(first.from_serial) {
            return Err(StoreError::SerialMismatch {
                zone: key,
                stored: serial,
                from: first.from_serial,
            });
        }
        // The touched RRsets, by chunk.
        let mut touched: HashMap<u32, HashSet<(Vec<u8>, u16)>> = HashMap::new();
        for r in css.iter().flat_map(|cs| cs.removed.iter().chain(&cs.added)) {
            let owner = name_wire(&r.name.to_lowercase());
            touched
                .entry(chunks::chunk_of(&owner, count))
                .or_default()
                .insert((owner, u16::from(r.record_type())));
        }
        {
            let mut read =
                tx.prepare_cached("SELECT data FROM chunks WHERE gen = ?1 AND chunk = ?2")?;
            let mut write = tx.prepare_cached(INSERT_CHUNK)?;
            let mut delete =
                tx.prepare_cached("DELETE FROM chunks WHERE gen = ?1 AND chunk = ?2")?;
            let mut scratch = Scratch::default();
            for (c, sets) in &touched {
                let old: Vec<u8> = read
                    .query_row(params![generation, c], |r| r.get(0))
                    .optional()?
                    .unwrap_or_default();
                let mut blob = Vec::with_capacity(old.len() + 256);
                for e in chunks::entries(&old) {
                    let e = e?;
                    if !sets.iter().any(|(owner, rtype)| e.is(owner, *rtype)) {
                        blob.extend_from_slice(e.bytes);
                    }
                }
                for (owner, rtype) in sets {
                    let lname = LowerName::new(&name_from_wire(owner)?);
                    let set = new
                        .node(&lname)
                        .and_then(|n| n.get(RecordType::from(*rtype)));
                    if let Some(set) = set {
                        chunks::push_set(&mut blob, set, &mut scratch)?;
                    }
                }
                bytes += blob.len() as i64 - old.len() as i64;
                if blob.is_empty() {
                    delete.execute(params![generation, c])?;
                } else {
                    write.execute(params![generation, c, blob])?;
                }
            }
        }
        tx.execute(
            "UPDATE zones SET serial = ?1, record_count = ?2, data_bytes = ?3, source = NULL
             WHERE id = ?4",
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
