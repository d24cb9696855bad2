use super::*;
use crate::zone::Zone;
use crate::zone::diff::tests::{n, soa};
use crate::zone::diff::{Changeset, apply, diff};
use hickory_proto::rr::rdata::{A, MX, SOA, TXT};
use hickory_proto::rr::{RData, Record};
use std::collections::BTreeSet;

pub(super) fn a(name: &str, last: u8) -> Record {
    crate::zone::diff::tests::a(name, 60, last)
}

pub(super) fn zone(serial: u32, extra: Vec<Record>) -> Zone {
    let mut recs = vec![
        soa(serial),
        a("www.example.test.", 1),
        a("WWW.example.test.", 2),
        a("Mixed.Case.example.test.", 3),
        Record::from_rdata(
            n("example.test."),
            300,
            RData::MX(MX::new(10, n("Mail.example.test."))),
        ),
        Record::from_rdata(
            n("txt.example.test."),
            300,
            RData::TXT(TXT::new(vec!["hello".into(), "world".into()])),
        ),
    ];
    recs.extend(extra);
    Zone::from_records(n("example.test."), recs).unwrap()
}

/// Records with their exact case and TTL, and the node names (empty non-terminals too).
pub(super) fn contents(z: &Zone) -> (BTreeSet<String>, BTreeSet<String>) {
    (
        z.records_canonical()
            .iter()
            .map(|r| r.to_string())
            .collect(),
        z.nodes().map(|(k, _)| k.to_string()).collect(),
    )
}

pub(super) fn temp_store() -> (tempfile::TempDir, PathBuf, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE_NAME);
    let store = Store::open(&path).unwrap();
    (dir, path, store)
}

pub(super) fn origin() -> Name {
    n("example.test.")
}

/// Commits a chain of versions 1..=last, each adding one host; returns them.
fn chain(store: &mut Store, last: u32) -> Vec<Zone> {
    // These tiny zones would trip the default size limit (twice the zone) at once.
    if store.limits_for("example.test.").max_size == JournalLimits::default().max_size {
        store.set_journal_limits(
            &origin(),
            JournalLimits {
                max_size: SizeLimit::Unlimited,
                ..store.limits_for("example.test.")
            },
        );
    }
    let mut versions = vec![zone(1, vec![])];
    store.commit_full(&versions[0]).unwrap();
    for s in 2..=last {
        let prev = versions.last().unwrap();
        let extra = (2..=s)
            .map(|i| a(&format!("h{i}.example.test."), i as u8))
            .collect();
        let target = zone(s, extra);
        let cs = diff(prev, &target);
        let next = apply(prev, &cs).unwrap();
        store.commit_changeset(&cs, &next).unwrap();
        versions.push(next);
    }
    versions
}

#[test]
fn full_commit_round_trips_with_case_and_reopen() {
    let (_dir, path, mut store) = temp_store();
    assert!(store.load_zone(&origin()).unwrap().is_none());
    let z = zone(7, vec![]);
    store.commit_full(&z).unwrap();
    let loaded = store.load_zone(&n("EXAMPLE.test")).unwrap().unwrap();
    assert_eq!(contents(&loaded), contents(&z));
    assert_eq!(loaded.serial(), 7);
    assert_eq!(store.serial(&origin()).unwrap(), Some(7));
    drop(store);
    let store = Store::open(&path).unwrap();
    let loaded = store.load_zone(&origin()).unwrap().unwrap();
    assert_eq!(contents(&loaded), contents(&z));
    assert_eq!(
        store.zone_names().unwrap(),
        vec!["example.test.".to_string()]
    );
}

