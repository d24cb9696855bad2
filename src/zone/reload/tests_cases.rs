//! The incremental path case by case: each condition a window cannot judge falls back,
//! and the edits it must handle (two places at once, beside an include, after a dynamic
//! update) give what a full reload gives.

use std::str::FromStr;
use std::sync::Arc;

use hickory_proto::rr::{LowerName, RecordType};

use super::tests::{INCLUDED, Tally, World, now, origin, shown, step};
use super::*;
use crate::serial::SerialPolicy;
use crate::zone::edit::{EditOutcome, prepare_edit};
use crate::zone::load::window::{MARK_EVERY, load_zone_file_keeping};

/// A small zone with a delegation, a DNAME, a CNAME, an include, and filler records
/// after them so that the file has several checkpoints.
fn small_zone() -> String {
    let mut s = String::from(
        "$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\n\
         www A 192.0.2.80\n  TXT \"web\"\nmail MX 10 www\nalias CNAME www\n\
         deleg NS ns.deleg\nns.deleg A 192.0.2.53\ndn DNAME elsewhere.test.\n$INCLUDE inc.zone\n",
    );
    for i in 0..200 {
        s.push_str(&format!("h{i} A 10.0.0.{}\n", i % 250));
    }
    s
}

fn fallback(w: &World, text: &str) -> Fallback {
    match w.plan(text) {
        Ok(e) => panic!("no fallback for\n{text}\nchangeset {:?}", e.changeset),
        Err(f) => f,
    }
}

