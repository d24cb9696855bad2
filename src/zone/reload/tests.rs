//! The incremental path against the full one: for random edits of a generated zone file,
//! either the plan falls back, or it gives exactly the version, serial, changeset and
//! snapshot a full reload gives.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::*;
use crate::serial::SerialPolicy;
use crate::zone::edit::{EditError, EditOutcome, finish_edit, prepare_edit};
use crate::zone::load::window::load_zone_file_keeping;
use crate::zone::load::{LoadErrors, LoadedZone};

pub(super) const ORIGIN: &str = "gen.test.";
pub(super) const INCLUDED: &str = "inc1 A 192.0.2.99\ninc2 TXT \"included\"\n";

pub(super) fn origin() -> Name {
    Name::from_str(ORIGIN).unwrap()
}

pub(super) fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_240_800)
}

/// A zone with the features a window must cope with: `$TTL`, `$ORIGIN`, `$INCLUDE` and
/// `$GENERATE` between records, owner-omitted lines, parentheses over lines, comments,
/// explicit and inherited TTLs, a delegation with glue, a DNAME and a CNAME.
fn base_zone(n: usize) -> String {
    let mut s = String::from(
        "; generated\n$TTL 300\n@ 3600 IN SOA ns1 hostmaster (\n\t1 ; serial\n\t3600 600 86400 300 )\n\
         @ NS ns1\n@ NS ns2.other.test.\nns1 A 192.0.2.1\ndeleg NS ns.deleg\nns.deleg A 192.0.2.53\n\
         dn DNAME elsewhere.test.\nalias CNAME h1\n$INCLUDE inc.zone\n",
    );
    for i in 0..n {
        if i == n / 2 {
            s.push_str("$GENERATE 1-5 gen$ A 10.7.7.$\n");
        }
        let (a, b) = (i / 256, i % 256);
        s.push_str(&match i % 7 {
            0 => format!("h{i} A 10.0.{a}.{b}\n"),
            1 => format!("h{i} 600 TXT \"t{i}\"\n  AAAA 2001:db8::{i:x}\n"),
            2 => format!("h{i} MX 10 h{}\n", i - 1),
            3 => format!("h{i} TXT ( \"a{i}\"\n   \"b\" ) ; two strings\n"),
            4 => format!("h{i}.sub A 10.1.{a}.{b}\n\tA 10.3.{a}.{b}\n"),
            5 => format!("  ; comment {i}\n\nh{i} A 10.2.{a}.{b}\n"),
            _ => format!("$ORIGIN sub.gen.test.\nh{i} A 10.4.{a}.{b}\n$ORIGIN gen.test.\n"),
        });
    }
    s
}

pub(super) struct World {
    _dir: tempfile::TempDir,
    pub dir: PathBuf,
    pub path: PathBuf,
    pub current: Zone,
    pub snap: Option<Snapshot>,
}

impl World {
    pub fn new(text: &str) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        std::fs::write(dir.join("inc.zone"), INCLUDED).unwrap();
        let path = dir.join("gen.zone");
        std::fs::write(&path, text).unwrap();
        let (loaded, kept) = load_zone_file_keeping(&path, &origin()).unwrap();
        let snap = Snapshot::new(kept, &loaded.zone).unwrap();
        snap.verify().unwrap();
        World {
            _dir: tmp,
            dir,
            path,
            current: loaded.zone,
            snap: Some(snap),
        }
    }

    pub fn includes(&self) -> Vec<Option<String>> {
        let snap = self.snap.as_ref().unwrap();
        snap.include_paths()
            .map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }

    pub fn plan(&self, text: &str) -> Result<Edit, Fallback> {
        let snap = self.snap.as_ref().expect("a snapshot");
        snap.plan(&self.current, text.as_bytes().to_vec(), &self.includes())
    }
}

/// Every record as text: owner case and TTL included (Record's `==` ignores the TTL).
pub(super) fn shown(recs: &[Record]) -> Vec<String> {
    recs.iter().map(ToString::to_string).collect()
}

#[derive(Debug, Default)]
pub(super) struct Tally {
    pub incremental: usize,
    same: usize,
    fallbacks: BTreeMap<String, usize>,
    full_errors: usize,
}

