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

/// `zone edit` through the binary: $EDITOR is a script that breaks the file, the
/// "edit again?" question is answered "n", and the file stays as it was.
#[test]
fn edit_with_editor_script_and_error_loop() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("example.test.zone");
    std::fs::write(&file, ZONE).unwrap();
    let script = dir.path().join("break.sh");
    std::fs::write(&script, "echo 'bad A 300.1.1.1' >> \"$1\"\n").unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zonecast"))
        .args(["zone", "edit", "--file"])
        .arg(&file)
        .arg("example.test")
        .env("EDITOR", format!("sh {}", script.display()))
        .env_remove("VISUAL")
        .env("TMPDIR", &tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"n\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("errors in zone file, edit again? (y/n)"),
        "{err}"
    );
    assert!(err.contains("bad IPv4 address"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), ZONE);

    // VISUAL wins over EDITOR; this one fixes nothing but changes a record, so the serial
    // is raised for the user.
    let fix = dir.path().join("fix.sh");
    std::fs::write(&fix, "sed -i 's/192.0.2.10/192.0.2.70/' \"$1\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zonecast"))
        .args(["zone", "edit", "--file"])
        .arg(&file)
        .arg("example.test")
        .env("EDITOR", format!("sh {}", script.display()))
        .env("VISUAL", format!("sh {}", fix.display()))
        .env("TMPDIR", &tmp)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        text,
        ZONE.replace("192.0.2.10", "192.0.2.70")
            .replace("( 1 ", "( 2 ")
    );
}
