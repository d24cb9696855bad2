//! The schema: its version, and the migration of older databases.

use super::codec::{encode_rdata, write_name};
use super::tests::{a, contents, origin, temp_store, zone};
use super::*;
use crate::zone::diff::{apply, diff};

#[test]
fn schema_is_versioned() {
    let (_dir, path, store) = temp_store();
    let v: i64 = store
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, schema::SCHEMA_VERSION);
    store.conn.pragma_update(None, "user_version", 99).unwrap();
    drop(store);
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::SchemaTooNew { found: 99, .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    rusqlite::Connection::open(&empty).unwrap();
    assert!(Store::open_read_only(&empty).is_err());
}

/// Writes `zone` as schema 1 stored it: a row per RRset, keyed by the lower-cased owner,
/// with the cased owner only where it differs.
fn write_v1(
    conn: &mut Connection,
    zone: &crate::zone::Zone,
    history: &[crate::zone::diff::Changeset],
) {
    let tx = conn.transaction().unwrap();
    tx.execute_batch(schema::V1).unwrap();
    tx.pragma_update(None, "user_version", 1).unwrap();
    tx.execute(
        "INSERT INTO zones (name, gen, serial, record_count) VALUES (?1, 7, ?2, ?3)",
        rusqlite::params![
            zone_key(zone.origin()),
            zone.serial(),
            zone.record_count() as i64
        ],
    )
    .unwrap();
    let (mut owner, mut cased, mut rdata, mut item) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (lname, node) in zone.nodes() {
        write_name(lname, &mut owner);
        for set in node.rrsets() {
            write_name(&set.name, &mut cased);
            encode_rdata(set, &mut rdata, &mut item).unwrap();
            tx.execute(
                "INSERT INTO rrsets (gen, owner, rtype, name, ttl, rdata) VALUES (7, ?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![owner, u16::from(set.rtype), (cased != owner).then_some(&cased), set.ttl, rdata],
            )
            .unwrap();
        }
    }
    // A replaced generation that was not collected before the upgrade.
    tx.execute("INSERT INTO orphan_gens (gen) VALUES (3)", [])
        .unwrap();
    tx.execute(
        "INSERT INTO rrsets (gen, owner, rtype, ttl, rdata) VALUES (3, x'00', 1, 1, x'')",
        [],
    )
    .unwrap();
    for cs in history {
        journal::append(&tx, 1, cs).unwrap();
    }
    tx.commit().unwrap();
}

#[test]
fn a_schema_1_database_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE_NAME);
    let v1 = zone(1, vec![]);
    let v2 = zone(2, vec![a("new.example.test.", 9)]);
    let step = diff(&v1, &v2);
    let v2 = apply(&v1, &step).unwrap();
    write_v1(
        &mut Connection::open(&path).unwrap(),
        &v2,
        std::slice::from_ref(&step),
    );

    assert!(matches!(
        Store::open_read_only(&path),
        Err(StoreError::Corrupt(_))
    ));
    let mut store = Store::open(&path).unwrap();
    let version: i64 = store
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::SCHEMA_VERSION);
    let tables: i64 = store
        .conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'rrsets'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0);
    // The stored version, its case and its history survive.
    assert_eq!(
        contents(&store.load_zone(&origin()).unwrap().unwrap()),
        contents(&v2)
    );
    assert_eq!(store.journal_since(&origin(), 1).unwrap(), Some(vec![step]));
    assert!(store.zone_status(&origin()).unwrap().unwrap().data_bytes > 0);
    // And the next IXFR lands in the migrated chunks.
    let v3 = zone(
        3,
        vec![a("new.example.test.", 9), a("www.example.test.", 7)],
    );
    let cs = diff(&v2, &v3);
    let v3 = apply(&v2, &cs).unwrap();
    store.commit_changeset(&cs, &v3).unwrap();
    drop(store);
    let store = Store::open_read_only(&path).unwrap();
    assert_eq!(
        contents(&store.load_zone(&origin()).unwrap().unwrap()),
        contents(&v3)
    );
    assert_eq!(store.journal_since(&origin(), 1).unwrap().unwrap().len(), 2);
}