#[test]
fn each_condition_a_window_cannot_judge_falls_back() {
    let base = small_zone();
    let w = World::new(&base);
    let with = |from: &str, to: &str| {
        assert!(base.contains(from), "{from}");
        base.replacen(from, to, 1)
    };
    let www = "www A 192.0.2.80\n";
    type Expect = fn(&Fallback) -> bool;
    let cases: Vec<(String, Expect)> = vec![
        (
            with(www, "www A 192.0.2.80\n$GENERATE 1-3 g$ A 10.0.0.$\n"),
            |f| matches!(f, Fallback::Directive { line: 6 }),
        ),
        (
            with(www, "$INCLUDE inc.zone sub\nwww A 192.0.2.80\n"),
            |f| matches!(f, Fallback::IncludesChanged),
        ),
        (with("$INCLUDE inc.zone\n", "www A 192.0.2.81\n"), |f| {
            matches!(f, Fallback::IncludesChanged)
        }),
        (with(www, "$INCLUDE other.zone\nwww A 192.0.2.80\n"), |f| {
            matches!(f, Fallback::Directive { line: 5 })
        }),
        (with(www, "www A 192.0.2.80\nh7 A 10.0.0.7\n"), |f| {
            matches!(f, Fallback::Duplicate(RecordType::A, _))
        }),
        (
            with(www, "www A 192.0.2.80\nnew A 10.1.1.1\nnew A 10.1.1.1\n"),
            |f| matches!(f, Fallback::Duplicate(RecordType::A, _)),
        ),
        (with(www, "www A 192.0.2.80\nwww 60 A 192.0.2.81\n"), |f| {
            matches!(f, Fallback::MixedTtl(RecordType::A, _))
        }),
        (
            with("  TXT \"web\"\n", "  TXT \"web\"\n  60 A 192.0.2.81\n"),
            |f| matches!(f, Fallback::MixedTtl(RecordType::A, n) if n.to_string() == "www.gen.test."),
        ),
        (
            with("mail MX 10 www\n", "mail MX 10 www\nwww CNAME mail\n"),
            |f| matches!(f, Fallback::Check(m) if m.contains("CNAME and other data")),
        ),
        (
            with("alias CNAME www\n", "alias CNAME www\nalias TXT \"x\"\n"),
            |f| matches!(f, Fallback::Check(m) if m.contains("CNAME and other data")),
        ),
        (
            with("alias CNAME www\n", "alias CNAME www\nalias CNAME mail\n"),
            |f| matches!(f, Fallback::Check(m) if m.contains("multiple CNAME")),
        ),
        (
            with("@ NS ns1\n", "@ NS ns1\n@ NS ns2.other.test.\n"),
            |f| matches!(f, Fallback::Type(RecordType::NS, _)),
        ),
        (
            with("ns.deleg A 192.0.2.53\n", "ns.deleg A 192.0.2.54\n"),
            |f| matches!(f, Fallback::Check(m) if m.contains("NS target")),
        ),
        (
            with(
                "ns.deleg A 192.0.2.53\n",
                "ns.deleg A 192.0.2.53\nx.deleg TXT \"hidden\"\n",
            ),
            |f| matches!(f, Fallback::Check(m) if m.contains("delegation")),
        ),
        (
            with(
                "dn DNAME elsewhere.test.\n",
                "dn DNAME elsewhere.test.\nx.dn A 10.2.2.2\n",
            ),
            |f| matches!(f, Fallback::Check(m) if m.contains("below a DNAME")),
        ),
        (
            with("dn DNAME elsewhere.test.\n", "dn DNAME other.test.\n"),
            |f| matches!(f, Fallback::Type(RecordType::DNAME, _)),
        ),
        (
            with("ns1 A 192.0.2.1\n", "ns1 A 192.0.2.2\n"),
            |f| matches!(f, Fallback::Check(m) if m.contains("NS target")),
        ),
        (
            with(www, "www A 192.0.2.80\nwww SOA ns1 hostmaster 1 2 3 4 5\n"),
            |f| matches!(f, Fallback::Soa),
        ),
        (
            with(
                "@ SOA ns1 hostmaster 1 3600 600 86400 300\n",
                "@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ SOA ns1 hostmaster 2 3600 600 86400 300\n",
            ),
            |f| matches!(f, Fallback::Soa),
        ),
        (
            with(
                www,
                "www A 192.0.2.80\nwww RRSIG A 8 3 300 20300101000000 20200101000000 1 gen.test. AAAA\n",
            ),
            |f| matches!(f, Fallback::Type(RecordType::RRSIG, _)),
        ),
    ];
    for (text, expected) in cases {
        let f = fallback(&w, &text);
        assert!(expected(&f), "{f:?} for\n{text}");
    }
    // Rewriting most of a file is a full load's job (past a floor that small files
    // never reach).
    let mut big = World::new(&base);
    let rewrite = base.replace(" A 10.0.0.", " A 10.9.0.");
    assert!(big.plan(&rewrite).is_ok());
    big.snap.as_mut().unwrap().budget_floor = 0;
    assert!(matches!(fallback(&big, &rewrite), Fallback::LargeEdit));

    // Bytes that are not UTF-8 in the changed lines (the full load says where).
    let mut bad = with(www, "www A 192.0.2.81\n").into_bytes();
    let at = bad.windows(4).position(|b| b == b"0.81").unwrap();
    bad.insert(at, 0xff);
    let snap = w.snap.as_ref().unwrap();
    let f = snap.plan(&w.current, bad, &w.includes()).unwrap_err();
    assert!(matches!(f, Fallback::NotUtf8), "{f:?}");

    // An included file that changed.
    std::fs::write(w.dir.join("inc.zone"), "inc1 A 192.0.2.98\n").unwrap();
    let f = fallback(&w, &with(www, "www A 192.0.2.81\n"));
    assert!(
        matches!(&f, Fallback::Include(p) if p.ends_with("inc.zone")),
        "{f:?}"
    );
}

