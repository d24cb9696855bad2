use std::str::FromStr;

use hickory_proto::rr::rdata::{MX, TXT};

use super::*;
use crate::zone::load::lex;
use crate::zone::print::rdata_text;

fn origin() -> Name {
    Name::from_str("example.test.").unwrap()
}

fn tokens(text: &str) -> Vec<Token> {
    let (entries, errors) = lex(text);
    assert!(errors.is_empty(), "{errors:?}");
    entries
        .into_iter()
        .next()
        .map(|e| e.tokens)
        .unwrap_or_default()
}

fn parse(ty: &str, text: &str) -> RData {
    let rtype = wire::parse_type(ty).unwrap();
    parse_rdata(rtype, &tokens(text), &origin()).unwrap_or_else(|e| panic!("{ty} {text}: {e:?}"))
}

/// Every type: parses, prints in presentation form (not generic), and reparses equal;
/// and the RFC 3597 form of its wire bytes parses to the same value.
#[test]
fn every_type_round_trips() {
    let cases: &[(&str, &str, &str)] = &[
        ("A", "192.0.2.1", "192.0.2.1"),
        ("AAAA", "2001:db8::1", "2001:db8::1"),
        ("NS", "ns1", "ns1.example.test."),
        ("CNAME", "@", "example.test."),
        ("PTR", "host.other.", "host.other."),
        ("ANAME", "www", "www.example.test."),
        ("MX", "10 mail", "10 mail.example.test."),
        ("SRV", "1 2 5060 sip", "1 2 5060 sip.example.test."),
        (
            "SOA",
            "ns1 hostmaster 7 1h 15m 2w 1d",
            "ns1.example.test. hostmaster.example.test. 7 3600 900 1209600 86400",
        ),
        (
            "NAPTR",
            "100 50 \"s\" \"SIP+D2U\" \"\" _sip._udp",
            "100 50 \"s\" \"SIP+D2U\" \"\" _sip._udp.example.test.",
        ),
        (
            "TXT",
            "\"a\\\"b\" plain \"\\007x\"",
            "\"a\\\"b\" \"plain\" \"\\007x\"",
        ),
        ("SPF", "\"v=spf1 -all\"", "\"v=spf1 -all\""),
        ("HINFO", "\"PC\" Linux", "\"PC\" \"Linux\""),
        ("DNAME", "other.", "other."),
        ("RP", "admin @", "admin.example.test. example.test."),
        ("AFSDB", "1 afs", "1 afs.example.test."),
        ("KX", "5 kx", "5 kx.example.test."),
        ("MINFO", "r e", "r.example.test. e.example.test."),
        ("CAA", "0 issue \"ca.example\"", ""),
        (
            "SSHFP",
            "1 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "",
        ),
        (
            "TLSA",
            "3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "",
        ),
        ("OPENPGPKEY", "AQID", ""),
        ("CSYNC", "66 3 A NS AAAA", ""),
        (
            "SVCB",
            "1 svc alpn=h2,h3 port=8443 ipv4hint=192.0.2.1,192.0.2.2 mandatory=alpn,port",
            "1 svc.example.test. mandatory=alpn,port alpn=h2,h3 port=8443 ipv4hint=192.0.2.1,192.0.2.2",
        ),
        (
            "SVCB",
            "1 . no-default-alpn alpn=h3 ipv6hint=2001:db8::1 ech=AQID",
            "",
        ),
        ("HTTPS", "0 www", "0 www.example.test."),
        (
            "DS",
            "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118",
            "",
        ),
        (
            "CDS",
            "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118",
            "",
        ),
        ("DNSKEY", "257 3 8 AwEA AagB", "257 3 8 AwEAAagB"),
        ("CDNSKEY", "256 3 13 AQIDBA==", ""),
        ("NSEC", "next A NS SOA RRSIG NSEC TYPE65000", ""),
        ("NSEC3PARAM", "1 0 10 AABBCCDD", ""),
        (
            "NSEC3",
            "1 1 12 - 2VPTU5TIMAMQTTGL4LUU9KG21E0AOR3S A RRSIG",
            "",
        ),
        (
            "RRSIG",
            "A 8 3 300 20260101000000 20251201000000 12345 @ AQIDBAUG",
            "",
        ),
        (
            "URI",
            "10 1 \"https://example.test/a b\"",
            "10 1 \"https://example.test/a b\"",
        ),
        ("ZONEMD", "2026 1 1 ( AABB ccdd )", "2026 1 1 AABBCCDD"),
        (
            "DHCID",
            "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA=",
            "",
        ),
        ("LP", "10 l64-subnet1", "10 l64-subnet1.example.test."),
        ("TALINK", "a. b.", "a. b."),
        ("AVC", "\"app-name:WebEx\"", "\"app-name:WebEx\""),
        ("TYPE65000", "\\# 2 abcd", "\\# 2 ABCD"),
    ];
    for (ty, text, printed) in cases {
        let rtype = wire::parse_type(ty).unwrap();
        let rd = parse(ty, text);
        let out = rdata_text(rtype, &rd);
        if !printed.is_empty() {
            assert_eq!(&out, printed, "{ty}");
        }
        if !ty.starts_with("TYPE") {
            assert!(!out.starts_with("\\#"), "{ty} printed generically: {out}");
        }
        assert_eq!(parse(ty, &out), rd, "{ty}: {out}");
        let bytes = wire::encode(&rd).unwrap();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let generic = format!("\\# {} {hex}", bytes.len());
        assert_eq!(parse(ty, &generic), rd, "{ty} generic");
    }
}

