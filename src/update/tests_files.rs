//! Tests against files and captured wire messages.

use hickory_proto::rr::rdata::TXT;

use super::tests::*;
use super::*;

#[test]
fn write_back_keeps_the_file_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.test.zone");
    std::fs::write(&path, FILE).unwrap();
    let origin = n("example.test.");
    let z = crate::zone::load::load_zone_file(&path, &origin)
        .unwrap()
        .zone;
    let up = apply_update(
        &z,
        &request(
            vec![],
            vec![
                rr("www.example.test.", 0, DNSClass::NONE, a("192.0.2.10")),
                rr("new.example.test.", 60, DNSClass::IN, a("192.0.2.99")),
            ],
        ),
        INC,
        EPOCH,
    )
    .unwrap()
    .unwrap();
    let plan = write_back(&path, &origin, &up).unwrap();
    assert_eq!(plan.new_serial, 8);
    plan.commit().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("( 8 3600 600 86400 60 ) ; keep me"), "{text}");
    assert!(text.contains("www A 192.0.2.11\n"), "{text}");
    assert!(text.ends_with("new 60 A 192.0.2.99\n"), "{text}");
    let reloaded = crate::zone::load::load_zone_file(&path, &origin)
        .unwrap()
        .zone;
    assert_eq!(reloaded.records_canonical(), up.zone.records_canonical());
    // A hand edit that already moved the file's serial past the update's: both go forward.
    std::fs::write(&path, FILE.replace("( 7 ", "( 20 ")).unwrap();
    let plan = write_back(&path, &origin, &up).unwrap();
    assert_eq!(plan.new_serial, 21);
}

/// Messages captured from BIND's nsupdate; see tests/data/update/README.md.
const NSUPDATE_ADD: &[u8] = include_bytes!("../../tests/data/update/nsupdate_add.bin");
const NSUPDATE_PREREQ: &[u8] = include_bytes!("../../tests/data/update/nsupdate_prereq.bin");
const NSUPDATE_TSIG: &[u8] = include_bytes!("../../tests/data/update/nsupdate_tsig.bin");

#[test]
fn nsupdate_messages_parse_and_apply() {
    let z = zone();
    let acl = open_acl();
    let add = Message::from_vec(NSUPDATE_ADD).unwrap();
    let req = parse_request(&add).unwrap();
    assert_eq!(req.zone, n("example.test."));
    assert!(req.prerequisites.is_empty());
    assert_eq!(req.updates.len(), 2);
    let res = handle_update(&add, Some(&z), &acl, LOCAL, None, INC, EPOCH);
    assert_eq!(res.rcode, ResponseCode::NoError);
    let up = res.applied.unwrap();
    assert_eq!(up.to_serial, 8);
    let txt = RData::TXT(TXT::new(vec!["hello world".into()]));
    assert_eq!(
        rdata_at(&up.zone, "new.example.test.", RecordType::TXT),
        vec![txt]
    );
    assert_eq!(
        rdata_at(&up.zone, "new.example.test.", RecordType::A),
        vec![a("192.0.2.99")]
    );

    // Five prerequisites of every kind; the zone has no AAAA at www, so the fourth
    // (yxrrset www AAAA) fails with NXRRSET and nothing is applied.
    let pre = Message::from_vec(NSUPDATE_PREREQ).unwrap();
    let req = parse_request(&pre).unwrap();
    let classes: Vec<DNSClass> = req.prerequisites.iter().map(|r| r.dns_class).collect();
    use DNSClass::{ANY, IN, NONE};
    assert_eq!(classes, [NONE, ANY, NONE, ANY, IN]);
    assert_eq!(req.updates.len(), 3);
    let res = handle_update(&pre, Some(&z), &acl, LOCAL, None, INC, EPOCH);
    assert_eq!(
        (res.rcode, res.applied.is_none()),
        (ResponseCode::NXRRSet, true)
    );
    // Without it, the fifth still fails: www has two A records, and a value-dependent
    // prerequisite must match the whole RRset (RFC 2136 §3.2.5).
    let mut without = req.clone();
    without.prerequisites.remove(3);
    assert_eq!(
        apply_update(&z, &without, INC, EPOCH).unwrap_err(),
        ResponseCode::NXRRSet
    );
    // The first three hold, and the deletes apply.
    without.prerequisites.truncate(3);
    let up = apply_update(&z, &without, INC, EPOCH).unwrap().unwrap();
    assert_eq!(
        rdata_at(&up.zone, "www.example.test.", RecordType::A),
        vec![a("192.0.2.11")]
    );

    // The signed one: the TSIG record is split off by the decoder, the key name is there
    // for the verifier, and the sections parse like any other.
    let signed = Message::from_vec(NSUPDATE_TSIG).unwrap();
    let sig = signed.signature.as_ref().unwrap();
    assert_eq!(sig.name, n("upd-key."));
    let req = parse_request(&signed).unwrap();
    assert_eq!(req.updates.len(), 1);
    let key = n("upd-key.");
    let key_acl = UpdateAcl {
        rules: vec![AclRule {
            networks: vec![],
            key: Some(key.clone()),
        }],
    };
    let res = handle_update(&signed, Some(&z), &key_acl, LOCAL, Some(&key), INC, EPOCH);
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(
        handle_update(&signed, Some(&z), &key_acl, LOCAL, None, INC, EPOCH).rcode,
        ResponseCode::Refused
    );
}