#[test]
fn a_ttl_change_of_a_whole_rrset_and_a_two_place_edit_are_incremental() {
    let base = small_zone();
    let mut w = World::new(&base);
    // The TTL of a one-record RRset, the serial at the top and a record far below: two
    // windows, each a checkpoint or two wide.
    let text = base
        .replacen("mail MX 10 www\n", "mail 60 MX 10 www\n", 1)
        .replacen("hostmaster 1 ", "hostmaster 2 ", 1)
        .replacen("h150 A 10.0.0.150\n", "h150 A 10.0.1.150\n", 1);
    let mut tally = Tally::default();
    let edit = w.plan(&text).unwrap();
    assert_eq!(edit.update.windows.len(), 2, "{:?}", edit.update.windows);
    for win in &edit.update.windows {
        assert!(win.end - win.start <= 2, "{win:?}");
    }
    assert!(step(&mut w, &text, SerialPolicy::Increment, &mut tally));
    assert_eq!(tally.incremental, 1, "{tally:?}");
    assert_eq!(w.current.serial(), 2);
    let mail = w
        .current
        .node(&LowerName::from_str("mail.gen.test.").unwrap());
    assert_eq!(mail.unwrap().get(RecordType::MX).unwrap().ttl, 60);
}

#[test]
fn a_syntax_error_is_a_fallback_and_the_full_load_places_it() {
    let base = small_zone();
    let w = World::new(&base);
    // Two lines inserted at the top shift the error's line in the second window.
    let text = format!(
        "; edited\n; twice\n{}",
        base.replacen("h120 A 10.0.0.120", "h120 A 10.0.0.400", 1)
    );
    let line = text.lines().position(|l| l.starts_with("h120 ")).unwrap() + 1;
    match fallback(&w, &text) {
        Fallback::Syntax(d) => {
            assert_eq!((d.line, d.column), (line, 8), "{d}");
            assert!(d.file.ends_with("gen.zone"), "{d}");
        }
        f => panic!("{f:?}"),
    }
    std::fs::write(&w.path, &text).unwrap();
    let e = crate::zone::load::load_zone_file(&w.path, &origin()).unwrap_err();
    assert!(
        e.to_string().contains(&format!("gen.zone:{line}:8: error")),
        "{e}"
    );
}

#[test]
fn an_owner_change_that_runs_on_through_owner_less_lines_falls_back() {
    // More owner-less lines than a window may grow over.
    let mut base = small_zone();
    base.push_str("long A 10.5.5.5\n");
    for i in 0..(MAX_WIDEN + 2) * MARK_EVERY {
        base.push_str(&format!("  TXT \"line {i}\"\n"));
    }
    base.push_str("end A 10.6.6.6\n");
    let w = World::new(&base);
    let text = base.replacen("long A", "longer A", 1);
    assert!(matches!(fallback(&w, &text), Fallback::StateDiverges));
    // A change that keeps the owner stays incremental.
    let text = base.replacen("long A 10.5.5.5", "long A 10.5.5.6", 1);
    assert_eq!(w.plan(&text).unwrap().changeset.len(), 4);
}

#[test]
fn files_a_window_cannot_describe_keep_no_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("inc.zone"), INCLUDED).unwrap();
    let path = tmp.path().join("z.zone");
    for (text, why) in [
        (
            format!("{}www A 192.0.2.80\n", small_zone()),
            NotKept::Duplicates,
        ),
        (
            format!("{}www 60 A 192.0.2.81\n", small_zone()),
            NotKept::MixedTtls,
        ),
    ] {
        std::fs::write(&path, text).unwrap();
        let (loaded, kept) = load_zone_file_keeping(&path, &origin()).unwrap();
        assert_eq!(Snapshot::new(kept, &loaded.zone).unwrap_err(), why);
    }
}

#[test]
fn an_edit_beside_an_include_reads_the_kept_include() {
    let base = small_zone();
    let mut w = World::new(&base);
    // Right before the `$INCLUDE`: the previous owner differs there, so the window grows
    // over the include (parsed from the kept text) to the record after it.
    let text = base.replacen(
        "$INCLUDE inc.zone\n",
        "z A 10.2.2.2\n$INCLUDE inc.zone\n",
        1,
    );
    let edit = w.plan(&text).unwrap();
    assert_eq!(
        shown(&edit.changeset.added[1..]),
        ["z.gen.test. 300 IN A 10.2.2.2"]
    );
    let mut tally = Tally::default();
    assert!(step(&mut w, &text, SerialPolicy::Increment, &mut tally));
    assert_eq!(tally.incremental, 1);
    // Right after it, exactly at the checkpoint there: an empty old window.
    let text = text.replacen("\nh0 A", "\ny A 10.3.3.3\nh0 A", 1);
    let edit = w.plan(&text).unwrap();
    let wins = &edit.update.windows;
    assert!(wins.iter().any(|u| u.start == u.end), "{wins:?}");
    assert!(step(&mut w, &text, SerialPolicy::Increment, &mut tally));
    assert_eq!(tally.incremental, 2);
    // The include is still served, and still checked on the next reload.
    let inc = w
        .current
        .node(&LowerName::from_str("inc1.gen.test.").unwrap());
    assert!(inc.is_some());
    std::fs::write(w.dir.join("inc.zone"), "inc1 A 192.0.2.98\n").unwrap();
    assert!(matches!(fallback(&w, &text), Fallback::Include(_)));
}

