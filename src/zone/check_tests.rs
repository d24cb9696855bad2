//! Each semantic check, through the loader, with the position it reports.

use std::path::Path;
use std::str::FromStr;

use super::*;
use crate::zone::load::{LoadErrors, LoadedZone, load_zone_str};

const HEAD: &str = "$TTL 300\n@ SOA ns1 host 1 2 3 4 5\n  NS ns1\nns1 A 192.0.2.1\n";

fn load_text(text: &str) -> Result<LoadedZone, LoadErrors> {
    let origin = Name::from_str("example.test.").unwrap();
    load_zone_str(text, &origin, "z", Path::new("."))
}

fn load(body: &str) -> Result<LoadedZone, LoadErrors> {
    load_text(&format!("{HEAD}{body}"))
}

fn errors(body: &str) -> Vec<(usize, usize, String)> {
    errors_of(&format!("{HEAD}{body}"))
}

/// The errors of a whole zone text (without the standard head).
fn errors_of(text: &str) -> Vec<(usize, usize, String)> {
    let e = load_text(text).expect_err("should fail");
    e.errors
        .iter()
        .map(|d| (d.line, d.column, d.message.clone()))
        .collect()
}

fn warnings(body: &str) -> Vec<(usize, usize, String)> {
    let z = load(body).unwrap_or_else(|e| panic!("{e}"));
    z.warnings
        .iter()
        .map(|d| (d.line, d.column, d.message.clone()))
        .collect()
}

fn e(line: usize, col: usize, m: &str) -> (usize, usize, String) {
    (line, col, m.to_string())
}

#[test]
fn clean_zone_has_no_findings() {
    assert!(warnings("www A 192.0.2.2\n").is_empty());
}

#[test]
fn soa_checks() {
    let got = errors_of("$TTL 1\n@ NS ns\nns A 1.2.3.4\n");
    assert_eq!(got, [e(2, 1, "no SOA record at the zone apex")]);
    assert_eq!(
        errors("@ SOA ns2 host 2 2 3 4 5\n"),
        [e(5, 1, "multiple SOA records at example.test.")]
    );
    assert_eq!(
        errors("x SOA ns1 host 1 2 3 4 5\n"),
        [e(5, 1, "SOA record not at top of zone")]
    );
}

#[test]
fn apex_ns_required() {
    let got = errors_of("$TTL 1\nx A 1.2.3.4\n@ SOA ns1 host 1 2 3 4 5\n");
    assert_eq!(got, [e(3, 1, "no NS records at the zone apex")]);
}

#[test]
fn cname_conflicts() {
    assert_eq!(
        errors("a A 192.0.2.1\na CNAME b\nb CNAME c\nb CNAME d\nc CNAME x\n  TXT \"t\"\n"),
        [
            e(6, 1, "CNAME and other data"),
            e(8, 1, "multiple CNAME records at b.example.test."),
            e(10, 3, "CNAME and other data"),
        ]
    );
    // DNSSEC records may sit beside a CNAME.
    assert!(warnings("a CNAME b\na NSEC c A RRSIG\n").is_empty());
}

#[test]
fn dname_checks() {
    assert_eq!(
        errors("d DNAME other.\nd DNAME else.\nx.d A 192.0.2.1\n"),
        [
            e(6, 1, "multiple DNAME records at d.example.test."),
            e(7, 1, "data below DNAME at d.example.test."),
        ]
    );
}

#[test]
fn out_of_zone_data_is_dropped_with_a_warning() {
    let z = load("www.other.test. A 192.0.2.1\n").unwrap();
    assert_eq!(
        z.warnings
            .iter()
            .map(|d| (d.line, d.column, d.message.clone()))
            .collect::<Vec<_>>(),
        [e(5, 1, "ignoring out-of-zone data (www.other.test.)")]
    );
    assert_eq!(z.zone.record_count(), 3);
}

#[test]
fn differing_ttls_use_the_first() {
    let z = load("a 60 A 192.0.2.1\na 120 A 192.0.2.2\n").unwrap();
    assert_eq!(
        z.warnings
            .iter()
            .map(|d| (d.line, d.column, d.message.clone()))
            .collect::<Vec<_>>(),
        [e(6, 1, "TTL set to prior TTL (60)")]
    );
    let node = z
        .zone
        .node(&Name::from_str("a.example.test.").unwrap().into())
        .unwrap();
    assert_eq!(node.get(RecordType::A).unwrap().ttl, 60);
}

#[test]
fn glue_checks() {
    // In-bailiwick NS target below a delegation without glue.
    assert_eq!(
        errors("sub NS ns.sub\n"),
        [e(
            5,
            1,
            "sub.example.test./NS 'ns.sub.example.test.' has no address records (A or AAAA)"
        )]
    );
    // Apex NS target in the zone without addresses.
    assert_eq!(
        errors("@ NS ns2\n"),
        [e(
            5,
            1,
            "example.test./NS 'ns2.example.test.' has no address records (A or AAAA)"
        )]
    );
    assert_eq!(
        errors("@ NS ns2\nns2 CNAME ns1\n"),
        [e(
            5,
            1,
            "example.test./NS 'ns2.example.test.' is a CNAME (illegal)"
        ),]
    );
    // With glue, an out-of-zone target, or a sibling's target: no finding.
    assert!(warnings("sub NS ns.sub\nns.sub AAAA 2001:db8::1\n").is_empty());
    assert!(warnings("sub NS ns.other.test.\n").is_empty());
    assert!(warnings("a NS ns.b\nb NS ns.b\nns.b A 192.0.2.9\n").is_empty());
    assert!(
        warnings("a NS ns.b\nb NS ns.other.test.\n").is_empty(),
        "sibling glue is optional"
    );
}

#[test]
fn occluded_data_below_a_delegation() {
    assert_eq!(
        warnings(
            "sub NS ns.sub\nns.sub A 192.0.2.7\nwww.sub A 192.0.2.8\nsub TXT \"x\"\nsub DS 1 2 3 AABB\n"
        ),
        [
            e(
                7,
                1,
                "occluded data below delegation at sub.example.test. (not glue)"
            ),
            e(
                8,
                1,
                "occluded data below delegation at sub.example.test. (not glue)"
            ),
        ]
    );
}
