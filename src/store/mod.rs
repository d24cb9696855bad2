//! Durable zone state for one node: every zone's current version, its journal of
//! changesets, and its timer and transfer state, in one SQLite database.
//!
//! Durability first (design principle 3): a new version and the changeset that produced
//! it are written in one transaction, and only after `commit` returns may the caller serve
//! or announce the version. A crash at any point leaves the previous committed version.
//!
//! The API is blocking (rusqlite); callers run it on a blocking thread. It never touches
//! the network. `zonecast zone status` opens the same file read-only while the node runs:
//! in WAL mode readers do not block the writer and see the last committed state.
//!
//! Why `synchronous = FULL`: in WAL mode, NORMAL is already safe against a process crash,
//! but after a power loss it may lose the most recent commits. A primary that has sent
//! NOTIFY for serial N and then comes back at N-1 can later build a *different* N, and its
//! secondaries' IXFR history would silently diverge. FULL costs one fsync of the WAL per
//! commit, and commits happen per zone edit or transfer, never per query.

mod chunks;
mod codec;
mod journal;
mod records;
pub mod schema;
mod status;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::rr::Name;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use thiserror::Error;

use crate::zone::ZoneError;

pub use chunks::Prepared;
pub use journal::{JournalLimits, SizeLimit};
pub use status::{TimerState, TransferKind, TransferOutcome, ZoneRole, ZoneStatus};

/// The database file name inside a node's data directory.
pub const DB_FILE_NAME: &str = "zonecast.db";

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("zone {0} is not in the database")]
    UnknownZone(String),
    #[error(
        "zone {zone}: the changeset starts at serial {from}, but the stored version is {stored:?}"
    )]
    SerialMismatch {
        zone: String,
        stored: Option<u32>,
        from: u32,
    },
    #[error("zone {zone}: the changesets do not lead to the version given: {why}")]
    Inconsistent { zone: String, why: String },
    #[error("zone {zone}: stored records do not form a zone: {source}")]
    BadZone {
        zone: String,
        source: Box<ZoneError>,
    },
    #[error("corrupt database: {0}")]
    Corrupt(String),
    #[error("cannot encode for the database: {0}")]
    Encode(String),
    #[error("the database is open read-only")]
    ReadOnly,
    /// Only produced by the fault injection of the crash-safety tests.
    #[error("injected fault: {0}")]
    Injected(&'static str),
}

/// A point where tests make a write fail, to prove that a failure part-way through a
/// transaction leaves the previous version intact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum Fault {
    /// Return an error after the rows are written, before COMMIT (the transaction is
    /// rolled back by drop).
    BeforeCommit,
    /// Abort the process at the same point, as `kill -9` would: nothing is rolled back by
    /// the process, so recovery is SQLite's own.
    AbortBeforeCommit,
}

/// One node's database. Not `Sync`: share it behind a mutex and call it from a blocking
/// thread.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    read_only: bool,
    default_limits: JournalLimits,
    zone_limits: HashMap<String, JournalLimits>,
    fault: Option<Fault>,
}

/// The key under which a zone is stored: its absolute name, lower-cased.
pub fn zone_key(name: &Name) -> String {
    let mut n = name.to_lowercase();
    n.set_fqdn(true);
    n.to_ascii()
}

pub(crate) fn to_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

pub(crate) fn from_ms(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

/// Fails when the test-only fault `at` is armed; taking the fault by value lets callers
/// check it while a transaction borrows the connection.
fn check_fault(armed: Option<Fault>, at: Fault) -> Result<(), StoreError> {
    match armed {
        Some(Fault::AbortBeforeCommit) => std::process::abort(),
        Some(f) if f == at => Err(StoreError::Injected("before commit")),
        _ => Ok(()),
    }
}

impl Store {
    /// Opens (creating if needed) a node's database read-write and migrates its schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "{}: cannot switch to WAL mode (got {mode})",
                path.display()
            )));
        }
        conn.execute_batch(
            "PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA temp_store = MEMORY;
             PRAGMA cache_size = -65536;
             PRAGMA journal_size_limit = 67108864;",
        )
        .map_err(open_err)?;
        schema::migrate(&mut conn)?;
        let mut store = Store {
            conn,
            path,
            read_only: false,
            default_limits: JournalLimits::default(),
            zone_limits: HashMap::new(),
            fault: None,
        };
        // Rows of versions replaced just before a crash.
        store.collect_garbage()?;
        Ok(store)
    }

    /// Opens a database read-only, e.g. for `zonecast zone status` while the node runs.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        conn.busy_timeout(Duration::from_secs(5))?;
        schema::check(&conn)?;
        Ok(Store {
            conn,
            path,
            read_only: true,
            default_limits: JournalLimits::default(),
            zone_limits: HashMap::new(),
            fault: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Journal limits for zones without their own.
    pub fn set_default_journal_limits(&mut self, limits: JournalLimits) {
        self.default_limits = limits;
    }

    /// Journal limits for one zone (from its configuration); applied at its next commit.
    pub fn set_journal_limits(&mut self, zone: &Name, limits: JournalLimits) {
        self.zone_limits.insert(zone_key(zone), limits);
    }

    fn limits_for(&self, key: &str) -> JournalLimits {
        self.zone_limits
            .get(key)
            .copied()
            .unwrap_or(self.default_limits)
    }

    #[cfg(test)]
    pub(crate) fn inject_fault(&mut self, fault: Option<Fault>) {
        self.fault = fault;
    }

    fn writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        Ok(())
    }

    /// The names (lower-cased, absolute) of every zone in the database, sorted.
    pub fn zone_names(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT name FROM zones ORDER BY name")?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(names)
    }

    /// Removes a zone and everything stored for it (when it leaves the configuration).
    pub fn delete_zone(&mut self, zone: &Name) -> Result<bool, StoreError> {
        self.writable()?;
        let key = zone_key(zone);
        let tx = self.conn.transaction()?;
        let row: Option<(i64, Option<i64>)> = tx
            .query_row("SELECT id, gen FROM zones WHERE name = ?1", [&key], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((id, gen_id)) = row else {
            return Ok(false);
        };
        if let Some(g) = gen_id {
            tx.execute("INSERT OR IGNORE INTO orphan_gens (gen) VALUES (?1)", [g])?;
        }
        tx.execute("DELETE FROM journal WHERE zone_id = ?1", [id])?;
        tx.execute("DELETE FROM zones WHERE id = ?1", [id])?;
        tx.commit()?;
        self.collect_garbage()?;
        Ok(true)
    }

    /// Deletes the rows of versions that a full commit replaced. Runs after that commit
    /// (so the commit itself stays short) and at open (after a crash in between).
    pub fn collect_garbage(&mut self) -> Result<(), StoreError> {
        self.writable()?;
        let tx = self.conn.transaction()?;
        let gens: Vec<i64> = {
            let mut stmt = tx.prepare("SELECT gen FROM orphan_gens")?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<Result<Vec<_>, _>>()?
        };
        for g in gens {
            tx.execute("DELETE FROM chunks WHERE gen = ?1", [g])?;
            tx.execute("DELETE FROM orphan_gens WHERE gen = ?1", [g])?;
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
#[path = "schema_tests.rs"]
mod schema_tests;
