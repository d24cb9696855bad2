//! The journal: the changesets that led to a zone's current version, oldest first, as
//! IXFR serves them (RFC 1995) and as a secondary's own downstream secondaries ask for them.

use hickory_proto::rr::Name;
use rusqlite::{Transaction, params};

use super::codec::{decode_changeset, encode_changeset};
use super::{Store, StoreError, zone_key};
use crate::serial;
use crate::zone::diff::Changeset;

/// The most bytes a zone's journal may hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SizeLimit {
    Unlimited,
    Bytes(u64),
    /// A multiple of the zone's stored size: BIND's `max-journal-size default` is twice the
    /// zone, past which an IXFR would cost more than the AXFR it replaces.
    ZoneRatio(f64),
}

/// How much history a zone keeps. The oldest changesets are pruned, in the transaction of
/// the commit that went over a limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JournalLimits {
    /// The most changesets kept; `None` keeps any number. Knot's `journal-max-depth`.
    pub max_depth: Option<u32>,
    pub max_size: SizeLimit,
}

impl Default for JournalLimits {
    /// Knot's default depth (20 changesets) and BIND's default size (twice the zone).
    fn default() -> Self {
        JournalLimits {
            max_depth: Some(20),
            max_size: SizeLimit::ZoneRatio(2.0),
        }
    }
}

impl JournalLimits {
    fn max_bytes(&self, zone_bytes: i64) -> Option<i64> {
        match self.max_size {
            SizeLimit::Unlimited => None,
            SizeLimit::Bytes(b) => Some(i64::try_from(b).unwrap_or(i64::MAX)),
            SizeLimit::ZoneRatio(r) => Some((zone_bytes.max(0) as f64 * r) as i64),
        }
    }
}

pub(super) fn append(tx: &Transaction<'_>, zone_id: i64, cs: &Changeset) -> Result<(), StoreError> {
    let blob = encode_changeset(cs)?;
    tx.execute(
        "INSERT INTO journal (zone_id, seq, from_serial, to_serial, size, data)
         VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM journal WHERE zone_id = ?1),
                 ?2, ?3, ?4, ?5)",
        params![
            zone_id,
            cs.from_serial,
            cs.to_serial,
            blob.len() as i64,
            blob
        ],
    )?;
    Ok(())
}

/// Drops the oldest changesets until the journal is within `limits`. Returns how many
/// were dropped.
pub(super) fn prune(
    tx: &Transaction<'_>,
    zone_id: i64,
    limits: &JournalLimits,
    zone_bytes: i64,
) -> Result<usize, StoreError> {
    let max_bytes = limits.max_bytes(zone_bytes);
    // Newest first: keep rows while both limits hold, cut at the first that breaks one.
    let mut stmt =
        tx.prepare_cached("SELECT seq, size FROM journal WHERE zone_id = ?1 ORDER BY seq DESC")?;
    let rows = stmt
        .query_map([zone_id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut total = 0i64;
    let mut cut: Option<i64> = None;
    for (kept, (seq, size)) in rows.iter().enumerate() {
        total += size;
        let too_deep = limits.max_depth.is_some_and(|d| kept >= d as usize);
        let too_big = max_bytes.is_some_and(|m| total > m);
        if too_deep || too_big {
            cut = Some(*seq);
            break;
        }
    }
    match cut {
        Some(seq) => Ok(tx.execute(
            "DELETE FROM journal WHERE zone_id = ?1 AND seq <= ?2",
            params![zone_id, seq],
        )?),
        None => Ok(0),
    }
}

impl Store {
    /// The changesets from `serial` to the current version, oldest first; an empty list
    /// when `serial` is current. `None` when the history is missing (pruned, restarted by
    /// an AXFR, or `serial` was never a version here): the caller falls back to AXFR.
    pub fn journal_since(
        &self,
        zone: &Name,
        serial: u32,
    ) -> Result<Option<Vec<Changeset>>, StoreError> {
        let key = zone_key(zone);
        let Some(current) = self.serial(zone)? else {
            return Ok(None);
        };
        if current == serial {
            return Ok(Some(Vec::new()));
        }
        if !serial::is_newer(current, serial) {
            // A client ahead of us (or 2^31 away) cannot be brought forward by history.
            return Ok(None);
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT j.seq, j.from_serial, j.to_serial FROM journal j
             JOIN zones z ON z.id = j.zone_id WHERE z.name = ?1 ORDER BY j.seq",
        )?;
        let index = stmt
            .query_map([&key], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, u32>(1)?,
                    r.get::<_, u32>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        // The last changeset starting at `serial`: a serial reused after a journal restart
        // may appear twice, and only the newest chain leads to the current version.
        let Some(start) = index.iter().rposition(|&(_, from, _)| from == serial) else {
            return Ok(None);
        };
        let chain = &index[start..];
        let consecutive = chain.windows(2).all(|w| w[0].2 == w[1].1);
        if !consecutive || chain.last().map(|c| c.2) != Some(current) {
            return Ok(None);
        }
        let mut load = self.conn.prepare_cached(
            "SELECT j.data FROM journal j JOIN zones z ON z.id = j.zone_id
             WHERE z.name = ?1 AND j.seq = ?2",
        )?;
        let mut out = Vec::with_capacity(chain.len());
        for (seq, _, _) in chain {
            let blob: Vec<u8> = load.query_row(params![&key, seq], |r| r.get(0))?;
            out.push(decode_changeset(&blob)?);
        }
        Ok(Some(out))
    }
}
