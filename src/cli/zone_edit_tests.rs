use std::str::FromStr;

use super::*;

const ZONE: &str = "\
$ORIGIN example.test.
$TTL 300
@ IN SOA ns1 hostmaster ( 5 3600 600 86400 60 ) ; the SOA
  IN NS ns1
ns1 IN A 192.0.2.1
www IN A 192.0.2.10 ; web
";

struct Setup {
    dir: tempfile::TempDir,
    file: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("example.test.zone");
    std::fs::write(&file, ZONE).unwrap();
    Setup { dir, file }
}

fn origin() -> Name {
    Name::from_str("example.test.").unwrap()
}

/// Writes an editor script; `body` runs with the file to edit as `$1` and may use
/// `$D`, the test's directory, for state between invocations.
fn editor(s: &Setup, body: &str) -> String {
    let script = s.dir.path().join("editor.sh");
    let d = s.dir.path().display();
    std::fs::write(&script, format!("D='{d}'\n{body}\n")).unwrap();
    format!("sh '{}'", script.display())
}

/// Runs `zone edit` with `answers` on stdin; returns (exit code, what it printed).
fn edit(s: &Setup, editor: &str, answers: &str) -> (i32, String) {
    let tmp = s.dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut input = answers.as_bytes();
    let mut out = Vec::new();
    let code = edit_interactively(
        &s.file,
        &origin(),
        editor,
        SerialPolicy::Increment,
        &tmp,
        &mut input,
        &mut out,
    )
    .unwrap();
    (code, String::from_utf8(out).unwrap())
}

fn serial_of(path: &Path) -> u32 {
    load_zone_file(path, &origin()).unwrap().zone.serial()
}

#[test]
fn edit_bumps_serial_when_content_changed() {
    let s = setup();
    let ed = editor(&s, "sed -i 's/192.0.2.10/192.0.2.77/' \"$1\"");
    let (code, out) = edit(&s, &ed, "");
    assert_eq!(code, 0, "{out}");
    let text = std::fs::read_to_string(&s.file).unwrap();
    assert_eq!(
        text,
        ZONE.replace("192.0.2.10", "192.0.2.77")
            .replace("( 5 ", "( 6 ")
    );
    // The private copy is gone.
    assert_eq!(
        std::fs::read_dir(s.dir.path().join("tmp")).unwrap().count(),
        0
    );
}

#[test]
fn edit_keeps_a_serial_the_user_raised() {
    let s = setup();
    let ed = editor(
        &s,
        "sed -i 's/( 5 /( 42 /; s/192.0.2.10/192.0.2.77/' \"$1\"",
    );
    assert_eq!(edit(&s, &ed, "").0, 0);
    assert_eq!(serial_of(&s.file), 42);
}

#[test]
fn edit_without_changes_writes_nothing() {
    let s = setup();
    let ed = editor(&s, "true");
    let (code, out) = edit(&s, &ed, "");
    assert_eq!(code, 0);
    assert!(out.contains("no changes"), "{out}");
    assert_eq!(std::fs::read_to_string(&s.file).unwrap(), ZONE);
}

#[test]
fn edit_error_loop_answered_no_leaves_file_untouched() {
    let s = setup();
    let ed = editor(&s, "echo 'bad A 999.1.1.1' >> \"$1\"");
    let (code, out) = edit(&s, &ed, "n\n");
    assert_eq!(code, 1);
    assert!(
        out.contains("errors in zone file, edit again? (y/n)"),
        "{out}"
    );
    assert!(out.contains(":7:"), "the error names the line: {out}");
    assert_eq!(std::fs::read_to_string(&s.file).unwrap(), ZONE);
    // The user's edits are kept for them, as crontab -e does.
    let kept: Vec<_> = std::fs::read_dir(s.dir.path().join("tmp"))
        .unwrap()
        .collect();
    assert_eq!(kept.len(), 1);
}

