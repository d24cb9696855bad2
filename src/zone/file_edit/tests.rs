use std::str::FromStr;

use hickory_proto::rr::rdata::{A, MX, TXT};

use super::*;
use crate::serial::SerialPolicy;
use crate::zone::load::load_zone_file;

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn a(s: &str) -> RData {
    RData::A(A(s.parse().unwrap()))
}

const ZONE: &str = "\
; the test zone
$ORIGIN example.test.
$TTL 300
@       IN SOA  ns1 hostmaster (
                7          ; serial
                300 60 1209600
                60 )       ; minimum

        IN NS   ns1
ns1     IN A    192.0.2.1   ; the name server
www  30 IN A    192.0.2.10
        IN AAAA 2001:db8::10
; mail
@       IN MX   10 mail
mail    IN A    192.0.2.25
";

struct Fixture {
    dir: tempfile::TempDir,
    main: PathBuf,
}

fn fixture(files: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let main = dir.path().join(files[0].0);
    Fixture { dir, main }
}

fn origin() -> Name {
    n("example.test.")
}

fn open(f: &Fixture) -> ZoneEditor {
    ZoneEditor::open(&f.main, &origin()).unwrap()
}

fn set(f: &Fixture, name: &Name, rtype: RecordType, ttl: Option<u32>, rdata: Vec<RData>) {
    open(f)
        .set(name, rtype, ttl, rdata)
        .unwrap()
        .commit()
        .unwrap();
}

fn del(f: &Fixture, name: &Name, rtype: Option<RecordType>, rdata: &[RData]) {
    open(f)
        .delete(name, rtype, rdata)
        .unwrap()
        .commit()
        .unwrap();
}

fn plan_www(f: &Fixture, addr: &str) -> PlannedEdit {
    let www = n("www.example.test.");
    open(f)
        .set(&www, RecordType::A, None, vec![a(addr)])
        .unwrap()
}

fn read(f: &Fixture, name: &str) -> String {
    std::fs::read_to_string(f.dir.path().join(name)).unwrap()
}

/// ZONE with its serial line replaced.
fn zone_serial(serial: u32) -> String {
    ZONE.replace(
        "7          ; serial",
        &format!("{serial}          ; serial"),
    )
}

#[test]
fn set_updates_single_record_in_place_and_bumps_serial() {
    let f = fixture(&[("z.zone", ZONE)]);
    let p = plan_www(&f, "192.0.2.11");
    assert_eq!((p.old_serial, p.new_serial), (7, 8));
    p.commit().unwrap();
    let want = zone_serial(8).replace("www  30 IN A    192.0.2.10", "www  30 IN A    192.0.2.11");
    assert_eq!(read(&f, "z.zone"), want);
    let z = load_zone_file(&f.main, &origin()).unwrap().zone;
    assert_eq!(z.serial(), 8);
}

#[test]
fn set_with_new_ttl_adds_ttl_token_and_keeps_comment() {
    let f = fixture(&[("z.zone", ZONE)]);
    set(
        &f,
        &n("ns1.example.test."),
        RecordType::A,
        Some(60),
        vec![a("192.0.2.2")],
    );
    let text = read(&f, "z.zone");
    assert!(
        text.contains("ns1     60 IN A    192.0.2.2   ; the name server\n"),
        "{text}"
    );
}

#[test]
fn set_appends_after_its_rrset_or_owner_and_removes_extra_lines() {
    let f = fixture(&[("z.zone", ZONE)]);
    let www = n("www.example.test.");
    // A second A record goes right after the RRset's last line.
    set(
        &f,
        &www,
        RecordType::A,
        None,
        vec![a("192.0.2.10"), a("192.0.2.12")],
    );
    let text = read(&f, "z.zone");
    assert!(
        text.contains("www  30 IN A    192.0.2.10\nwww  30 IN A    192.0.2.12\n        IN AAAA"),
        "{text}"
    );
    // A new type goes after the owner's last line, with the file's $TTL.
    let txt = RData::TXT(TXT::new(vec!["t".into()]));
    set(&f, &www, RecordType::TXT, None, vec![txt]);
    let text = read(&f, "z.zone");
    assert!(
        text.contains("        IN AAAA 2001:db8::10\nwww 300 IN TXT  \"t\"\n; mail"),
        "{text}"
    );
    // Back to one A record: the dropped value's line goes; the AAAA line still inherits
    // www from the line now before it.
    set(&f, &www, RecordType::A, None, vec![a("192.0.2.12")]);
    let text = read(&f, "z.zone");
    assert!(text.contains("ns1     IN A    192.0.2.1   ; the name server\nwww  30 IN A    192.0.2.12\n        IN AAAA"), "{text}");
    assert!(!text.contains("192.0.2.10"), "{text}");
}