type Full = Result<(LoadedZone, Kept), LoadErrors>;

/// Saves `text`, reloads both ways, compares, and advances the world as the node would.
/// Returns whether the file loaded.
pub(super) fn step(w: &mut World, text: &str, policy: SerialPolicy, tally: &mut Tally) -> bool {
    std::fs::write(&w.path, text).unwrap();
    let full: Full = load_zone_file_keeping(&w.path, &origin());
    let full_outcome = full
        .as_ref()
        .ok()
        .map(|(l, _)| prepare_edit(policy, &w.current, &l.zone, now()));
    let plan = w.snap.as_ref().map(|_| w.plan(text));
    let mut update = None;
    match plan {
        None => {}
        Some(Err(f)) => {
            let kind = format!("{f:?}");
            let kind = kind.split(['(', ' ']).next().unwrap_or("").to_string();
            *tally.fallbacks.entry(kind).or_default() += 1;
        }
        Some(Ok(edit)) => {
            if edit.changeset.len() == 2 {
                tally.same += 1;
            }
            tally.incremental += 1;
            let (loaded, _) = full.as_ref().unwrap_or_else(|e| {
                panic!("incremental accepted a file the full load rejects: {e}\n{text}")
            });
            for wn in &edit.warnings {
                assert!(
                    loaded.warnings.contains(wn),
                    "warning {wn} not in {:?}",
                    loaded.warnings
                );
            }
            let inc = finish_edit(policy, &w.current, edit.changeset, now());
            compare(&inc, full_outcome.as_ref().unwrap(), text);
            update = Some(edit.update);
        }
    }
    let Ok((loaded, kept)) = full else {
        tally.full_errors += 1;
        return false;
    };
    match full_outcome.unwrap() {
        Err(_) => return true,
        Ok(EditOutcome::New { zone, .. }) => w.current = (*zone).clone(),
        Ok(EditOutcome::Unchanged) => {}
    }
    match (update, w.snap.as_mut()) {
        (Some(u), Some(snap)) => {
            snap.accept(u);
            assert_eq!(snap.text, text.as_bytes());
            if let Err(e) = snap.verify() {
                panic!("snapshot after an incremental step: {e}\n{text}");
            }
            // A fresh snapshot describes the same file.
            let fresh = Snapshot::new(kept, &loaded.zone).unwrap();
            assert_eq!(fresh.file_soa.to_string(), snap.file_soa.to_string());
        }
        _ => w.snap = Snapshot::new(kept, &loaded.zone).ok(),
    }
    true
}

fn compare(
    inc: &Result<EditOutcome, EditError>,
    full: &Result<EditOutcome, EditError>,
    text: &str,
) {
    match (inc, full) {
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (Ok(EditOutcome::Unchanged), Ok(EditOutcome::Unchanged)) => {}
        (
            Ok(EditOutcome::New {
                zone: a,
                changeset: ca,
            }),
            Ok(EditOutcome::New {
                zone: b,
                changeset: cb,
            }),
        ) => {
            assert_eq!(a.serial(), b.serial());
            assert_eq!(
                shown(&a.records_canonical()),
                shown(&b.records_canonical()),
                "{text}"
            );
            assert_eq!(a.record_count(), b.record_count());
            assert_eq!(
                (ca.from_serial, ca.to_serial),
                (cb.from_serial, cb.to_serial)
            );
            assert_eq!(shown(&ca.removed), shown(&cb.removed), "{text}");
            assert_eq!(shown(&ca.added), shown(&cb.added), "{text}");
        }
        _ => panic!("incremental {inc:?} but full {full:?}\n{text}"),
    }
}

