use std::path::Path;
use std::str::FromStr;

use super::*;
use crate::zone::load::load_zone_str;

const ZONE: &str = r#"$ORIGIN example.test.
$TTL 300
@ SOA ns1 host 5 2 3 4 5
  NS ns1
  MX 10 mail
  TXT "v=spf1 -all" "say \"hi\"\;\255"
ns1 A 192.0.2.1
mail 60 AAAA 2001:db8::1
Mixed.Case A 192.0.2.3
*.wild CNAME www
www A 192.0.2.2
_sip._tcp SRV 1 2 5060 www
d DNAME other.test.
x TYPE65000 \# 3 010203
rp RP admin.example.test. .
k DNSKEY 257 3 13 AQIDBA==
s RRSIG A 13 2 300 20260101000000 20251201000000 1 @ AQID
"#;

#[test]
fn canonical_output_reloads_to_the_same_zone() {
    let origin = Name::from_str("example.test.").unwrap();
    let z = load_zone_str(ZONE, &origin, "a", Path::new("."))
        .unwrap()
        .zone;
    let text = print_zone(&z);
    let z2 = load_zone_str(&text, &origin, "b", Path::new("."))
        .unwrap()
        .zone;
    assert_eq!(z.records_canonical(), z2.records_canonical());
    assert_eq!(print_zone(&z2), text, "printing is a fixed point");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), z.record_count());
    assert!(
        lines[0].starts_with("example.test. 300 IN SOA ns1.example.test. host.example.test. 5 ")
    );
    assert!(text.contains("d.example.test. 300 IN DNAME other.test.\n"));
    assert!(text.contains("x.example.test. 300 IN TYPE65000 \\# 3 010203\n"));
    assert!(text.contains("\"say \\\"hi\\\";\\255\""), "{text}");
    assert!(
        text.contains("Mixed.Case.example.test. 300 IN A 192.0.2.3"),
        "case kept"
    );
    assert!(
        text.contains("IN RRSIG A 13 2 300 20260101000000 20251201000000 1 example.test. AQID")
    );
}

#[test]
fn quoting() {
    assert_eq!(quote(b"a\"b\\c\x01 d"), "\"a\\\"b\\\\c\\001 d\"");
}
