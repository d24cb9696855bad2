//! Per-zone state beside the data: role, SOA timer state and the last transfer, and the
//! summary that `zonecast zone status` prints.
//!
//! Timer state is persisted so that a restarted secondary honours the expiry computed
//! before the restart (RFC 1035 §4.3.5) instead of serving stale data for another full
//! expire interval. Times are stored as milliseconds since the Unix epoch.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use hickory_proto::rr::Name;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::records::ensure_zone;
use super::{Store, StoreError, from_ms, to_ms, zone_key};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ZoneRole {
    Primary,
    Secondary,
}

impl ZoneRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ZoneRole::Primary => "primary",
            ZoneRole::Secondary => "secondary",
        }
    }
}

impl fmt::Display for ZoneRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ZoneRole {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "primary" => Ok(ZoneRole::Primary),
            "secondary" => Ok(ZoneRole::Secondary),
            other => Err(StoreError::Corrupt(format!("unknown zone role {other:?}"))),
        }
    }
}

/// A secondary's SOA timer state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerState {
    /// When the primary last confirmed our serial or a transfer completed.
    pub last_refresh: Option<SystemTime>,
    /// When we last tried to reach a primary, successfully or not.
    pub last_attempt: Option<SystemTime>,
    /// When the data stops being servable unless refreshed.
    pub expire_at: Option<SystemTime>,
}

/// How a version arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferKind {
    Axfr,
    Ixfr,
    /// Loaded from a zone file on a primary.
    Load,
    /// A dynamic update (RFC 2136) applied on a primary.
    Update,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Axfr => "axfr",
            TransferKind::Ixfr => "ixfr",
            TransferKind::Load => "load",
            TransferKind::Update => "update",
        }
    }
}

impl FromStr for TransferKind {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "axfr" => Ok(TransferKind::Axfr),
            "ixfr" => Ok(TransferKind::Ixfr),
            "load" => Ok(TransferKind::Load),
            "update" => Ok(TransferKind::Update),
            other => Err(StoreError::Corrupt(format!(
                "unknown transfer kind {other:?}"
            ))),
        }
    }
}

/// The last transfer (or load) attempted for a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferOutcome {
    pub kind: TransferKind,
    pub at: SystemTime,
    /// The serial obtained, or asked for when it failed.
    pub serial: Option<u32>,
    /// `None` on success, else why it failed.
    pub error: Option<String>,
}

/// Everything `zonecast zone status` shows about one zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneStatus {
    pub name: String,
    pub role: Option<ZoneRole>,
    pub serial: Option<u32>,
    pub record_count: u64,
    pub data_bytes: u64,
    pub timers: TimerState,
    pub last_transfer: Option<TransferOutcome>,
    pub journal_depth: u64,
    pub journal_bytes: u64,
    /// The oldest serial an IXFR can start from.
    pub journal_oldest_serial: Option<u32>,
}

fn opt_time(ms: Option<i64>) -> Option<SystemTime> {
    ms.map(from_ms)
}