/// Every record as text, sorted: versions built by different `apply` histories may list
/// an RRset's records in another order.
fn sorted(zone: &Zone) -> Vec<String> {
    let mut v = shown(&zone.records_canonical());
    v.sort();
    v
}

#[test]
fn after_a_dynamic_update_the_write_back_is_read_against_the_version_before_it() {
    let base = small_zone();
    let mut w = World::new(&base);
    let before = Arc::new(w.current.clone());
    // An update (serial 2, one A changed, one added) and its write-back, as the node
    // does it: the served version moves on, the snapshot remembers the one before.
    let written = base.replacen("hostmaster 1 ", "hostmaster 2 ", 1).replacen(
        "www A 192.0.2.80\n",
        "www A 192.0.2.81\nadded A 10.4.4.4\n",
        1,
    );
    std::fs::write(&w.path, &written).unwrap();
    let (loaded, _) = load_zone_file_keeping(&w.path, &origin()).unwrap();
    let updated = match prepare_edit(SerialPolicy::Increment, &w.current, &loaded.zone, now()) {
        Ok(EditOutcome::New { zone, .. }) => (*zone).clone(),
        other => panic!("{other:?}"),
    };
    w.current = updated;
    let snap = w.snap.as_mut().unwrap();
    snap.rebase(before.clone());
    assert!(Arc::ptr_eq(&snap.base().unwrap(), &before));

    // The reload the write-back triggers: against the old version, nothing new.
    let reload = |w: &World, text: &str| {
        let snap = w.snap.as_ref().unwrap();
        let base = snap.base().unwrap();
        let edit = snap
            .plan(&base, text.as_bytes().to_vec(), &w.includes())
            .unwrap();
        let loaded = crate::zone::diff::apply(&base, &edit.changeset).unwrap();
        let out = prepare_edit(SerialPolicy::Increment, &w.current, &loaded, now()).unwrap();
        (out, edit.update)
    };
    let (out, update) = reload(&w, &written);
    assert!(matches!(out, EditOutcome::Unchanged), "{out:?}");

    // The write-back and a hand edit in one go: the same version as a full reload.
    let edited = written.replacen("h50 A 10.0.0.50\n", "h50 A 10.0.9.50\n", 1);
    std::fs::write(&w.path, &edited).unwrap();
    let (full, _) = load_zone_file_keeping(&w.path, &origin()).unwrap();
    let full = prepare_edit(SerialPolicy::Increment, &w.current, &full.zone, now()).unwrap();
    let (inc, _) = reload(&w, &edited);
    match (inc, full) {
        (
            EditOutcome::New {
                zone: a,
                changeset: ca,
            },
            EditOutcome::New {
                zone: b,
                changeset: cb,
            },
        ) => {
            assert_eq!(a.serial(), 3);
            assert_eq!(sorted(&a), sorted(&b));
            assert_eq!(shown(&ca.removed), shown(&cb.removed));
            assert_eq!(shown(&ca.added), shown(&cb.added));
        }
        other => panic!("{other:?}"),
    }

    // Accepting an edit makes the text describe the served version again.
    let snap = w.snap.as_mut().unwrap();
    snap.accept(update);
    assert!(snap.base().is_none());
    snap.verify().unwrap();
}
