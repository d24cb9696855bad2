//! Loader features end to end: text in, records and diagnostics (with positions) out.

use std::str::FromStr;

use hickory_proto::rr::{RData, RecordType};

use super::*;

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

const SOA_NS: &str = "@ 3600 IN SOA ns1 host 1 2 3 4 5\n  NS ns1\nns1 A 192.0.2.1\n";

fn parse(text: &str) -> ParseOutput {
    parse_records(text, &n("example.test."), "t.zone", Path::new("."))
}

fn load(text: &str) -> Result<LoadedZone, LoadErrors> {
    load_zone_str(text, &n("example.test."), "t.zone", Path::new("."))
}

/// (line, column, message) of every diagnostic.
fn diags(out: &ParseOutput) -> Vec<(usize, usize, String)> {
    out.diagnostics
        .iter()
        .map(|d| (d.line, d.column, d.message.clone()))
        .collect()
}

fn errs(e: &LoadErrors) -> Vec<(usize, usize, String)> {
    e.errors
        .iter()
        .map(|d| (d.line, d.column, d.message.clone()))
        .collect()
}

fn only(out: &ParseOutput) -> &Record {
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    assert_eq!(out.records.len(), 1, "{:?}", out.records);
    &out.records[0].record
}

#[test]
fn origin_absolute_and_relative() {
    let out = parse(
        "$TTL 1\n$ORIGIN sub\na A 1.2.3.4\n$ORIGIN other.test.\nb A 1.2.3.4\n$ORIGIN x\nc A 1.2.3.4\n",
    );
    assert!(out.diagnostics.is_empty());
    let names: Vec<String> = out
        .records
        .iter()
        .map(|r| r.record.name.to_string())
        .collect();
    assert_eq!(
        names,
        ["a.sub.example.test.", "b.other.test.", "c.x.other.test."]
    );
}

#[test]
fn ttl_defaults_directive_previous_and_soa_minimum() {
    // No $TTL: the SOA takes its MINIMUM (with a warning), later records the previous TTL.
    let out = parse(
        "@ IN SOA ns1 host 1 2 3 4 77\n  NS ns1\nns1 99 A 1.2.3.4\nx A 1.2.3.5\n$TTL 1h30m\ny A 1.2.3.6\nz 2W A 1.2.3.7\nw A 1.2.3.8\n",
    );
    let ttls: Vec<u32> = out.records.iter().map(|r| r.record.ttl).collect();
    assert_eq!(ttls, [77, 77, 99, 99, 5400, 1209600, 5400]);
    assert_eq!(
        diags(&out),
        [(
            1,
            1,
            "no TTL specified; using SOA MINTTL instead".to_string()
        )]
    );
    assert_eq!(out.diagnostics[0].severity, Severity::Warning);
    let out = parse("x A 1.2.3.4\n");
    assert_eq!(diags(&out), [(1, 1, "no TTL specified".to_string())]);
}

#[test]
fn ttl_and_class_in_either_order_and_omitted_owner() {
    let out = parse("a 60 IN A 1.2.3.4\n  IN 70 A 1.2.3.5\n  in a 1.2.3.6\nb 1m A 1.2.3.7\n");
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    let got: Vec<(String, u32)> = out
        .records
        .iter()
        .map(|r| (r.record.name.to_string(), r.record.ttl))
        .collect();
    assert_eq!(
        got,
        [
            ("a.example.test.".into(), 60),
            ("a.example.test.".into(), 70),
            ("a.example.test.".into(), 70),
            ("b.example.test.".into(), 60)
        ]
    );
}