#[test]
fn set_new_name_goes_to_end_with_relative_names() {
    let f = fixture(&[("z.zone", ZONE)]);
    let mx = RData::MX(MX::new(5, n("mail.example.test.")));
    set(&f, &n("new.example.test."), RecordType::MX, None, vec![mx]);
    let text = read(&f, "z.zone");
    assert!(
        text.ends_with("mail    IN A    192.0.2.25\nnew 300 IN MX   5 mail\n"),
        "{text}"
    );
}

#[test]
fn unchanged_set_writes_nothing() {
    let f = fixture(&[("z.zone", ZONE)]);
    let p = open(&f)
        .set(
            &n("mail.example.test."),
            RecordType::A,
            None,
            vec![a("192.0.2.25")],
        )
        .unwrap();
    assert!(!p.changed());
    assert_eq!(p.new_serial, 7);
}

#[test]
fn delete_moves_inherited_owner_to_next_line() {
    let f = fixture(&[("z.zone", ZONE)]);
    del(&f, &n("www.example.test."), Some(RecordType::A), &[]);
    let text = read(&f, "z.zone");
    assert!(
        text.contains(
            "ns1     IN A    192.0.2.1   ; the name server\nwww     IN AAAA 2001:db8::10\n"
        ),
        "{text}"
    );
    let z = load_zone_file(&f.main, &origin()).unwrap().zone;
    let www = z.node(&LowerName::new(&n("www.example.test."))).unwrap();
    assert!(www.get(RecordType::AAAA).is_some() && www.get(RecordType::A).is_none());
}

#[test]
fn delete_name_and_nothing_matched() {
    let f = fixture(&[("z.zone", ZONE)]);
    del(&f, &n("www.example.test."), None, &[]);
    let text = read(&f, "z.zone");
    assert!(
        !text.contains("www") && !text.contains("2001:db8::10"),
        "{text}"
    );
    let e = open(&f)
        .delete(&n("www.example.test."), None, &[])
        .unwrap_err();
    assert!(matches!(e, EditError::NothingMatched(_)), "{e}");
    let e = open(&f)
        .delete(&n("mail.example.test."), None, &[a("192.0.2.99")])
        .unwrap_err();
    assert!(matches!(e, EditError::NothingMatched(_)), "{e}");
}

#[test]
fn invalid_edit_is_refused_and_file_untouched() {
    let f = fixture(&[("z.zone", ZONE)]);
    // A CNAME beside other data.
    let cname = RData::CNAME(hickory_proto::rr::rdata::CNAME(n("mail.example.test.")));
    let e = open(&f)
        .set(
            &n("www.example.test."),
            RecordType::CNAME,
            None,
            vec![cname],
        )
        .unwrap_err();
    assert!(matches!(e, EditError::Invalid(_)), "{e}");
    assert!(e.to_string().contains("CNAME"), "{e}");
    // A name outside the zone.
    let e = open(&f)
        .set(
            &n("www.other.test."),
            RecordType::A,
            None,
            vec![a("192.0.2.1")],
        )
        .unwrap_err();
    assert!(e.to_string().contains("not in zone"), "{e}");
    // Deleting the SOA.
    let e = open(&f)
        .delete(&origin(), Some(RecordType::SOA), &[])
        .unwrap_err();
    assert!(
        matches!(e, EditError::Invalid(_) | EditError::Unsupported(_)),
        "{e}"
    );
    assert_eq!(read(&f, "z.zone"), ZONE);
}