#[test]
fn changesets_are_committed_with_their_version_and_served_from_the_journal() {
    let (_dir, path, mut store) = temp_store();
    let versions = chain(&mut store, 4);
    let last = versions.last().unwrap();
    assert_eq!(
        contents(&store.load_zone(&origin()).unwrap().unwrap()),
        contents(last)
    );

    let since1 = store.journal_since(&origin(), 1).unwrap().unwrap();
    assert_eq!(since1.len(), 3);
    assert_eq!(
        since1
            .iter()
            .map(|c| (c.from_serial, c.to_serial))
            .collect::<Vec<_>>(),
        vec![(1, 2), (2, 3), (3, 4)]
    );
    // Replaying the journal from version 1 gives the current version.
    let mut z = versions[0].clone();
    for cs in &since1 {
        z = apply(&z, cs).unwrap();
    }
    assert_eq!(contents(&z), contents(last));
    assert_eq!(since1[1], diff(&versions[1], &versions[2]));

    assert_eq!(store.journal_since(&origin(), 4).unwrap(), Some(vec![]));
    assert_eq!(
        store.journal_since(&origin(), 99).unwrap(),
        None,
        "unknown serial"
    );
    assert_eq!(
        store.journal_since(&origin(), 5).unwrap(),
        None,
        "ahead of us"
    );
    assert_eq!(store.journal_since(&n("other.test."), 1).unwrap(), None);

    // A changeset that does not start at the stored serial is refused.
    let stale = diff(&versions[1], &versions[2]);
    assert!(matches!(
        store.commit_changeset(&stale, &versions[2]),
        Err(StoreError::SerialMismatch {
            stored: Some(4),
            from: 2,
            ..
        })
    ));

    // Several changesets (one IXFR response) commit together or not at all.
    let v5 = zone(5, vec![a("five.example.test.", 5)]);
    let v6 = zone(6, vec![a("six.example.test.", 6)]);
    let (c5, c6) = (diff(last, &v5), diff(&v5, &v6));
    let n5 = apply(last, &c5).unwrap();
    let n6 = apply(&n5, &c6).unwrap();
    assert!(matches!(
        store.commit_changesets(std::slice::from_ref(&c5), &n6),
        Err(StoreError::Inconsistent { .. })
    ));
    assert!(matches!(
        store.commit_changesets(&[c6.clone(), c5.clone()], &n6),
        Err(StoreError::Inconsistent { .. })
    ));
    store.commit_changesets(&[c5, c6], &n6).unwrap();
    assert_eq!(
        contents(&store.load_zone(&origin()).unwrap().unwrap()),
        contents(&n6)
    );
    assert_eq!(store.journal_since(&origin(), 4).unwrap().unwrap().len(), 2);
    assert_eq!(store.journal_since(&origin(), 1).unwrap().unwrap().len(), 5);

    // After a full commit (AXFR) the history restarts.
    store.commit_full(&zone(10, vec![])).unwrap();
    assert_eq!(store.journal_since(&origin(), 1).unwrap(), None);
    assert_eq!(store.journal_since(&origin(), 10).unwrap(), Some(vec![]));
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.zone_status(&origin()).unwrap().unwrap().journal_depth,
        0
    );
    let gens: i64 = store
        .conn
        .query_row("SELECT COUNT(DISTINCT gen) FROM chunks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(gens, 1, "the replaced version's rows are gone");
}

#[test]
fn an_ixfr_rewrites_only_the_touched_chunks() {
    let (_dir, _path, mut store) = temp_store();
    let v1 = zone(1, vec![]);
    store.commit_full(&v1).unwrap();
    let v2 = zone(2, vec![a("new.example.test.", 9)]);
    let cs = diff(&v1, &v2);
    let next = apply(&v1, &cs).unwrap();
    let count = |s: &Store| -> i64 {
        s.conn
            .query_row("SELECT total_changes()", [], |r| r.get(0))
            .unwrap()
    };
    let before = count(&store);
    store.commit_changeset(&cs, &next).unwrap();
    // The SOA's chunk and the new record's, zones updated, journal row.
    assert!(count(&store) - before <= 6, "{}", count(&store) - before);
}

