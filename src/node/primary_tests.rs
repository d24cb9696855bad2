//! The primary's start-up: files unchanged since the last commit are not parsed again, an
//! edit made while the node was down is one journal step.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use hickory_proto::rr::{LowerName, RecordType};

use super::*;
use crate::store::{JournalLimits, SizeLimit};
use crate::zone::diff::tests::n;

const ZONE: &str = "$TTL 300\n@ SOA ns1 host 1 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\n";

fn setup(dir: &Path) -> (ZoneConfig, Store) {
    let file = dir.join("example.test.zone");
    std::fs::write(&file, ZONE).unwrap();
    let mut store = Store::open(dir.join("z.db")).unwrap();
    // A zone this small would trip the default size limit (twice the zone) at once.
    store.set_default_journal_limits(JournalLimits {
        max_depth: None,
        max_size: SizeLimit::Unlimited,
    });
    (ZoneConfig::primary(n("example.test."), file), store)
}

fn has(z: &Zone, name: &str) -> bool {
    z.node(&LowerName::new(&n(name)))
        .is_some_and(|node| node.get(RecordType::A).is_some())
}

#[test]
fn unchanged_files_are_not_parsed_again_and_offline_edits_are_one_step() {
    let dir = tempfile::tempdir().unwrap();
    let (zc, mut store) = setup(dir.path());
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let Initial {
        zone: z1, files, ..
    } = initial_load(&mut store, &zc, now).unwrap();
    assert_eq!(z1.serial(), 1);
    assert_eq!(files, vec![zc.file.clone().unwrap()]);
    assert!(store.source(&zc.name).unwrap().is_some());

    // The record says the files are what serial 1 was loaded from: what is served comes
    // from the store, not from the file. (Proven by a stored version the file does not
    // say, recorded as if it did.)
    let other = crate::zone::diff::tests::a("stored-only.example.test.", 60, 7);
    let mut recs = z1.records_canonical();
    recs.push(other);
    let stored_only = Zone::from_records(n("example.test."), recs).unwrap();
    let blob = store.source(&zc.name).unwrap().unwrap();
    store.commit_full(&stored_only).unwrap();
    assert_eq!(
        store.source(&zc.name).unwrap(),
        None,
        "a commit clears the record"
    );
    store.set_source(&zc.name, &blob).unwrap();
    let Initial { zone: z, .. } = initial_load(&mut store, &zc, now).unwrap();
    assert!(has(&z, "stored-only.example.test."));
    store.commit_full(&z1).unwrap();

    // Without a record, the file is loaded against the stored version (nothing changed)
    // and the record is made again.
    let Initial { zone: z, .. } = initial_load(&mut store, &zc, now).unwrap();
    assert_eq!(z.serial(), 1);
    assert!(!has(&z, "stored-only.example.test."));
    assert!(store.source(&zc.name).unwrap().is_some());

    // An edit while the node was down: one journal step, then a record of the new files.
    std::fs::write(
        zc.file.as_ref().unwrap(),
        format!("{ZONE}www A 192.0.2.80\n"),
    )
    .unwrap();
    let Initial { zone: z2, .. } = initial_load(&mut store, &zc, now).unwrap();
    assert_eq!(
        z2.serial(),
        2,
        "the default policy increments an unchanged serial"
    );
    assert!(has(&z2, "www.example.test."));
    let steps = store.journal_since(&zc.name, 1).unwrap().unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].added.len(), 2, "the new SOA and the new record");
    let Initial { zone: z3, .. } = initial_load(&mut store, &zc, now).unwrap();
    assert_eq!(z3.serial(), 2);
    assert_eq!(store.journal_since(&zc.name, 1).unwrap().unwrap().len(), 1);

    // An included file is covered too.
    std::fs::write(dir.path().join("inc"), "mail A 192.0.2.25\n").unwrap();
    std::fs::write(
        zc.file.as_ref().unwrap(),
        format!("{ZONE}www A 192.0.2.80\n$INCLUDE inc\n"),
    )
    .unwrap();
    let Initial {
        zone: z4, files, ..
    } = initial_load(&mut store, &zc, now).unwrap();
    assert!(has(&z4, "mail.example.test."));
    assert_eq!(files.len(), 2);
    std::fs::write(dir.path().join("inc"), "mail A 192.0.2.26\n").unwrap();
    let Initial { zone: z5, .. } = initial_load(&mut store, &zc, now).unwrap();
    assert_eq!(z5.serial(), z4.serial() + 1);
    assert_eq!(
        store
            .journal_since(&zc.name, z4.serial())
            .unwrap()
            .unwrap()
            .len(),
        1
    );
}