#[test]
fn soa_serial_bump_keeps_parenthesised_layout() {
    let f = fixture(&[("z.zone", ZONE)]);
    del(&f, &n("mail.example.test."), None, &[]);
    let text = read(&f, "z.zone");
    assert!(text.contains("@       IN SOA  ns1 hostmaster (\n                8          ; serial\n                300 60 1209600\n                60 )       ; minimum\n"), "{text}");
    // An explicit SOA set with an older serial still moves forward.
    let ed = open(&f);
    let RData::SOA(mut soa) = ed.zone().soa().rdata[0].clone() else {
        panic!()
    };
    soa.serial = 3;
    soa.refresh = 600;
    let p = ed
        .set(&origin(), RecordType::SOA, None, vec![RData::SOA(soa)])
        .unwrap();
    assert_eq!(p.new_serial, 9);
    p.commit().unwrap();
    let text = read(&f, "z.zone");
    assert!(
        text.contains("                9          ; serial\n                600 60 1209600\n"),
        "{text}"
    );
}

#[test]
fn serial_policies() {
    assert_eq!(increment_serial(7, 7), 8);
    assert_eq!(increment_serial(7, 100), 100);
    assert_eq!(increment_serial(7, 3), 8);
    assert_eq!(
        increment_serial(u32::MAX, 5),
        5,
        "5 follows 2^32-1 in RFC 1982 space"
    );
    let f = fixture(&[("z.zone", ZONE)]);
    let www = n("www.example.test.");
    // unixtime: the serial becomes the injected time.
    let t = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let ed = open(&f).with_serial_policy(SerialPolicy::Unixtime, t);
    let p = ed
        .set(&www, RecordType::A, None, vec![a("192.0.2.11")])
        .unwrap();
    assert_eq!(p.new_serial, 1_700_000_000);
    // keep: an edit that does not raise the serial itself is refused.
    let ed = open(&f).with_serial_policy(SerialPolicy::Keep, t);
    let e = ed
        .set(&www, RecordType::A, None, vec![a("192.0.2.11")])
        .unwrap_err();
    assert!(matches!(e, EditError::Serial(_)), "{e}");
}

#[test]
fn include_with_origin_is_edited_where_the_record_lives() {
    let main = "$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 hm 1 2 3 4 5\n  NS ns1\nns1 A 192.0.2.1\n$INCLUDE sub.inc sub\n; after include\nzz TXT \"end\"\n";
    let inc = "; included\nhost A 192.0.2.50 ; in sub\n  TXT \"x\"\n$ORIGIN deeper.sub.example.test.\nh2 A 192.0.2.51\n";
    let f = fixture(&[("example.test.zone", main), ("sub.inc", inc)]);
    let ed = open(&f);
    let p = ed
        .set(
            &n("host.sub.example.test."),
            RecordType::A,
            None,
            vec![a("192.0.2.60")],
        )
        .unwrap();
    p.commit().unwrap();
    assert_eq!(read(&f, "sub.inc"), inc.replace("192.0.2.50", "192.0.2.60"));
    assert!(read(&f, "example.test.zone").contains("@ SOA ns1 hm 2 2 3 4 5\n"));
    // A new record at a name that only lives in the include goes after it there, with a
    // name relative to the origin in effect at that line.
    let txt = RData::TXT(TXT::new(vec!["y".into()]));
    set(
        &f,
        &n("h2.deeper.sub.example.test."),
        RecordType::TXT,
        None,
        vec![txt],
    );
    assert!(
        read(&f, "sub.inc").ends_with("h2 A 192.0.2.51\nh2 300 TXT \"y\"\n"),
        "{}",
        read(&f, "sub.inc")
    );
    // Deleting the include's first record moves its owner to the inherited line.
    del(&f, &n("host.sub.example.test."), Some(RecordType::A), &[]);
    assert!(
        read(&f, "sub.inc").starts_with("; included\nhost TXT \"x\"\n"),
        "{}",
        read(&f, "sub.inc")
    );
}