#[test]
fn at_sign_in_owner_and_rdata() {
    let out = parse("$TTL 1\n@ MX 10 @\n");
    let r = only(&out);
    assert_eq!(r.name, n("example.test."));
    match &r.data {
        RData::MX(mx) => assert_eq!(mx.exchange, n("example.test.")),
        other => panic!("{other:?}"),
    }
    // As in BIND, `@` only means the origin as a whole token; inside a name it is a label.
    let out = parse("$TTL 1\nx SOA @ hostmaster.@ 1 2 3 4 5\n");
    match &only(&out).data {
        RData::SOA(soa) => {
            assert_eq!(soa.mname, n("example.test."));
            assert_eq!(soa.rname.to_string(), "hostmaster.\\@.example.test.");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn parentheses_comments_and_quoted_escapes() {
    let out = parse("$TTL 1\nt TXT ( \"a\\\"b\" ; comment\n  \"\\065\\\\;\" \"sp ace\" )\n");
    let r = only(&out);
    match &r.data {
        RData::TXT(t) => {
            let parts: Vec<&[u8]> = t.txt_data.iter().map(|b| &b[..]).collect();
            assert_eq!(parts, [&b"a\"b"[..], b"A\\;", b"sp ace"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn other_classes_are_errors() {
    let out = parse("$TTL 1\na CH A 1.2.3.4\nb 5 HS TXT x\n");
    assert_eq!(
        diags(&out),
        [
            (2, 3, "class CH is not supported, only IN".to_string()),
            (3, 5, "class HS is not supported, only IN".to_string())
        ]
    );
}

#[test]
fn rfc3597_unknown_and_known_types() {
    let out = parse("$TTL 1\nu TYPE65000 \\# 3 ( 0a 0B0c )\n");
    match &only(&out).data {
        RData::Unknown { code, rdata } => {
            assert_eq!(u16::from(*code), 65000);
            assert_eq!(rdata.anything, [10, 11, 12]);
        }
        other => panic!("{other:?}"),
    }
    let out = parse("$TTL 1\na A \\# 4 C0000201\n");
    assert_eq!(only(&out).data, RData::A("192.0.2.1".parse().unwrap()));
    let out = parse("$TTL 1\ne TYPE1 \\# 0\n");
    assert_eq!(diags(&out).len(), 1);
    let out = parse("$TTL 1\na A \\# 5 C0000201\nb TYPE999 1.2.3.4\nc A \\# 4 zz\n");
    assert_eq!(
        diags(&out),
        [
            (2, 8, "length 5 does not match 4 octets of data".to_string()),
            (
                3,
                11,
                "type TYPE999 has no text form here; use RFC 3597 `\\# length hex`".to_string()
            ),
            (4, 10, "bad hex: invalid symbol at 0".to_string()),
        ]
    );
}

#[test]
fn include_with_origin_scope_relative_path_and_loop() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir(p.join("inc")).unwrap();
    std::fs::write(p.join("inc/a.inc"), "www A 192.0.2.1\n$INCLUDE b.inc\n").unwrap();
    std::fs::write(p.join("inc/b.inc"), "deep A 192.0.2.2\n").unwrap();
    std::fs::write(
        p.join("main.zone"),
        format!("$TTL 60\n{SOA_NS}$INCLUDE inc/a.inc sub\nafter A 192.0.2.3\n"),
    )
    .unwrap();
    let z = load_zone_file(&p.join("main.zone"), &n("example.test.")).unwrap();
    let has = |s: &str| {
        z.zone
            .node(&n(s).into())
            .is_some_and(|x| x.get(RecordType::A).is_some())
    };
    assert!(has("www.sub.example.test."));
    assert!(
        has("deep.sub.example.test."),
        "origin inherited by nested include"
    );
    assert!(has("after.example.test."), "origin restored after include");
    assert_eq!(z.files.len(), 3);

    std::fs::write(
        p.join("loop.zone"),
        format!("$TTL 60\n{SOA_NS}$INCLUDE l2\n"),
    )
    .unwrap();
    std::fs::write(p.join("l2"), "$INCLUDE loop.zone\n").unwrap();
    let e = load_zone_file(&p.join("loop.zone"), &n("example.test.")).unwrap_err();
    assert_eq!(errs(&e), [(1, 10, "$INCLUDE loop".to_string())]);
    assert!(e.errors[0].file.ends_with("l2"));

    let e = load_zone_str(
        &format!("$TTL 1\n{SOA_NS}$INCLUDE missing.inc\n"),
        &n("example.test."),
        "x",
        p,
    )
    .unwrap_err();
    assert_eq!(e.errors[0].line, 5);
    assert_eq!(e.errors[0].column, 10);
}

#[test]
fn generate_with_modifiers_and_step() {
    let out = parse(
        "$TTL 1\n$GENERATE 1-5/2 host-${0,2,d} A 10.0.0.$\n$GENERATE 10-11 $.rev PTR node${-9,1,x}\n",
    );
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    let got: Vec<String> = out
        .records
        .iter()
        .map(|r| format!("{} {}", r.record.name, r.record.data))
        .collect();
    assert_eq!(
        got,
        [
            "host-01.example.test. 10.0.0.1",
            "host-03.example.test. 10.0.0.3",
            "host-05.example.test. 10.0.0.5",
            "10.rev.example.test. node1.example.test.",
            "11.rev.example.test. node2.example.test.",
        ]
    );
    let out = parse("$TTL 1\n$GENERATE 1-2 x${0,1,q} A 1.2.3.$\n$GENERATE 9-1 x A 1.1.1.1\n");
    assert_eq!(
        diags(&out),
        [
            (2, 15, "bad $GENERATE modifier `${0,1,q}`".to_string()),
            (3, 11, "bad $GENERATE range".to_string())
        ]
    );
}

#[test]
fn errors_are_all_collected_with_positions() {
    let text = "$TTL 1\n\
                a A 999.1.1.1\n\
                b MX x y\n\
                c BOGUS 1\n\
                d 1h30 A 1.2.3.4\n\
                $ORIGIN a..b\n\
                $FOO\n\
                e A 1.2.3.4 extra\n\
                f SRV 1 2 3\n\
                g\n";
    let out = parse(text);
    assert_eq!(
        diags(&out),
        [
            (
                2,
                5,
                "bad IPv4 address: invalid IPv4 address syntax".to_string()
            ),
            (
                3,
                6,
                "bad preference: expected a number 0..65535, got `x`".to_string()
            ),
            (4, 3, "unknown RR type".to_string()),
            (5, 3, "bad TTL".to_string()),
            (6, 9, "bad $ORIGIN: empty label".to_string()),
            (7, 1, "unknown directive".to_string()),
            (8, 13, "extra data after RDATA".to_string()),
            (9, 11, "missing domain name".to_string()),
            (10, 1, "missing record type".to_string()),
        ]
    );
    assert_eq!(out.diagnostics[0].text, "999.1.1.1");
    assert_eq!(
        out.diagnostics[0].to_string(),
        "t.zone:2:5: error: bad IPv4 address: invalid IPv4 address syntax (near `999.1.1.1`)"
    );
}

#[test]
fn load_errors_display_lists_every_error() {
    let e = load("$TTL 1\na A x\nb A y\n").unwrap_err();
    let s = e.to_string();
    assert!(
        s.contains("t.zone:2:5:") && s.contains("t.zone:3:5:"),
        "{s}"
    );
    assert!(s.contains("no SOA record at the zone apex"), "{s}");
}

#[test]
fn garbage_input_never_panics() {
    let seeds = [
        "$GENERATE",
        "$INCLUDE",
        "$ORIGIN",
        "$TTL x",
        "@ SOA",
        "\\# 1",
        "a TYPE0 \\# 0",
        "a OPT \\# 0",
        "a RRSIG A",
        "x NSEC3 1 0 1",
        "(",
        ")",
        "\"",
        "a TXT \"\\999\"",
        "$GENERATE 0-4294967295 a A 1.1.1.1",
        "a DS 1 2 3 zz",
        "a CAA 0 issue",
    ];
    for s in seeds {
        let _ = load(s);
    }
    let alphabet = b"aA1 .\t\n();\"\\$@#*-_ISNTXMOARC0x";
    let mut state = 7u32;
    for _ in 0..300 {
        let s: String = (0..80)
            .map(|_| {
                state = state.wrapping_mul(1664525).wrapping_add(1013904223);
                alphabet[(state >> 16) as usize % alphabet.len()] as char
            })
            .collect();
        let _ = load(&format!("$TTL 1\n{s}"));
        let _ = load(&format!("$TTL 1\nx IN TXT {s}"));
    }
}

#[test]
fn loads_a_good_zone() {
    let z = load(&format!("$TTL 60\n{SOA_NS}www A 192.0.2.2\n")).unwrap();
    assert!(z.warnings.is_empty());
    assert_eq!(z.zone.serial(), 1);
    assert_eq!(z.zone.record_count(), 4);
}

#[test]
fn ttl_above_maxttl_becomes_zero_with_a_warning() {
    let out = parse("$TTL 2147483648\na A 1.2.3.4\nb 2147483647 A 1.2.3.4\n");
    let ttls: Vec<u32> = out.records.iter().map(|r| r.record.ttl).collect();
    assert_eq!(ttls, [0, 2147483647]);
    assert_eq!(
        diags(&out),
        [(
            1,
            6,
            "TTL 2147483648 > MAXTTL, setting TTL to 0".to_string()
        )]
    );
}

#[test]
fn non_utf8_file_is_an_error_at_the_byte() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("latin1.zone");
    std::fs::write(&p, b"$TTL 1\nx TXT \"caf\xe9\"\n").unwrap();
    let e = load_zone_file(&p, &n("example.test.")).unwrap_err();
    assert_eq!(
        errs(&e),
        [(
            2,
            11,
            "not UTF-8 text; write such bytes as \\DDD escapes".to_string()
        )]
    );
}

#[test]
fn omitted_owner_needs_a_previous_one_and_crlf_is_blank() {
    let out = parse("$TTL 1\r\n  A 1.2.3.4\r\nx A 1.2.3.5\r\n  AAAA ::1\r\n");
    assert_eq!(diags(&out), [(2, 3, "no current owner name".to_string())]);
    let names: Vec<String> = out
        .records
        .iter()
        .map(|r| r.record.name.to_string())
        .collect();
    assert_eq!(names, ["x.example.test.", "x.example.test."]);
}

#[test]
fn errors_inside_an_include_name_that_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("part.inc"), "ok A 192.0.2.1\nbad A nope\n").unwrap();
    let e = load_zone_str(
        &format!("$TTL 60\n{SOA_NS}$INCLUDE part.inc\n"),
        &n("example.test."),
        "main",
        dir.path(),
    )
    .unwrap_err();
    assert_eq!(e.errors.len(), 1);
    let d = &e.errors[0];
    assert!(d.file.ends_with("part.inc"), "{d}");
    assert_eq!((d.line, d.column, d.text.as_str()), (2, 7, "nope"));
}

#[test]
fn unreadable_file_has_no_position() {
    let e = load_zone_file(Path::new("/nonexistent-dir/x.zone"), &n("x.")).unwrap_err();
    let s = e.to_string();
    assert!(
        s.starts_with("/nonexistent-dir/x.zone: error: cannot read"),
        "{s}"
    );
    assert!(!s.contains("near"), "{s}");
}