#[test]
fn journal_is_pruned_by_depth_and_size() {
    let (_dir, _path, mut store) = temp_store();
    store.set_journal_limits(
        &origin(),
        JournalLimits {
            max_depth: Some(3),
            max_size: SizeLimit::Unlimited,
        },
    );
    chain(&mut store, 7);
    let st = store.zone_status(&origin()).unwrap().unwrap();
    assert_eq!(st.journal_depth, 3);
    assert_eq!(st.journal_oldest_serial, Some(4));
    assert_eq!(store.journal_since(&origin(), 3).unwrap(), None);
    assert_eq!(store.journal_since(&origin(), 4).unwrap().unwrap().len(), 3);

    // By size: each changeset here is a little over 100 bytes.
    let (_dir, _path, mut store) = temp_store();
    store.set_default_journal_limits(JournalLimits {
        max_depth: None,
        max_size: SizeLimit::Bytes(450),
    });
    chain(&mut store, 12);
    let st = store.zone_status(&origin()).unwrap().unwrap();
    assert!(st.journal_bytes <= 450, "{st:?}");
    assert!(st.journal_depth >= 2 && st.journal_depth < 11, "{st:?}");

    // The defaults: Knot's depth of 20 ...
    let (_dir, _path, mut store) = temp_store();
    chain(&mut store, 25);
    assert_eq!(
        store.zone_status(&origin()).unwrap().unwrap().journal_depth,
        20
    );
}

#[test]
fn default_size_limit_is_twice_the_zone() {
    let (_dir, _path, mut store) = temp_store();
    // A zone of 5 RRsets and changesets that each rewrite a big TXT record: about two
    // changesets fit in twice the zone's size.
    let big = |serial: u32, fill: char| {
        zone(
            serial,
            vec![Record::from_rdata(
                n("big.example.test."),
                60,
                RData::TXT(TXT::new(vec![fill.to_string().repeat(200)])),
            )],
        )
    };
    let mut cur = big(1, 'a');
    store.commit_full(&cur).unwrap();
    for (s, c) in (2..8).zip('b'..) {
        let cs = diff(&cur, &big(s, c));
        cur = apply(&cur, &cs).unwrap();
        store.commit_changeset(&cs, &cur).unwrap();
    }
    let st = store.zone_status(&origin()).unwrap().unwrap();
    assert!(st.journal_bytes <= 2 * st.data_bytes, "{st:?}");
    assert!(st.journal_depth >= 1 && st.journal_depth < 6, "{st:?}");
}

#[test]
fn a_failure_before_commit_leaves_the_previous_version() {
    let (_dir, path, mut store) = temp_store();
    let versions = chain(&mut store, 2);
    let v2 = &versions[1];
    let v3 = zone(
        3,
        vec![a("h2.example.test.", 2), a("late.example.test.", 3)],
    );
    let cs = diff(v2, &v3);
    let next = apply(v2, &cs).unwrap();

    store.inject_fault(Some(Fault::BeforeCommit));
    let e = store.commit_changeset(&cs, &next).unwrap_err();
    assert!(matches!(e, StoreError::Injected(_)), "{e}");
    let e = store.commit_full(&zone(50, vec![])).unwrap_err();
    assert!(matches!(e, StoreError::Injected(_)), "{e}");
    drop(store);

    let mut store = Store::open(&path).unwrap();
    let loaded = store.load_zone(&origin()).unwrap().unwrap();
    assert_eq!(loaded.serial(), 2);
    assert_eq!(contents(&loaded), contents(v2));
    assert_eq!(store.journal_since(&origin(), 1).unwrap().unwrap().len(), 1);
    // And the store still works: the same commit now succeeds.
    store.commit_changeset(&cs, &next).unwrap();
    assert_eq!(
        contents(&store.load_zone(&origin()).unwrap().unwrap()),
        contents(&next)
    );
}

/// Child half of the kill test below: aborts the process in the middle of a commit, of a
/// full version or of a changeset as `ZONECAST_CRASH_KIND` says.
#[test]
#[ignore]
fn crash_child() {
    let Ok(path) = std::env::var("ZONECAST_CRASH_DB") else {
        return;
    };
    let mut store = Store::open(&path).unwrap();
    let current = store.load_zone(&origin()).unwrap().unwrap();
    let big = zone(
        current.serial() + 1,
        (0..2000u32)
            .map(|i| a(&format!("x{i}.example.test."), (i % 250) as u8))
            .collect(),
    );
    store.inject_fault(Some(Fault::AbortBeforeCommit));
    eprintln!("child: committing");
    if std::env::var("ZONECAST_CRASH_KIND").as_deref() == Ok("changeset") {
        let cs = diff(&current, &big);
        let next = apply(&current, &cs).unwrap();
        let _ = store.commit_changeset(&cs, &next);
    } else {
        let _ = store.commit_full(&big);
    }
    unreachable!("the commit aborts the process");
}

