//! The database schema and its migrations, tracked in SQLite's `user_version`.
//!
//! Layout choices, for the two workloads that matter:
//! - one row per RRset in `rrsets`, keyed by (generation, lower-cased owner, type) in a
//!   `WITHOUT ROWID` table: a one-record IXFR rewrites one or two rows, and a full load is
//!   one prepared INSERT repeated in one transaction;
//! - a zone's rows belong to a *generation*. A full commit writes a fresh generation and
//!   flips `zones.gen` to it, so the old rows can be deleted after the commit
//!   (`orphan_gens`) rather than inside it, which keeps a large AXFR's commit short; a crash
//!   before that cleanup only leaves garbage that the next open removes.

use rusqlite::Connection;

use super::StoreError;

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: i64 = 1;

const V1: &str = "
CREATE TABLE zones (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,   -- lower-cased, absolute, e.g. 'example.com.'
    role             TEXT,
    gen              INTEGER,                -- generation of the current rows; NULL if none
    serial           INTEGER,
    record_count     INTEGER NOT NULL DEFAULT 0,
    data_bytes       INTEGER NOT NULL DEFAULT 0,
    last_refresh_ms  INTEGER,
    last_attempt_ms  INTEGER,
    expire_at_ms     INTEGER,
    last_xfr_kind    TEXT,
    last_xfr_result  TEXT,
    last_xfr_ms      INTEGER,
    last_xfr_serial  INTEGER
);
CREATE TABLE rrsets (
    gen    INTEGER NOT NULL,
    owner  BLOB NOT NULL,      -- lower-cased owner, uncompressed wire form
    rtype  INTEGER NOT NULL,
    name   BLOB,               -- owner with its original case, when that differs
    ttl    INTEGER NOT NULL,
    rdata  BLOB NOT NULL,      -- (u16 length, wire RDATA) per record
    PRIMARY KEY (gen, owner, rtype)
) WITHOUT ROWID;
CREATE TABLE journal (
    zone_id      INTEGER NOT NULL REFERENCES zones(id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    from_serial  INTEGER NOT NULL,
    to_serial    INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (zone_id, seq)
);
CREATE TABLE orphan_gens (gen INTEGER PRIMARY KEY);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta (key, value) VALUES ('next_gen', 1);
";

/// Brings the schema up to [`SCHEMA_VERSION`] in one transaction.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction()?;
    if version < 1 {
        tx.execute_batch(V1)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// Checks, without writing, that a database opened read-only has a schema we understand.
pub fn check(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    match version {
        SCHEMA_VERSION => Ok(()),
        0 => Err(StoreError::Corrupt(
            "not a zonecast database (no schema)".into(),
        )),
        v if v > SCHEMA_VERSION => Err(StoreError::SchemaTooNew {
            found: v,
            supported: SCHEMA_VERSION,
        }),
        v => Err(StoreError::Corrupt(format!(
            "schema version {v} predates {SCHEMA_VERSION}; open it read-write once to migrate"
        ))),
    }
}