#[test]
fn fields_are_exact() {
    assert_eq!(parse("MX", "5 @"), RData::MX(MX::new(5, origin())));
    assert_eq!(
        parse("DNSKEY", "257 3 ecdsap256sha256 AQID"),
        parse("DNSKEY", "257 3 13 AQID")
    );
    assert_eq!(parse("DS", "1 RSASHA256 2 AABB"), parse("DS", "1 8 2 AABB"));
    assert_eq!(
        parse("TXT", "\"\\255\\000\" x\\ y"),
        RData::TXT(TXT::from_bytes(vec![&[255, 0], b"x y"]))
    );
    match parse("RRSIG", "A 8 3 300 20260101000000 1 12345 @ AQID") {
        RData::DNSSEC(d) => {
            let s = format!("{d:?}");
            // 2026-01-01T00:00:00Z is 1767225600 seconds after the epoch.
            assert!(s.contains("1767225600"), "{s}");
        }
        other => panic!("{other:?}"),
    }
    match parse("DNAME", "x") {
        RData::Unknown { code, rdata } => {
            assert_eq!(code, RecordType::DNAME);
            assert_eq!(rdata.anything, b"\x01x\x07example\x04test\x00");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_rdata_points_at_the_token() {
    let err = |ty: &str, text: &str| {
        let rtype = wire::parse_type(ty).unwrap();
        parse_rdata(rtype, &tokens(text), &origin()).unwrap_err()
    };
    assert_eq!(err("SOA", "a b 1 2 3 4").index, 6);
    assert_eq!(err("SOA", "a b 1 2 x 4 5").index, 4);
    assert_eq!(err("TXT", &format!("ok \"{}\"", "x".repeat(256))).index, 1);
    assert_eq!(err("DS", "1 2 3 xyz").index, 3);
    assert_eq!(err("DNSKEY", "257 3 8 AwEAAag= AQID").index, 3);
    assert_eq!(err("NSEC", "a A BOGUS").index, 2);
    assert_eq!(err("TYPE41", "\\# 0").index, 0);
    assert_eq!(err("NULL", "abc").index, 0);
    assert_eq!(err("A", "").index, 0);
    assert!(err("A", "").message.contains("missing"));
    assert_eq!(err("CAA", "0 nonsense-without-value").index, 0);
    assert!(err("SVCB", "1 . port=1 port=2").message.contains("twice"));
}

const GARBAGE_ROUNDS: usize = 300;

/// hickory's per-type text parsers get arbitrary tokens from us; none may panic.
#[test]
fn garbage_rdata_never_panics() {
    let types = [
        "CAA",
        "CERT",
        "CSYNC",
        "OPENPGPKEY",
        "SMIMEA",
        "SSHFP",
        "TLSA",
        "SVCB",
        "HTTPS",
        "DS",
        "DNSKEY",
        "NSEC",
        "NSEC3",
        "NSEC3PARAM",
        "RRSIG",
        "NAPTR",
        "SOA",
        "URI",
        "ZONEMD",
        "TXT",
    ];
    let pieces = [
        "0",
        "1",
        "65535",
        "99999",
        "issue",
        "iodef",
        "tag",
        "\"\"",
        "\"a;b\"",
        "alpn=",
        "alpn=h2,",
        "mandatory=alpn",
        "key65535=x",
        "port=",
        "ipv4hint=1.2.3.4,",
        "ech=",
        "=",
        ",",
        "-",
        ".",
        "@",
        "A",
        "TYPE0",
        "AAAA",
        "deadbeef",
        "AQID",
        "x=\"y",
        "no-default-alpn",
        "ipv6hint=::1",
        "255",
        "issuewild",
        "\"ca;a=b\"",
        "mandatory=",
        "key1=\"\\000\"",
    ];
    let mut state = 99u32;
    let mut next = |m: usize| {
        state = state.wrapping_mul(1664525).wrapping_add(1013904223);
        (state >> 16) as usize % m
    };
    for ty in types {
        for _ in 0..GARBAGE_ROUNDS {
            let n = next(6);
            let text: Vec<&str> = (0..n).map(|_| pieces[next(pieces.len())]).collect();
            let (entries, _) = lex(&text.join(" "));
            let toks = entries
                .into_iter()
                .next()
                .map(|e| e.tokens)
                .unwrap_or_default();
            let rtype = wire::parse_type(ty).unwrap();
            if let Ok(rd) = parse_rdata(rtype, &toks, &origin()) {
                // Whatever loads must print and reload to itself.
                let printed = rdata_text(rtype, &rd);
                assert_eq!(parse(ty, &printed), rd, "{ty} {text:?} -> {printed}");
            }
        }
    }
}