#[test]
fn response_echoes_id_and_zone() {
    let req = Message::from_vec(NSUPDATE_ADD).unwrap();
    let resp = response(&req, ResponseCode::NXRRSet);
    let wire = resp.to_vec().unwrap();
    let back = Message::from_vec(&wire).unwrap();
    assert_eq!(back.metadata.id, req.metadata.id);
    assert_eq!(back.metadata.op_code, OpCode::Update);
    assert_eq!(back.metadata.response_code, ResponseCode::NXRRSet);
    assert_eq!(back.queries, req.queries);
    assert!(back.answers.is_empty() && back.authorities.is_empty());
}

/// Corrupted nsupdate messages either fail to decode or get an RCODE; never a panic.
#[test]
fn mutated_messages_never_panic() {
    let z = zone();
    let acl = open_acl();
    let mut state = 0x2545_f491u32;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let mut decoded = 0;
    for base in [NSUPDATE_ADD, NSUPDATE_PREREQ, NSUPDATE_TSIG] {
        for _ in 0..2000 {
            let mut bytes = base.to_vec();
            for _ in 0..1 + next() % 4 {
                let i = next() as usize % bytes.len();
                bytes[i] = next() as u8;
            }
            if let Ok(m) = Message::from_vec(&bytes) {
                decoded += 1;
                let r = handle_update(&m, Some(&z), &acl, LOCAL, None, INC, EPOCH);
                let _ = response(&m, r.rcode).to_vec();
            }
        }
    }
    assert!(
        decoded > 100,
        "the mutations should mostly still decode ({decoded})"
    );
}

#[test]
fn write_back_of_several_updates_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.test.zone");
    std::fs::write(&path, FILE).unwrap();
    let origin = n("example.test.");
    let z0 = crate::zone::load::load_zone_file(&path, &origin)
        .unwrap()
        .zone;
    let add = |name: &str, addr: &str| rr(name, 60, DNSClass::IN, a(addr));
    let up1 = apply_update(
        &z0,
        &request(vec![], vec![add("one.example.test.", "192.0.2.1")]),
        INC,
        EPOCH,
    )
    .unwrap()
    .unwrap();
    let del_www = empty("www.example.test.", DNSClass::ANY, RecordType::A);
    let up2 = apply_update(&up1.zone, &request(vec![], vec![del_www]), INC, EPOCH)
        .unwrap()
        .unwrap();
    let touched: Vec<_> = up1.touched.iter().chain(&up2.touched).cloned().collect();
    let plan = write_back_rrsets(&path, &origin, &up2.zone, &touched).unwrap();
    assert_eq!(plan.new_serial, 9);
    plan.commit().unwrap();
    let reloaded = crate::zone::load::load_zone_file(&path, &origin)
        .unwrap()
        .zone;
    assert_eq!(reloaded.records_canonical(), up2.zone.records_canonical());
    // Both www A lines went, the one with an omitted owner too; the rest is untouched.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("ns1 A 192.0.2.1\nalias CNAME www\n"),
        "{text}"
    );
}

/// The signed capture verifies with the key nsupdate was given (see the README), through
/// the TSIG module, and the verified key's name is what `allow-update` is matched with.
#[test]
fn nsupdate_tsig_verifies_and_feeds_the_acl() {
    use crate::tsig::{Keyring, TsigKey};
    use crate::tsig::{RequestAuth, verify_request};
    let key = TsigKey::new(
        "upd-key",
        "hmac-sha256",
        "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYg==",
    )
    .unwrap();
    let keyring = Keyring::new(vec![key]);
    let msg = Message::from_vec(NSUPDATE_TSIG).unwrap();
    let signed_at = msg.signature.as_ref().unwrap().data.time;
    let verified = match verify_request(NSUPDATE_TSIG, &keyring, signed_at) {
        RequestAuth::Verified { key, .. } => key.name,
        other => panic!("nsupdate's MAC does not verify: {other:?}"),
    };
    let acl = UpdateAcl {
        rules: vec![AclRule {
            networks: vec![],
            key: Some(n("upd-key.")),
        }],
    };
    let res = handle_update(
        &msg,
        Some(&zone()),
        &acl,
        LOCAL,
        Some(&verified),
        INC,
        EPOCH,
    );
    assert_eq!(res.rcode, ResponseCode::NoError);
    // A wrong secret fails verification, so no key name reaches the ACL.
    let wrong = TsigKey::new("upd-key", "hmac-sha256", "d3Jvbmc=").unwrap();
    let auth = verify_request(NSUPDATE_TSIG, &Keyring::new(vec![wrong]), signed_at);
    assert!(matches!(auth, RequestAuth::Failed { .. }), "{auth:?}");
}
