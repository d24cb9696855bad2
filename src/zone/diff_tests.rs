use super::*;
use hickory_proto::rr::rdata::{A, SOA, TXT};
use std::collections::BTreeSet;
use std::str::FromStr;

pub(crate) fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

pub(crate) fn soa(serial: u32) -> Record {
    Record::from_rdata(
        n("example.test."),
        3600,
        RData::SOA(SOA::new(
            n("ns1.example.test."),
            n("hostmaster.example.test."),
            serial,
            7200,
            900,
            1209600,
            300,
        )),
    )
}

pub(crate) fn a(name: &str, ttl: u32, last: u8) -> Record {
    Record::from_rdata(n(name), ttl, RData::A(A::new(192, 0, 2, last)))
}

fn zone(serial: u32, recs: Vec<Record>) -> Zone {
    let mut all = vec![soa(serial)];
    all.extend(recs);
    Zone::from_records(n("example.test."), all).unwrap()
}

/// Everything observable about a version: its records (as a set) and its node names,
/// empty non-terminals included.
fn contents(z: &Zone) -> (BTreeSet<String>, BTreeSet<String>) {
    let recs = z
        .records_canonical()
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r.name.to_lowercase(),
                r.ttl,
                r.record_type(),
                r.data
            )
        })
        .collect();
    // With each node's child count, which apply maintains and from_records computes.
    let names = z
        .nodes()
        .map(|(k, node)| format!("{k} {}", node.children))
        .collect();
    (recs, names)
}

#[test]
fn identical_versions_differ_only_by_nothing() {
    let z1 = zone(1, vec![a("www.example.test.", 60, 1)]);
    let z2 = zone(1, vec![a("WWW.example.test.", 60, 1)]);
    let cs = diff(&z1, &z2);
    assert_eq!(cs.removed.len(), 1);
    assert_eq!(cs.added.len(), 1);
    assert!(!cs.content_changed());
    // A serial-only change is not a content change either.
    let z3 = zone(2, vec![a("www.example.test.", 60, 1)]);
    let cs = diff(&z1, &z3);
    assert_eq!((cs.from_serial, cs.to_serial), (1, 2));
    assert!(!cs.content_changed());
    assert_eq!(contents(&apply(&z1, &cs).unwrap()), contents(&z3));
}

#[test]
fn diff_reports_adds_removes_and_ttl_changes_in_ixfr_shape() {
    let old = zone(
        1,
        vec![
            a("www.example.test.", 60, 1),
            a("www.example.test.", 60, 2),
            a("gone.example.test.", 60, 3),
            a("ttl.example.test.", 60, 4),
        ],
    );
    let new = zone(
        2,
        vec![
            a("www.example.test.", 60, 1),
            a("www.example.test.", 60, 9),
            a("new.example.test.", 60, 5),
            a("ttl.example.test.", 120, 4),
        ],
    );
    let cs = diff(&old, &new);
    assert!(cs.content_changed());
    assert_eq!(cs.removed[0], soa(1));
    assert_eq!(cs.added[0], soa(2));
    let show = |v: &[Record]| v[1..].iter().map(|r| r.to_string()).collect::<Vec<_>>();
    assert_eq!(
        show(&cs.removed),
        vec![
            a("gone.example.test.", 60, 3).to_string(),
            a("ttl.example.test.", 60, 4).to_string(),
            a("www.example.test.", 60, 2).to_string(),
        ]
    );
    assert_eq!(
        show(&cs.added),
        vec![
            a("new.example.test.", 60, 5).to_string(),
            a("ttl.example.test.", 120, 4).to_string(),
            a("www.example.test.", 60, 9).to_string(),
        ]
    );
    let applied = apply(&old, &cs).unwrap();
    assert_eq!(applied.serial(), 2);
    assert_eq!(applied.record_count(), new.record_count());
    assert_eq!(contents(&applied), contents(&new));
}