#[test]
fn a_process_killed_mid_commit_leaves_the_previous_version() {
    use std::os::unix::process::ExitStatusExt;
    let (_dir, path, mut store) = temp_store();
    let versions = chain(&mut store, 3);
    drop(store);
    for kind in ["full", "changeset"] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store::tests::crash_child",
                "--ignored",
                "--nocapture",
            ])
            .env("ZONECAST_CRASH_DB", &path)
            .env("ZONECAST_CRASH_KIND", kind)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("child: committing"), "{kind}: {stderr}");
        assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{kind}: {stderr}");
        let store = Store::open(&path).unwrap();
        let loaded = store.load_zone(&origin()).unwrap().unwrap();
        assert_eq!(contents(&loaded), contents(&versions[2]), "{kind}");
        assert_eq!(
            store.journal_since(&origin(), 1).unwrap().unwrap().len(),
            2,
            "{kind}"
        );
    }
}

#[test]
fn status_timers_and_transfers_are_readable_read_only_while_open() {
    let (_dir, path, mut store) = temp_store();
    chain(&mut store, 3);
    store.set_role(&origin(), ZoneRole::Secondary).unwrap();
    let t = |s: u64| UNIX_EPOCH + Duration::from_millis(s);
    let timers = TimerState {
        last_refresh: Some(t(1_700_000_000_123)),
        last_attempt: Some(t(1_700_000_100_000)),
        expire_at: Some(t(1_701_209_600_000)),
    };
    store.set_timers(&origin(), &timers).unwrap();
    let outcome = TransferOutcome {
        kind: TransferKind::Ixfr,
        at: t(1_700_000_100_500),
        serial: Some(3),
        error: None,
    };
    store.record_transfer(&origin(), &outcome).unwrap();

    // Another connection, read-only, while the writer is still open.
    let ro = Store::open_read_only(&path).unwrap();
    assert_eq!(ro.timers(&origin()).unwrap(), Some(timers));
    let st = ro.zone_status(&origin()).unwrap().unwrap();
    assert_eq!(st.name, "example.test.");
    assert_eq!(st.role, Some(ZoneRole::Secondary));
    assert_eq!(st.serial, Some(3));
    assert_eq!(st.record_count, 8);
    assert_eq!(st.journal_depth, 2);
    assert_eq!(st.journal_oldest_serial, Some(1));
    assert_eq!(st.last_transfer, Some(outcome));
    assert!(matches!(
        Store::open_read_only(&path)
            .unwrap()
            .set_role(&origin(), ZoneRole::Primary),
        Err(StoreError::ReadOnly)
    ));

    let failed = TransferOutcome {
        kind: TransferKind::Axfr,
        at: t(1_700_000_200_000),
        serial: Some(4),
        error: Some("REFUSED".into()),
    };
    store.record_transfer(&origin(), &failed).unwrap();
    assert_eq!(
        ro.zone_status(&origin()).unwrap().unwrap().last_transfer,
        Some(failed)
    );
    assert_eq!(ro.all_zone_status().unwrap().len(), 1);
    assert!(ro.zone_status(&n("nope.test.")).unwrap().is_none());

    assert!(store.delete_zone(&origin()).unwrap());
    assert!(ro.zone_status(&origin()).unwrap().is_none());
    assert!(!store.delete_zone(&origin()).unwrap());
}

#[test]
fn several_zones_share_one_database() {
    let (_dir, _path, mut store) = temp_store();
    chain(&mut store, 2);
    let other = Zone::from_records(
        n("other.test."),
        vec![Record::from_rdata(
            n("other.test."),
            60,
            RData::SOA(SOA::new(
                n("ns.other.test."),
                n("h.other.test."),
                5,
                1,
                1,
                1,
                1,
            )),
        )],
    )
    .unwrap();
    store.commit_full(&other).unwrap();
    store.commit_full(&other).unwrap();
    assert_eq!(store.load_zone(&origin()).unwrap().unwrap().serial(), 2);
    assert_eq!(
        store
            .load_zone(&n("other.test."))
            .unwrap()
            .unwrap()
            .serial(),
        5
    );
    assert_eq!(store.journal_since(&origin(), 1).unwrap().unwrap().len(), 1);
}