#[test]
fn edit_error_loop_answered_yes_edits_again() {
    let s = setup();
    // First run breaks the file, the second fixes the line it broke.
    let body = "if [ -e \"$D/once\" ]; then sed -i 's/999.1.1.1/192.0.2.9/' \"$1\"; \
                else touch \"$D/once\"; echo 'bad A 999.1.1.1' >> \"$1\"; fi";
    let ed = editor(&s, body);
    let (code, out) = edit(&s, &ed, "y\n");
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("edit again?").count(), 1, "{out}");
    let text = std::fs::read_to_string(&s.file).unwrap();
    assert!(text.ends_with("bad A 192.0.2.9\n"), "{text}");
    assert_eq!(serial_of(&s.file), 6);
}

#[test]
fn edit_refuses_when_file_changed_meanwhile() {
    let s = setup();
    let body = format!(
        "sed -i 's/192.0.2.10/192.0.2.77/' \"$1\"; echo '; meanwhile' >> '{}'",
        s.file.display()
    );
    let ed = editor(&s, &body);
    let (code, out) = edit(&s, &ed, "");
    assert_eq!(code, 1);
    assert!(out.contains("changed on disk"), "{out}");
    assert!(
        std::fs::read_to_string(&s.file)
            .unwrap()
            .ends_with("; meanwhile\n")
    );
}

#[test]
fn zone_file_from_config_or_flag() {
    let s = setup();
    let cfg = s.dir.path().join("node.toml");
    std::fs::write(
        &cfg,
        "listen = [\"127.0.0.1:5300\"]\n[[zone]]\nname = \"other.test\"\nfile = \"o.zone\"\n[[zone]]\nname = \"Example.Test.\"\nfile = \"example.test.zone\"\n",
    )
    .unwrap();
    assert_eq!(
        locate_zone_file(&origin(), None, Some(&cfg)).unwrap(),
        s.file
    );
    let none = Name::from_str("nope.test.").unwrap();
    assert!(locate_zone_file(&none, None, Some(&cfg)).is_err());
    let p = Path::new("x/y.zone");
    assert_eq!(locate_zone_file(&none, Some(p), Some(&cfg)).unwrap(), p);
}

fn set_args(words: &[&str], ttl: Option<&str>) -> ZoneSetArgs {
    ZoneSetArgs {
        target: ZoneFileArgs {
            zone: "example.test".into(),
            file: None,
            config: None,
            serial_policy: SerialPolicy::Increment,
        },
        name: "www".into(),
        rtype: "MX".into(),
        rdata: words.iter().map(|s| s.to_string()).collect(),
        ttl: ttl.map(str::to_string),
        add: false,
    }
}

#[test]
fn optional_ttl_before_rdata() {
    let o = origin();
    let (ttl, rd) = ttl_and_rdata(&set_args(&["10", "mail"], None), RecordType::MX, &o).unwrap();
    assert_eq!(ttl, None, "10 is the MX preference");
    assert_eq!(rd.to_string(), "10 mail.example.test.");
    let (ttl, _) =
        ttl_and_rdata(&set_args(&["1h", "10", "mail"], None), RecordType::MX, &o).unwrap();
    assert_eq!(ttl, Some(3600));
    let (ttl, rd) = ttl_and_rdata(&set_args(&["5", "6"], Some("60")), RecordType::TXT, &o).unwrap();
    let txt = hickory_proto::rr::rdata::TXT::new(vec!["5".into(), "6".into()]);
    assert_eq!((ttl, rd), (Some(60), RData::TXT(txt)));
    assert!(ttl_and_rdata(&set_args(&["mail"], None), RecordType::MX, &o).is_err());
}

#[test]
fn edit_under_keep_policy_asks_for_a_raised_serial() {
    let s = setup();
    let ed = editor(&s, "sed -i 's/192.0.2.10/192.0.2.77/' \"$1\"");
    let tmp = s.dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut out = Vec::new();
    let code = edit_interactively(
        &s.file,
        &origin(),
        &ed,
        SerialPolicy::Keep,
        &tmp,
        &mut "n\n".as_bytes(),
        &mut out,
    )
    .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, 1);
    assert!(out.contains("serial (5) unchanged"), "{out}");
    assert_eq!(std::fs::read_to_string(&s.file).unwrap(), ZONE);
}