#[test]
fn apply_refuses_inconsistent_history() {
    let z = zone(5, vec![a("www.example.test.", 60, 1)]);
    let mk = |from: u32, removed: Vec<Record>, added: Vec<Record>| Changeset {
        from_serial: from,
        to_serial: from + 1,
        removed: [vec![soa(from)], removed].concat(),
        added: [vec![soa(from + 1)], added].concat(),
    };
    assert!(matches!(
        apply(&z, &mk(4, vec![], vec![])),
        Err(DiffError::SerialMismatch {
            expected: 5,
            found: 4,
            ..
        })
    ));
    let e = apply(&z, &mk(5, vec![a("www.example.test.", 60, 2)], vec![])).unwrap_err();
    assert!(matches!(e, DiffError::MissingRecord { .. }), "{e}");
    assert!(e.to_string().contains("inconsistent history"));
    let e = apply(&z, &mk(5, vec![], vec![a("www.example.test.", 60, 1)])).unwrap_err();
    assert!(matches!(e, DiffError::DuplicateRecord { .. }), "{e}");
    let e = apply(&z, &mk(5, vec![], vec![a("www.other.test.", 60, 1)])).unwrap_err();
    assert!(matches!(e, DiffError::Malformed { .. }), "{e}");
    // The old SOA must be the one being served, not just carry its serial.
    let mut cs = mk(5, vec![], vec![]);
    cs.removed[0].ttl = 1;
    let mut wrong = cs.removed[0].clone();
    if let RData::SOA(s) = &mut wrong.data {
        s.refresh = 1;
    }
    cs.removed[0] = wrong;
    assert!(matches!(
        apply(&z, &cs),
        Err(DiffError::MissingRecord { .. })
    ));
    // The zone it was applied to is untouched.
    assert_eq!(z.serial(), 5);
    assert_eq!(z.record_count(), 2);
}

#[test]
fn apply_maintains_empty_non_terminals() {
    let base = zone(
        1,
        vec![
            a("a.b.c.example.test.", 60, 1),
            a("x.c.example.test.", 60, 2),
        ],
    );
    let children = |z: &Zone, name: &str| z.node(&LowerName::new(&n(name))).map(|x| x.children);
    assert_eq!(children(&base, "example.test."), Some(1));
    assert_eq!(children(&base, "c.example.test."), Some(2));
    assert_eq!(children(&base, "b.c.example.test."), Some(1));
    assert_eq!(children(&base, "a.b.c.example.test."), Some(0));
    let target = zone(2, vec![a("x.c.example.test.", 60, 2)]);
    let cs = diff(&base, &target);
    let applied = apply(&base, &cs).unwrap();
    assert!(
        applied
            .node(&LowerName::new(&n("b.c.example.test.")))
            .is_none()
    );
    assert!(
        applied
            .node(&LowerName::new(&n("c.example.test.")))
            .is_some()
    );
    assert_eq!(contents(&applied), contents(&target));

    // And back: the deep name brings its empty non-terminals with it.
    let cs = diff(&target, &zone(3, vec![a("p.q.r.example.test.", 60, 1)]));
    let applied = apply(&target, &cs).unwrap();
    assert!(
        applied
            .node(&LowerName::new(&n("q.r.example.test.")))
            .unwrap()
            .is_empty_non_terminal()
    );
    assert!(
        applied
            .node(&LowerName::new(&n("c.example.test.")))
            .is_none()
    );
}

