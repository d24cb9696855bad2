//! The database schema and its migrations, tracked in SQLite's `user_version`.
//!
//! Layout choices, for the two workloads that matter:
//! - a version's RRsets in `chunks`, each RRset in the chunk its owner name hashes to
//!   (see `chunks.rs`): a one-record IXFR rewrites one or two chunks of a few hundred
//!   RRsets, and a full commit or load of a million RRsets moves two thousand blobs
//!   instead of a million rows (schema 1 had a row per RRset, which made a 1M-record
//!   AXFR's commit and a start-up's load take over a second each);
//! - a zone's rows belong to a *generation*. A full commit writes a fresh generation and
//!   flips `zones.gen` to it, so the old rows can be deleted after the commit
//!   (`orphan_gens`) rather than inside it, which keeps a large AXFR's commit short; a crash
//!   before that cleanup only leaves garbage that the next open removes.

use rusqlite::Connection;

use super::StoreError;

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: i64 = 2;

/// Schema 1, also the first step of a new database.
pub(super) const V1: &str = "
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

/// Schema 2: RRsets move from one row each into chunks; `zones.chunks` is the chunk
/// count of the current generation, `zones.source` what a primary loaded it from.
const V2: &str = "
ALTER TABLE zones ADD COLUMN chunks INTEGER NOT NULL DEFAULT 1;
ALTER TABLE zones ADD COLUMN source BLOB;
CREATE TABLE chunks (
    gen    INTEGER NOT NULL,
    chunk  INTEGER NOT NULL,
    data   BLOB NOT NULL,      -- RRset entries, see chunks.rs
    PRIMARY KEY (gen, chunk)
);
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
    if version < 2 {
        tx.execute_batch(V2)?;
        super::records::migrate_rows_to_chunks(&tx)?;
        tx.execute_batch("DELETE FROM orphan_gens; DROP TABLE rrsets;")?;
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