#[test]
fn changeset_blobs_round_trip() {
    let v1 = zone(1, vec![]);
    let v2 = zone(2, vec![a("x.example.test.", 4)]);
    let cs: Changeset = diff(&v1, &v2);
    let blob = codec::encode_changeset(&cs).unwrap();
    assert_eq!(codec::decode_changeset(&blob).unwrap(), cs);
    assert!(codec::decode_changeset(&blob[..blob.len() - 3]).is_err());
    assert!(codec::decode_changeset(&[2, 0, 0]).is_err());
}

/// Measures (does not assert) a 1,000,000-record zone: full commit, load, and a
/// one-record IXFR commit. `cargo test --release --lib -- --ignored --nocapture store_one_million`
#[test]
#[ignore]
fn store_one_million() {
    use crate::zone::diff::tests::timed;
    let mk = |serial: u32, changed: u8| {
        let mut v = vec![soa(serial)];
        for i in 0..1_000_000u32 {
            let last = if i == 777 { changed } else { (i % 250) as u8 };
            v.push(Record::from_rdata(
                n(&format!("host{i}.example.test.")),
                3600,
                RData::A(A::new(10, (i >> 16) as u8, (i >> 8) as u8, last)),
            ));
        }
        Zone::from_records(n("example.test."), v).unwrap()
    };
    let (_dir, path, mut store) = temp_store();
    let v1 = mk(1, 1);
    timed("commit_full 1M into an empty store", || {
        store.commit_full(&v1).unwrap()
    });
    timed("commit_full 1M replacing 1M", || {
        store.commit_full(&v1).unwrap()
    });
    let v2 = mk(2, 2);
    let (cs, next) = timed("diff + apply one change", || {
        let cs = diff(&v1, &v2);
        let next = apply(&v1, &cs).unwrap();
        (cs, next)
    });
    timed("commit_changeset one change", || {
        store.commit_changeset(&cs, &next).unwrap()
    });
    let loaded = timed("load_zone 1M", || {
        store.load_zone(&origin()).unwrap().unwrap()
    });
    assert_eq!(loaded.record_count(), next.record_count());
    let st = timed("zone_status (read-only)", || {
        Store::open_read_only(&path)
            .unwrap()
            .zone_status(&origin())
            .unwrap()
    });
    eprintln!("stored bytes: {:?}", st.map(|s| s.data_bytes));
}

/// Every record type the loader knows, and the shipped zones, survive the store's blob
/// formats unchanged: as a stored version and as a journal changeset.
#[test]
fn every_record_type_round_trips_through_the_store() {
    use crate::zone::load::load_zone_file;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = [
        ("integration/loader/types.zone", "example.test."),
        ("zones/example.test.zone", "example.test."),
        ("zones/shop.test.zone", "shop.test."),
        ("zones/root.zone", "."),
    ];
    for (file, origin) in files {
        let origin = n(origin);
        let loaded = load_zone_file(&root.join(file), &origin)
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .zone;
        let (_dir, _path, mut store) = temp_store();
        store.commit_full(&loaded).unwrap();
        let back = store.load_zone(&origin).unwrap().unwrap();
        assert_eq!(contents(&back), contents(&loaded), "{file}");

        // The whole zone as one changeset from a bare SOA version.
        let bare = Zone::from_records(origin.clone(), vec![loaded.soa().records().next().unwrap()])
            .unwrap();
        let mut cs = diff(&bare, &loaded);
        cs.from_serial = cs.to_serial.wrapping_sub(1);
        if let RData::SOA(s) = &mut cs.removed[0].data {
            s.serial = cs.from_serial;
        }
        let blob = codec::encode_changeset(&cs).unwrap();
        assert_eq!(codec::decode_changeset(&blob).unwrap(), cs, "{file}");
    }
}