#[test]
fn multi_line_record_changing_shape_is_rewritten_whole() {
    let z = "$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 hm 1 2 3 4 5\n  NS ns1\nns1 A 192.0.2.1\nt TXT ( \"a\" ; first\n   \"b\" ) ; second\nafter A 192.0.2.9\n";
    let f = fixture(&[("z.zone", z)]);
    let txt = RData::TXT(TXT::new(vec!["only".into()]));
    set(&f, &n("t.example.test."), RecordType::TXT, None, vec![txt]);
    let text = read(&f, "z.zone");
    assert!(
        text.contains("ns1 A 192.0.2.1\nt IN TXT \"only\"\nafter A"),
        "{text}"
    );
    // Same shape: the parenthesised layout and its comments survive.
    let f = fixture(&[("z.zone", z)]);
    let txt = RData::TXT(TXT::new(vec!["a".into(), "c".into()]));
    set(&f, &n("t.example.test."), RecordType::TXT, None, vec![txt]);
    assert!(read(&f, "z.zone").contains("t TXT ( \"a\" ; first\n   \"c\" ) ; second\n"));
}

#[test]
fn generated_records_are_refused() {
    let z = "$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 hm 1 2 3 4 5\n  NS ns1\nns1 A 192.0.2.1\n$GENERATE 1-3 h$ A 192.0.2.$\n";
    let f = fixture(&[("z.zone", z)]);
    let e = open(&f)
        .delete(&n("h2.example.test."), None, &[])
        .unwrap_err();
    assert!(matches!(e, EditError::Unsupported(_)), "{e}");
    assert_eq!(read(&f, "z.zone"), z);
}

#[test]
fn crlf_files_stay_crlf() {
    let z = ZONE.replace('\n', "\r\n");
    let f = fixture(&[("z.zone", &z)]);
    let mx = RData::MX(MX::new(5, n("mail.example.test.")));
    set(&f, &n("new.example.test."), RecordType::MX, None, vec![mx]);
    let text = read(&f, "z.zone");
    assert_eq!(text.matches('\n').count(), text.matches("\r\n").count());
    assert!(text.ends_with("new 300 IN MX   5 mail\r\n"), "{text}");
}

#[test]
fn concurrent_change_aborts_commit() {
    let f = fixture(&[("z.zone", ZONE)]);
    let p = plan_www(&f, "192.0.2.11");
    std::fs::write(&f.main, ZONE.replace("mail    IN A", "mail 60 IN A")).unwrap();
    assert!(matches!(p.commit().unwrap_err(), EditError::Changed(_)));
}

#[test]
fn files_without_ttl_directive_keep_inherited_ttls() {
    // No $TTL: `www` and `mail` take the TTL of the record before them.
    let z = "$ORIGIN example.test.\n@ 3600 SOA ns1 hm 1 2 3 4 5\n  NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\nmail A 192.0.2.3\n";
    let f = fixture(&[("z.zone", z)]);
    let txt = RData::TXT(TXT::new(vec!["x".into()]));
    set(
        &f,
        &n("ns1.example.test."),
        RecordType::TXT,
        Some(60),
        vec![txt],
    );
    del(&f, &n("www.example.test."), None, &[]);
    let text = read(&f, "z.zone");
    assert!(
        text.contains("ns1 60 TXT \"x\"\nmail 3600 A 192.0.2.3\n"),
        "{text}"
    );
    let zone = load_zone_file(&f.main, &origin()).unwrap().zone;
    let mail = zone
        .node(&LowerName::new(&n("mail.example.test.")))
        .unwrap();
    assert_eq!(mail.get(RecordType::A).unwrap().ttl, 3600);
}

#[test]
fn soa_in_an_include_is_bumped_there() {
    let main = "$ORIGIN example.test.\n$TTL 300\n$INCLUDE soa.inc\nwww A 192.0.2.1\n";
    let inc = "; the SOA lives here\n@ SOA ns1 hm (\n   41 ; serial\n   2 3 4 5 )\n  NS ns1\nns1 A 192.0.2.2\n";
    let f = fixture(&[("example.test.zone", main), ("soa.inc", inc)]);
    set(
        &f,
        &n("www.example.test."),
        RecordType::A,
        None,
        vec![a("192.0.2.9")],
    );
    assert_eq!(
        read(&f, "soa.inc"),
        inc.replace("41 ; serial", "42 ; serial")
    );
    assert_eq!(
        read(&f, "example.test.zone"),
        main.replace("192.0.2.1", "192.0.2.9")
    );
}

