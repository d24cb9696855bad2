//! Where a large zone's time goes: parse, check, build, store, transfer, drop.
//!
//! `cargo bench --bench load -- FILE ORIGIN` (e.g. the 1,000,000-record file of
//! `integration/bench_propagation.py gen`). One run of each phase, wall-clock, no network:
//! the pieces of a primary's start-up and of a secondary's AXFR, one by one.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::rr::Name;
use zonecast::store::Store;
use zonecast::xfr::client::{Progress, XfrConsumer, XfrOutcome};
use zonecast::zone::Zone;
use zonecast::zone::load::{load_zone_file, parse_records};

#[path = "common/axfr.rs"]
mod axfr;

/// This thread's CPU time in seconds: the machine is shared, so wall time alone misleads.
fn cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer for clock_gettime.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (Some(file), Some(origin)) = (args.first(), args.get(1)) else {
        eprintln!("usage: cargo bench --bench load -- FILE ORIGIN");
        return;
    };
    let origin = Name::from_str(origin).expect("origin");
    let path = Path::new(file);
    let lap = |what: &str, t: (Instant, f64)| {
        println!(
            "{what:<28} {:>8.3} s wall {:>8.3} s cpu",
            t.0.elapsed().as_secs_f64(),
            cpu() - t.1
        )
    };

    let t = (Instant::now(), cpu());
    let text = std::fs::read_to_string(path).expect("read");
    lap("read", t);
    let t = (Instant::now(), cpu());
    let parsed = parse_records(&text, &origin, file, Path::new("."));
    lap("parse", t);
    let t = (Instant::now(), cpu());
    let found = zonecast::zone::check::findings(&origin, &parsed.records, file);
    lap("check", t);
    assert!(found.diagnostics.is_empty());
    let t = (Instant::now(), cpu());
    let zone = Zone::from_records(
        origin.clone(),
        parsed.records.iter().map(|r| r.record.clone()),
    )
    .expect("zone");
    lap("from_records", t);
    let t = (Instant::now(), cpu());
    drop(parsed);
    lap("drop the parse", t);
    drop(text);

    let t = (Instant::now(), cpu());
    let loaded = Arc::new(load_zone_file(path, &origin).expect("load").zone);
    lap("load_zone_file (parse, check | build)", t);
    // Versions are kept to the end: dropping one frees on the reaper thread, which would
    // compete with the phases measured after it.
    let zone = Arc::new(zone);

    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path().join("z.db")).expect("store");
    let t = (Instant::now(), cpu());
    store.commit_full(&zone).expect("commit");
    lap("store commit_full", t);
    let t = (Instant::now(), cpu());
    let back = store.load_zone(&origin).expect("load").expect("stored");
    lap("store load_zone", t);
    assert_eq!(back.record_count(), zone.record_count());

    let t = (Instant::now(), cpu());
    let msgs = axfr::messages(&zone);
    lap("AXFR encode", t);
    let t = (Instant::now(), cpu());
    let mut c = XfrConsumer::axfr(origin.clone(), 1);
    let mut out = None;
    for m in &msgs {
        if let Progress::Done(o) = c.feed(m).expect("valid stream") {
            out = Some(o);
        }
    }
    lap("AXFR decode", t);
    let Some(XfrOutcome::Full { records, .. }) = out else {
        panic!("no full transfer")
    };
    let t = (Instant::now(), cpu());
    let z2 = Zone::from_records(origin.clone(), records).expect("zone");
    lap("AXFR from_records", t);
    assert_eq!(z2.record_count(), zone.record_count());
    assert_eq!(loaded.record_count(), back.record_count());
}