/// One random edit of the file's lines.
fn edit(rng: &mut SmallRng, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let at = rng.random_range(0..=lines.len());
    let pick = rng.random_range(0..lines.len().max(1));
    let r = rng.random_range(0..100_000u32);
    let (x, y) = (rng.random_range(0..256u32), rng.random_range(0..256u32));
    let owner = format!("h{}", rng.random_range(0..140u32));
    let line = |i: usize| lines.get(i).cloned().unwrap_or_default();
    match rng.random_range(0..24u32) {
        0..=3 => {
            // Change an address.
            if let Some(i) =
                (0..lines.len()).find(|i| lines[(pick + i) % lines.len()].contains(" A 10."))
            {
                let i = (pick + i) % lines.len();
                let l = &lines[i];
                let cut = l.rfind('.').unwrap();
                lines[i] = format!("{}.{}", &l[..cut], (x + 1) % 256);
            }
        }
        4 => lines.insert(at, format!("new{r} A 10.9.{x}.{y}")),
        5 => lines.insert(at, format!("  TXT \"cont{r}\"")),
        6 => lines.insert(at, format!("{owner} A 10.8.{x}.{y}")),
        7 => lines.insert(at, format!("{owner} 900 A 10.7.{x}.{y}")),
        8 => lines.insert(at, format!("{owner} CNAME h1")),
        9 => lines.insert(at, format!("x{r}.deleg A 192.0.2.{x}")),
        10 => lines.insert(at, format!("x{r}.dn A 192.0.2.{x}")),
        11 => lines.insert(at, "@ NS ns3.other.test.".into()),
        12 => lines.insert(at, "$TTL 120".into()),
        13 => lines.insert(at, format!("bad{r} A 999.1.1.{x}")),
        14 => lines.insert(at, format!("; comment {r}")),
        15 => lines.insert(at, format!("p{r} TXT ( \"a\"\n  \"b{x}\" )")),
        16 => {
            let dup = line(pick);
            lines.insert(at, dup);
        }
        17 => {
            if pick < lines.len() {
                lines.remove(pick);
            }
        }
        18 => {
            // Bump (or not) the serial.
            if let Some(i) = lines.iter().position(|l| l.ends_with("; serial")) {
                let n: u32 = lines[i].trim().split(' ').next().unwrap().parse().unwrap();
                lines[i] = format!("\t{} ; serial", n + rng.random_range(0..3u32));
            }
        }
        19 => {
            if let Some(i) = lines.iter().position(|l| l.ends_with("86400 300 )")) {
                lines[i] = format!("\t{} 600 86400 300 )", 3000 + x);
            }
        }
        20 => {
            // A TTL on a record that had none.
            let l = line(pick);
            if let Some((o, rest)) = l.split_once(' ')
                && o.starts_with('h')
            {
                lines[pick] = format!("{o} {} {rest}", 60 + x);
            }
        }
        21 => {
            // Rename an owner.
            let l = line(pick);
            if l.starts_with('h') {
                lines[pick] = l.replacen(' ', "x ", 1);
            }
        }
        22 => lines.insert(at, format!("out{r}.other.test. A 192.0.2.{x}")),
        _ => {
            if let Some(i) = lines.iter().position(|l| l.starts_with("ns1 A")) {
                lines[i] = format!("ns1 A 192.0.2.{x}");
            }
        }
    }
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

#[test]
fn random_edits_match_a_full_reload() {
    // About 190 entries: several checkpoints, so windows start and end at all kinds.
    let base = base_zone(140);
    let mut w = World::new(&base);
    let mut rng = SmallRng::seed_from_u64(0x5eed_2026);
    let mut tally = Tally::default();
    let mut good = base.clone();
    for round in 0..250 {
        let policy = match rng.random_range(0..10u32) {
            0 => SerialPolicy::Keep,
            1 => SerialPolicy::Unixtime,
            2 => SerialPolicy::Dateserial,
            _ => SerialPolicy::Increment,
        };
        let mut text = good.clone();
        for _ in 0..rng.random_range(1..=3u32) {
            text = edit(&mut rng, &text);
        }
        if round % 50 == 49 {
            text = base.clone();
        }
        if step(&mut w, &text, policy, &mut tally) {
            good = text;
        }
        if w.snap.is_none() {
            // A file the snapshot cannot describe (duplicates, mixed TTLs): start over.
            w = World::new(&base);
            good = base.clone();
        }
    }
    eprintln!("{tally:?}");
    assert!(tally.incremental >= 80, "{tally:?}");
    assert!(tally.fallbacks.len() >= 6, "{tally:?}");
    assert!(tally.full_errors > 0, "{tally:?}");
}