impl Store {
    /// Records a zone's role, creating its row if needed.
    pub fn set_role(&mut self, zone: &Name, role: ZoneRole) -> Result<(), StoreError> {
        self.writable()?;
        let key = zone_key(zone);
        let tx = self.conn.transaction()?;
        let id = ensure_zone(&tx, &key)?;
        tx.execute(
            "UPDATE zones SET role = ?1 WHERE id = ?2",
            params![role.as_str(), id],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn timers(&self, zone: &Name) -> Result<Option<TimerState>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT last_refresh_ms, last_attempt_ms, expire_at_ms FROM zones WHERE name = ?1",
                [zone_key(zone)],
                |r| {
                    Ok(TimerState {
                        last_refresh: opt_time(r.get(0)?),
                        last_attempt: opt_time(r.get(1)?),
                        expire_at: opt_time(r.get(2)?),
                    })
                },
            )
            .optional()?)
    }

    pub fn set_timers(&mut self, zone: &Name, timers: &TimerState) -> Result<(), StoreError> {
        self.writable()?;
        let key = zone_key(zone);
        let tx = self.conn.transaction()?;
        let id = ensure_zone(&tx, &key)?;
        tx.execute(
            "UPDATE zones SET last_refresh_ms = ?1, last_attempt_ms = ?2, expire_at_ms = ?3
             WHERE id = ?4",
            params![
                timers.last_refresh.map(to_ms),
                timers.last_attempt.map(to_ms),
                timers.expire_at.map(to_ms),
                id
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn record_transfer(
        &mut self,
        zone: &Name,
        outcome: &TransferOutcome,
    ) -> Result<(), StoreError> {
        self.writable()?;
        let key = zone_key(zone);
        let tx = self.conn.transaction()?;
        let id = ensure_zone(&tx, &key)?;
        tx.execute(
            "UPDATE zones SET last_xfr_kind = ?1, last_xfr_ms = ?2, last_xfr_serial = ?3,
                 last_xfr_result = ?4 WHERE id = ?5",
            params![
                outcome.kind.as_str(),
                to_ms(outcome.at),
                outcome.serial,
                outcome.error.as_deref().unwrap_or("ok"),
                id
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A zone's status, or `None` if the database does not know the zone. Works on a
    /// read-only store.
    pub fn zone_status(&self, zone: &Name) -> Result<Option<ZoneStatus>, StoreError> {
        self.zone_status_by_key(&zone_key(zone))
    }

    /// Status of every zone in the database, by name.
    pub fn all_zone_status(&self) -> Result<Vec<ZoneStatus>, StoreError> {
        let mut out = Vec::new();
        for key in self.zone_names()? {
            if let Some(s) = self.zone_status_by_key(&key)? {
                out.push(s);
            }
        }
        Ok(out)
    }

    fn zone_status_by_key(&self, key: &str) -> Result<Option<ZoneStatus>, StoreError> {
        type Row = (
            i64,
            Option<String>,
            Option<u32>,
            i64,
            i64,
            [Option<i64>; 3],
            (Option<String>, Option<i64>, Option<u32>, Option<String>),
        );
        let row: Option<Row> = self
            .conn
            .query_row(
                "SELECT id, role, serial, record_count, data_bytes,
                        last_refresh_ms, last_attempt_ms, expire_at_ms,
                        last_xfr_kind, last_xfr_ms, last_xfr_serial, last_xfr_result
                 FROM zones WHERE name = ?1",
                [key],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        [r.get(5)?, r.get(6)?, r.get(7)?],
                        (r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?),
                    ))
                },
            )
            .optional()?;
        let Some((id, role, serial, count, bytes, timers, xfr)) = row else {
            return Ok(None);
        };
        let (depth, jbytes, oldest): (i64, i64, Option<u32>) = self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(size), 0),
                    (SELECT from_serial FROM journal WHERE zone_id = ?1 ORDER BY seq LIMIT 1)
             FROM journal WHERE zone_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let last_transfer = match xfr {
            (Some(kind), Some(at), serial, result) => Some(TransferOutcome {
                kind: kind.parse()?,
                at: from_ms(at),
                serial,
                error: result.filter(|r| r != "ok"),
            }),
            _ => None,
        };
        Ok(Some(ZoneStatus {
            name: key.to_string(),
            role: role.map(|r| r.parse()).transpose()?,
            serial,
            record_count: count.max(0) as u64,
            data_bytes: bytes.max(0) as u64,
            timers: TimerState {
                last_refresh: opt_time(timers[0]),
                last_attempt: opt_time(timers[1]),
                expire_at: opt_time(timers[2]),
            },
            last_transfer,
            journal_depth: depth.max(0) as u64,
            journal_bytes: jbytes.max(0) as u64,
            journal_oldest_serial: oldest,
        }))
    }
}