#[test]
fn inherited_owner_across_origin_change_is_written_relative_to_the_new_origin() {
    let z = "$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 hm 1 2 3 4 5\n  NS ns1\nns1 A 192.0.2.1\nhost.sub A 192.0.2.3 ; first\n$ORIGIN sub.example.test.\n  TXT \"inherits host.sub\"\nother A 192.0.2.4\n";
    let f = fixture(&[("z.zone", z)]);
    del(&f, &n("host.sub.example.test."), Some(RecordType::A), &[]);
    let text = read(&f, "z.zone");
    assert!(
        text.contains("$ORIGIN sub.example.test.\nhost TXT \"inherits host.sub\"\nother"),
        "{text}"
    );
}

#[test]
fn deleting_a_multi_line_record_and_editing_wildcards_and_escapes() {
    let z = "$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 hm 1 2 3 4 5\n  NS ns1\nns1 A 192.0.2.1\nbig TXT ( \"one\" ; c1\n  \"two\" ) ; c2\n    A 192.0.2.5\n*.wild TXT \"say \\\"hi\\\"\"\n";
    let f = fixture(&[("z.zone", z)]);
    del(&f, &n("big.example.test."), Some(RecordType::TXT), &[]);
    let text = read(&f, "z.zone");
    assert!(
        text.contains("ns1 A 192.0.2.1\nbig A 192.0.2.5\n*.wild"),
        "{text}"
    );
    let quoted = RData::TXT(TXT::new(vec!["say \"bye\"".into()]));
    set(
        &f,
        &n("*.wild.example.test."),
        RecordType::TXT,
        None,
        vec![quoted],
    );
    assert!(read(&f, "z.zone").ends_with("*.wild TXT \"say \\\"bye\\\"\"\n"));
}

/// Every RRset of every shipped zone can be deleted, re-timed and (for addresses)
/// changed without the renderer giving up: the plan either validates and reloads as
/// exactly the intended zone, or the loader refuses it for a semantic reason.
#[test]
fn every_rrset_of_the_shipped_zones_is_editable() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    let mut planned = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "zone") {
            continue;
        }
        let origin = crate::cli::check::origin_from_path(&path).unwrap();
        let ed = ZoneEditor::open(&path, &origin).unwrap();
        for set in ed.zone().rrsets_canonical() {
            if set.rtype == RecordType::SOA {
                continue;
            }
            let what = format!("{} {} in {}", set.name, set.rtype, path.display());
            match ed.delete(&set.name, Some(set.rtype), &[]) {
                Ok(p) => assert!(p.changed(), "{what}"),
                Err(EditError::Invalid(_)) => {}
                Err(e) => panic!("delete {what}: {e}"),
            }
            let retimed = ed.set(&set.name, set.rtype, Some(set.ttl + 1), set.rdata.clone());
            assert!(retimed.is_ok_and(|p| p.changed()), "retime {what}");
            if set.rtype == RecordType::A {
                let p = ed.set(&set.name, set.rtype, None, vec![a("198.51.100.7")]);
                assert!(
                    p.is_ok() || matches!(p, Err(EditError::Invalid(_))),
                    "{what}"
                );
            }
            planned += 1;
        }
    }
    assert!(planned > 40, "{planned}");
}

#[test]
fn appending_to_a_file_without_final_newline() {
    let z = "$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 hm 1 2 3 4 5\n  NS ns1\nns1 A 192.0.2.1";
    let f = fixture(&[("z.zone", z)]);
    set(
        &f,
        &n("new.example.test."),
        RecordType::A,
        None,
        vec![a("192.0.2.8")],
    );
    assert_eq!(
        read(&f, "z.zone"),
        z.replace("hm 1 2", "hm 2 2") + "\nnew 300 A 192.0.2.8\n"
    );
}