#[test]
fn condense_cancels_records_added_then_removed() {
    let z1 = zone(1, vec![a("keep.example.test.", 60, 1)]);
    let z2 = zone(
        2,
        vec![
            a("keep.example.test.", 60, 1),
            a("tmp.example.test.", 60, 2),
        ],
    );
    let z3 = zone(
        3,
        vec![
            a("keep.example.test.", 60, 1),
            a("new.example.test.", 60, 3),
        ],
    );
    let z4 = zone(
        4,
        vec![
            a("keep.example.test.", 30, 1),
            a("new.example.test.", 60, 3),
        ],
    );
    let steps = [diff(&z1, &z2), diff(&z2, &z3), diff(&z3, &z4)];
    let c = condense(&n("example.test."), &steps).unwrap();
    assert_eq!((c.from_serial, c.to_serial), (1, 4));
    assert_eq!(c.removed[0], soa(1));
    assert_eq!(c.added[0], soa(4));
    let shown: Vec<String> = c.added[1..].iter().map(|r| r.to_string()).collect();
    assert!(!shown.iter().any(|s| s.contains("tmp")), "{shown:?}");
    assert_eq!(c.removed.len(), 2, "old SOA and keep@60: {:?}", c.removed);
    assert_eq!(c.added.len(), 3, "new SOA, new, keep@30: {:?}", c.added);
    assert_eq!(contents(&apply(&z1, &c).unwrap()), contents(&z4));

    // A record removed and put back unchanged vanishes from the condensed form.
    let back = condense(
        &n("example.test."),
        &[
            diff(&z1, &z2),
            diff(&z2, &zone(5, vec![a("keep.example.test.", 60, 1)])),
        ],
    )
    .unwrap();
    assert_eq!(back.len(), 2, "{back:?}");

    let gap = condense(&n("example.test."), &[diff(&z1, &z2), diff(&z3, &z4)]);
    assert!(matches!(
        gap,
        Err(DiffError::NotConsecutive { to: 2, from: 3, .. })
    ));
}

#[test]
fn set_serial_rewrites_the_soa() {
    let z = zone(7, vec![a("www.example.test.", 60, 1)]);
    let z2 = set_serial(z.clone(), 9);
    assert_eq!(z2.serial(), 9);
    assert!(matches!(&z2.soa().rdata[0], RData::SOA(s) if s.serial == 9));
    assert_eq!(z.serial(), 7, "the original version is not touched");
    let mut cs = diff(&z, &zone(7, vec![a("www.example.test.", 60, 2)]));
    cs.set_to_serial(8);
    let next = apply(&z, &cs).unwrap();
    assert_eq!(next.serial(), 8);
    assert!(matches!(&next.soa().rdata[0], RData::SOA(s) if s.serial == 8));
}

/// A small deterministic generator (xorshift) so the property test needs no seeding API.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_record(g: &mut Gen) -> Record {
    let depth = g.below(3);
    let mut name = format!("h{}", g.below(40));
    for _ in 0..depth {
        name = format!("{name}.d{}", g.below(3));
    }
    let name = n(&format!("{name}.example.test."));
    let ttl = [60, 300][g.below(2) as usize];
    if g.below(4) == 0 {
        Record::from_rdata(
            name,
            ttl,
            RData::TXT(TXT::new(vec![format!("t{}", g.below(5))])),
        )
    } else {
        Record::from_rdata(name, ttl, RData::A(A::new(10, 0, 0, g.below(6) as u8)))
    }
}

