//! The shipped `zones/` load cleanly, and `zonecast check` behaves like named-checkzone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use hickory_proto::rr::{LowerName, Name, RecordType};
use zonecast::cli::check::origin_from_path;
use zonecast::zone::Zone;
use zonecast::zone::load::load_zone_file;

fn zones_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("zones")
}

fn zone_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(zones_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zone"))
        .collect();
    files.sort();
    files
}

fn load(file: &str) -> Zone {
    let path = zones_dir().join(file);
    load_zone_file(&path, &origin_from_path(&path).unwrap())
        .unwrap()
        .zone
}

fn lower(s: &str) -> LowerName {
    LowerName::new(&Name::from_str(s).unwrap())
}

#[test]
fn every_shipped_zone_loads_without_warnings() {
    let files = zone_files();
    assert!(files.len() >= 5, "{files:?}");
    for f in files {
        let origin = origin_from_path(&f).unwrap();
        let loaded = load_zone_file(&f, &origin).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(
            loaded.warnings.is_empty(),
            "{}: {:?}",
            f.display(),
            loaded.warnings
        );
        assert_eq!(loaded.zone.origin(), &origin);
    }
}

#[test]
fn shipped_hierarchy_has_the_demo_cases() {
    let root = load("root.zone");
    assert_eq!(root.origin(), &Name::root());
    assert!(
        root.node(&lower("test."))
            .unwrap()
            .get(RecordType::NS)
            .is_some()
    );
    assert!(
        root.node(&lower("ns1.nic.test."))
            .unwrap()
            .get(RecordType::A)
            .is_some()
    );

    let tld = load("test.zone");
    assert!(
        tld.node(&lower("shop.test."))
            .unwrap()
            .get(RecordType::NS)
            .is_some()
    );
    assert!(
        tld.node(&lower("ns.shop-dns.example.test.")).is_none(),
        "no glue for shop.test"
    );
    let ex_ns = tld.node(&lower("example.test.")).unwrap();
    assert_eq!(ex_ns.get(RecordType::NS).unwrap().rdata.len(), 3);

    let ex = load("example.test.zone");
    let www = ex.node(&lower("www.example.test.")).unwrap();
    assert_eq!(www.get(RecordType::A).unwrap().ttl, 30);
    for ent in ["a.ent.example.test.", "ent.example.test."] {
        assert!(
            ex.node(&lower(ent)).unwrap().is_empty_non_terminal(),
            "{ent}"
        );
    }
    for (name, t) in [
        ("*.wild.example.test.", RecordType::A),
        ("*.wild.example.test.", RecordType::TXT),
        ("_sip._tcp.example.test.", RecordType::SRV),
        ("_xmpp-server._tcp.example.test.", RecordType::SRV),
        ("chain1.example.test.", RecordType::CNAME),
        ("shopalias.example.test.", RecordType::CNAME),
        ("example.test.", RecordType::MX),
        ("mail.example.test.", RecordType::AAAA),
        ("sub.example.test.", RecordType::NS),
        ("ns.sub.example.test.", RecordType::A),
        ("ns.shop-dns.example.test.", RecordType::A),
    ] {
        assert!(
            ex.node(&lower(name)).and_then(|n| n.get(t)).is_some(),
            "{name} {t}"
        );
    }
    assert!(
        load("shop.test.zone")
            .node(&lower("*.products.shop.test."))
            .is_some()
    );
}

fn zonecast(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zonecast"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_command_reports_success_errors_and_prints() {
    let ex = zones_dir().join("example.test.zone");
    let (code, out, err) = zonecast(&["check", ex.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let n = load("example.test.zone").record_count();
    assert_eq!(
        out,
        format!("zone example.test/IN: loaded serial 1 ({n} records)\n")
    );
    assert_eq!(err, "");

    let root = zones_dir().join("root.zone");
    let (code, out, _) = zonecast(&["check", root.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("zone ./IN: loaded serial 2026112101"),
        "{out}"
    );

    let (code, printed, summary) = zonecast(&["check", "--print", ex.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(summary.starts_with("zone example.test/IN: loaded serial 1"));
    assert_eq!(printed.lines().count(), n);
    let dir = tempfile::tempdir().unwrap();
    let reprinted = dir.path().join("canon.zone");
    std::fs::write(&reprinted, &printed).unwrap();
    let (code, again, err) = zonecast(&[
        "check",
        "--print",
        "--origin",
        "example.test",
        reprinted.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(again, printed);

    let bad = dir.path().join("bad.zone");
    std::fs::write(
        &bad,
        "$TTL 60\n@ SOA ns host 1 2 3 4 5\nwww A 300.1.1.1\nalias CNAME www\nalias TXT \"x\"\n",
    )
    .unwrap();
    let (code, _, err) = zonecast(&["check", "--origin", "bad.test.", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    let b = bad.display();
    for line in [
        format!("{b}:3:7: error: bad IPv4 address"),
        format!("{b}:5:1: error: CNAME and other data (near `alias`)"),
        format!("{b}:2:1: error: no NS records at the zone apex"),
    ] {
        assert!(err.contains(&line), "missing {line} in:\n{err}");
    }
    assert!(
        err.ends_with("zone bad.test/IN: not loaded due to 3 error(s)\n"),
        "{err}"
    );
}
