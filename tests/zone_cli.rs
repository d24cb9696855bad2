//! `zonecast zone set|del` as a user runs them: the binary, a zone file in a temp dir.

use std::path::Path;
use std::process::Command;

const ZONE: &str = "\
$ORIGIN example.test.
$TTL 300
@ IN SOA ns1 hostmaster ( 1 3600 600 86400 60 )
  IN NS ns1
ns1 IN A 192.0.2.1 ; keep this comment
www IN A 192.0.2.10
";

fn zonecast(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zonecast"))
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
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
fn set_and_del_edit_the_default_zone_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("zones")).unwrap();
    let file = dir.path().join("zones/example.test.zone");
    std::fs::write(&file, ZONE).unwrap();

    let (code, out, err) = zonecast(
        dir.path(),
        &[
            "zone",
            "set",
            "example.test",
            "www",
            "A",
            "60",
            "192.0.2.11",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("serial 1 -> 2"), "{out}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("www 60 IN A 192.0.2.11\n"), "{text}");
    assert!(text.contains("( 2 3600"), "{text}");

    let (code, _, err) = zonecast(
        dir.path(),
        &["zone", "set", "example.test", "www", "TXT", "\"a b\""],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("TXT \"a b\"")
    );

    // Refused edits leave the file as it was and say why.
    let before = std::fs::read_to_string(&file).unwrap();
    let (code, _, err) = zonecast(
        dir.path(),
        &["zone", "set", "example.test", "www", "CNAME", "ns1"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("CNAME and other data") && err.contains("nothing written"),
        "{err}"
    );
    let (code, _, err) = zonecast(dir.path(), &["zone", "del", "example.test", "nothere"]);
    assert_eq!(code, 1);
    assert!(err.contains("nothing matches"), "{err}");
    let (code, _, err) = zonecast(
        dir.path(),
        &["zone", "set", "example.test", "www", "A", "not-an-address"],
    );
    assert_ne!(code, 0);
    assert!(err.contains("not-an-address"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);

    let (code, _, err) = zonecast(dir.path(), &["zone", "del", "example.test", "www"]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("www"), "{text}");
    assert!(
        text.contains("ns1 IN A 192.0.2.1 ; keep this comment\n"),
        "{text}"
    );

    // --file names the file explicitly.
    let (code, _, err) = zonecast(
        dir.path(),
        &[
            "zone",
            "set",
            "--file",
            "zones/example.test.zone",
            "example.test",
            "mail",
            "A",
            "192.0.2.25",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .ends_with("mail 300 IN A 192.0.2.25\n")
    );
}