/// Random edits, diff, apply: the result must equal the target version, over many steps,
/// and condensing all the steps must give the same final version.
#[test]
fn random_edits_diff_then_apply_reaches_the_target() {
    for seed in 1..=12u64 {
        let mut g = Gen(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut recs: Vec<Record> = (0..150).map(|_| random_record(&mut g)).collect();
        // Keep one TTL per RRset, as the loader guarantees, so TTL changes are whole-set.
        let mut cur = zone(1, recs.clone());
        let first = cur.clone();
        let mut steps = Vec::new();
        for serial in 2..30u32 {
            for _ in 0..g.below(12) {
                match g.below(3) {
                    0 if !recs.is_empty() => {
                        let i = g.below(recs.len() as u64) as usize;
                        recs.swap_remove(i);
                    }
                    1 if !recs.is_empty() => {
                        // Retime a whole RRset.
                        let i = g.below(recs.len() as u64) as usize;
                        let (nm, ty) = (recs[i].name.clone(), recs[i].record_type());
                        let ttl = recs[i].ttl + 1;
                        for r in recs.iter_mut() {
                            if r.name == nm && r.record_type() == ty {
                                r.ttl = ttl;
                            }
                        }
                    }
                    _ => recs.push(random_record(&mut g)),
                }
            }
            // Normalise RRset TTLs to the first one seen, as Zone::from_records does.
            let target = zone(serial, recs.clone());
            let cs = diff(&cur, &target);
            let next =
                apply(&cur, &cs).unwrap_or_else(|e| panic!("seed {seed} step {serial}: {e}"));
            assert_eq!(next.record_count(), target.record_count(), "seed {seed}");
            assert_eq!(
                contents(&next),
                contents(&target),
                "seed {seed} step {serial}"
            );
            // Diffing the applied version against the target finds nothing.
            assert!(!diff(&next, &target).content_changed());
            steps.push(cs);
            cur = next;
        }
        let all = condense(&n("example.test."), &steps).unwrap();
        assert_eq!(
            contents(&apply(&first, &all).unwrap()),
            contents(&cur),
            "seed {seed}"
        );
    }
}

/// Zones large enough to be sharded: the next version shares the shards a changeset does
/// not touch, and diff/apply still agree with a version built from scratch.
#[test]
fn sharded_versions_share_untouched_shards() {
    let host = |i: u32, last: u8| a(&format!("h{i}.example.test."), 60, last);
    let base: Vec<Record> = (0..10_000).map(|i| host(i, 1)).collect();
    let old = zone(1, base.clone());
    let shards = old.nodes.shards().len();
    assert_eq!(shards, 16);
    let mut edited = base;
    edited[17] = host(17, 2);
    edited.swap_remove(99);
    edited.push(a("deep.new.example.test.", 60, 3));
    let target = zone(2, edited);
    let cs = diff(&old, &target);
    assert_eq!(cs.len(), 2 + 4, "{cs:?}");
    let next = apply(&old, &cs).unwrap();
    assert_eq!(contents(&next), contents(&target));
    let shared = old
        .nodes
        .shards()
        .iter()
        .zip(next.nodes.shards())
        .filter(|(a, b)| Arc::ptr_eq(a, b))
        .count();
    // At most 5 names changed (the SOA's apex, h17, h99, and the two new names).
    assert!(shared >= shards - 5, "{shared} of {shards} shared");
    // Back again, through the shared-shard path of diff.
    let back = diff(&next, &old);
    assert_eq!(contents(&apply(&next, &back).unwrap()), contents(&old));
}

/// This thread's CPU time: the machine running the benches is shared, so wall time alone
/// says little.
pub(crate) fn cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f`, printing its wall and CPU time.
pub(crate) fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let (wall, cpu) = (std::time::Instant::now(), cpu_time());
    let out = f();
    eprintln!(
        "{what}: wall {:?}, cpu {:?}",
        wall.elapsed(),
        cpu_time() - cpu
    );
    out
}

/// Measures (does not assert) diff and apply for a one-record change in a 1,000,000-record
/// zone: `cargo test --release --lib -- --ignored --nocapture diff_one_million`.
#[test]
#[ignore]
fn diff_one_million() {
    let mk = |serial: u32, changed: u8| {
        let mut v = vec![soa(serial)];
        for i in 0..1_000_000u32 {
            let last = if i == 4242 { changed } else { (i % 250) as u8 };
            v.push(Record::from_rdata(
                n(&format!("host{i}.example.test.")),
                3600,
                RData::A(A::new(10, (i >> 16) as u8, (i >> 8) as u8, last)),
            ));
        }
        v
    };
    let (r1, r2) = (mk(1, 1), mk(2, 2));
    let old = timed("from_records 1M", || {
        Zone::from_records(n("example.test."), r1).unwrap()
    });
    let new = Zone::from_records(n("example.test."), r2).unwrap();
    let cs = timed("diff, independently built versions", || diff(&old, &new));
    let applied = timed("apply one-record changeset", || apply(&old, &cs).unwrap());
    let cs2 = timed("diff, versions sharing RRsets", || diff(&old, &applied));
    assert_eq!(cs2.len(), cs.len());
    assert_eq!(cs.len(), 4);
    // Deleting a name makes apply look for children of the emptied node.
    let mut del = diff(&old, &applied);
    del.removed.push(a("host5.example.test.", 3600, 0).clone());
    del.removed.last_mut().unwrap().data = RData::A(A::new(10, 0, 0, 5));
    let gone = timed("apply a changeset deleting a name", || {
        apply(&old, &del).unwrap()
    });
    assert!(
        gone.node(&LowerName::new(&n("host5.example.test.")))
            .is_none()
    );
}
