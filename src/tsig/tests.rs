use super::*;
use hickory_proto::op::{OpCode, Query};
use hickory_proto::rr::{Record, RecordType};
use std::str::FromStr;

const SECRET: &str = "eb4m74KStsFe/HqPwwRldgxCli7IxB579/DQyW9kih4=";
const DIG_REQ: &[u8] = include_bytes!("../../tests/data/tsig/dig_soa_request.bin");
const DIG_SHA1_REQ: &[u8] = include_bytes!("../../tests/data/tsig/dig_sha1_soa_request.bin");
const KDIG_REQ: &[u8] = include_bytes!("../../tests/data/tsig/kdig_axfr_request.bin");
const KNOT_RESP: &[u8] = include_bytes!("../../tests/data/tsig/knot_axfr_response.tcp");

fn key() -> TsigKey {
    TsigKey::new("xfr-key", "hmac-sha256", SECRET).unwrap()
}

fn ring() -> Keyring {
    Keyring::new(vec![key()])
}

fn split_tcp(mut s: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while s.len() >= 2 {
        let l = usize::from(u16::from_be_bytes([s[0], s[1]]));
        out.push(&s[2..2 + l]);
        s = &s[2 + l..];
    }
    out
}

#[test]
fn parses_tsig_keygen_and_dig_forms() {
    let text = "key \"xfr-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"eb4m74KStsFe/HqPwwRldgxCli7IxB579/DQyW9kih4=\";\n};\n";
    let keys = TsigKey::parse_bind_keys(text).unwrap();
    assert_eq!(keys, vec![key()]);
    assert_eq!(
        TsigKey::from_dig_spec(&format!("hmac-sha256:xfr-key:{SECRET}")).unwrap(),
        key()
    );
    assert!(matches!(
        TsigKey::new("k", "hmac-md5", SECRET),
        Err(TsigKeyError::Algorithm { .. })
    ));
    assert!(matches!(
        TsigKey::new("k", "hmac-sha256", "not base64!"),
        Err(TsigKeyError::Secret { .. })
    ));
    assert!(!format!("{:?}", key()).contains(SECRET));
}

#[test]
fn verifies_a_request_signed_by_bind_dig() {
    match verify_request(DIG_REQ, &ring(), 1795243505) {
        RequestAuth::Verified { key: k, mac } => {
            assert_eq!(k, key());
            assert_eq!(mac.len(), 32);
        }
        other => panic!("expected verified, got {other:?}"),
    }
    // Outside the fudge window: BADTIME.
    match verify_request(DIG_REQ, &ring(), 1795243505 + 301) {
        RequestAuth::Failed { failure, .. } => {
            assert_eq!(failure.error_code(), TsigError::BadTime)
        }
        other => panic!("expected BADTIME, got {other:?}"),
    }
    // Wrong secret: BADSIG. Unknown key: BADKEY.
    let other = TsigKey::new("xfr-key", "hmac-sha256", "AAAAAAAAAAAAAAAAAAAAAA==").unwrap();
    match verify_request(DIG_REQ, &Keyring::new(vec![other]), 1795243505) {
        RequestAuth::Failed { failure, .. } => assert_eq!(failure, TsigFailure::BadSig),
        o => panic!("{o:?}"),
    }
    match verify_request(DIG_REQ, &Keyring::default(), 1795243505) {
        RequestAuth::Failed { failure, .. } => {
            assert_eq!(failure.error_code(), TsigError::BadKey)
        }
        o => panic!("{o:?}"),
    }
    // A flipped bit in the question breaks the MAC.
    let mut bad = DIG_REQ.to_vec();
    bad[14] ^= 0x20;
    assert!(matches!(
        verify_request(&bad, &ring(), 1795243505),
        RequestAuth::Failed {
            failure: TsigFailure::BadSig,
            ..
        }
    ));
}

#[test]
fn hmac_sha1_keys_verify_bind_and_sign_what_they_verify() {
    let sha1 = TsigKey::new("xfr-key", "hmac-sha1", SECRET).unwrap();
    let keys = Keyring::new(vec![sha1.clone()]);
    // BIND's dig signed this with the secret as an hmac-sha1 key.
    assert!(matches!(
        verify_request(DIG_SHA1_REQ, &keys, 1795252490),
        RequestAuth::Verified { .. }
    ));
    // The same bytes do not verify under the sha256 key of the same name and secret.
    assert!(!matches!(
        verify_request(DIG_SHA1_REQ, &ring(), 1795252490),
        RequestAuth::Verified { .. }
    ));
    // RFC 2202 test case 1: the HMAC itself.
    let k = TsigKey::new("k", "hmac-sha1", "CwsLCwsLCwsLCwsLCwsLCwsLCws=").unwrap();
    assert_eq!(
        data_encoding::HEXLOWER.encode(&k.mac(b"Hi There").unwrap()),
        "b617318655057264e28bc0b6fb378c8ef146be00"
    );
    let (req, _) = sign_request(&axfr_query(3), &sha1, 1000).unwrap();
    assert!(matches!(
        verify_request(&req, &keys, 1001),
        RequestAuth::Verified { .. }
    ));
}

#[test]
fn verifies_a_multi_message_axfr_signed_by_knot() {
    let RequestAuth::Verified { mac, .. } = verify_request(KDIG_REQ, &ring(), 1795243500) else {
        panic!("kdig request does not verify");
    };
    let msgs = split_tcp(KNOT_RESP);
    assert_eq!(msgs.len(), 2);
    let mut v = ResponseVerifier::new(key(), mac.clone());
    for m in &msgs {
        let signed = is_signed(&Message::from_vec(m).unwrap());
        v.verify(m, signed, 1795243500).unwrap();
    }
    v.finish().unwrap();

    // Tampering with the second message breaks the chain.
    let mut v = ResponseVerifier::new(key(), mac);
    v.verify(msgs[0], true, 1795243500).unwrap();
    let mut second = msgs[1].to_vec();
    second[40] ^= 1;
    assert!(v.verify(&second, true, 1795243500).is_err());
}

fn axfr_query(id: u16) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(
        Name::from_str("example.test.").unwrap(),
        RecordType::AXFR,
    ));
    m.to_vec().unwrap()
}

fn response_wire(id: u16, n: u8) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Response, OpCode::Query);
    m.add_answer(Record::from_rdata(
        Name::from_str("a.example.test.").unwrap(),
        60,
        hickory_proto::rr::RData::A(hickory_proto::rr::rdata::A::new(192, 0, 2, n)),
    ));
    m.to_vec().unwrap()
}

#[test]
fn our_signed_stream_verifies_with_unsigned_messages_in_between() {
    let (req, mac) = sign_request(&axfr_query(7), &key(), 1000).unwrap();
    let RequestAuth::Verified { mac: seen, .. } = verify_request(&req, &ring(), 1001) else {
        panic!("own request does not verify");
    };
    assert_eq!(seen, mac);

    let mut signer = ResponseSigner::new(key(), mac.clone());
    let mut msgs = Vec::new();
    for n in 0..4u8 {
        let mut w = response_wire(7, n);
        // Sign the first and the last; leave the middle ones unsigned (RFC 8945 §5.3.1).
        if n == 0 || n == 3 {
            signer.sign(&mut w, 1000).unwrap();
        }
        msgs.push(w);
    }
    // The signer only saw signed messages, so its chain skips the unsigned ones; a
    // verifier that includes them must then fail. Sign properly: every message.
    let mut v = ResponseVerifier::new(key(), mac.clone());
    v.verify(&msgs[0], true, 1000).unwrap();
    v.verify(&msgs[1], false, 1000).unwrap();
    v.verify(&msgs[2], false, 1000).unwrap();
    assert_eq!(v.verify(&msgs[3], true, 1000), Err(TsigFailure::BadSig));

    let mut signer = ResponseSigner::new(key(), mac.clone());
    let mut v = ResponseVerifier::new(key(), mac);
    for n in 0..3u8 {
        let mut w = response_wire(7, n);
        signer.sign(&mut w, 1000 + u64::from(n)).unwrap();
        v.verify(&w, true, 1000).unwrap();
    }
    v.finish().unwrap();
    let mut unsigned_last = ResponseVerifier::new(key(), Vec::new());
    assert_eq!(
        unsigned_last.verify(&response_wire(7, 1), false, 0),
        Err(TsigFailure::Unsigned)
    );
}

#[test]
fn error_responses_carry_the_tsig_error() {
    let req_wire = DIG_REQ;
    let req = Message::from_vec(req_wire).unwrap();
    let wire = error_response(
        &req,
        &TsigFailure::BadKey(key().name),
        None,
        &[],
        1795243505,
    )
    .unwrap();
    let resp = Message::from_vec(&wire).unwrap();
    assert_eq!(resp.response_code, ResponseCode::NotAuth);
    assert_eq!(response_error(&resp), Some(TsigError::BadKey));
    assert!(resp.signature.as_ref().unwrap().data.mac.is_empty());

    let RequestAuth::Failed {
        failure,
        key: k,
        mac,
        ..
    } = verify_request(req_wire, &ring(), 1795243505 + 1000)
    else {
        panic!()
    };
    let wire = error_response(&req, &failure, k.as_ref(), &mac, 1795244505).unwrap();
    let resp = Message::from_vec(&wire).unwrap();
    assert_eq!(resp.response_code, ResponseCode::NotAuth);
    let sig = resp.signature.as_ref().unwrap();
    assert_eq!(sig.data.error, Some(TsigError::BadTime));
    assert_eq!(sig.data.other.len(), 6);
    assert_eq!(sig.data.mac.len(), 32, "BADTIME answers are signed");
    // The client can verify that signed BADTIME answer against its request MAC.
    let (tbv, _) = signed_bitmessage_to_buf(&wire, Some(&mac), true).unwrap();
    assert!(key().verify_mac(&tbv, &sig.data.mac));
}

#[test]
fn config_form_deserializes_from_toml() {
    let c: TsigKeyConfig = toml::from_str(&format!(
        "name = \"xfr-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n"
    ))
    .unwrap();
    assert_eq!(TsigKey::try_from(&c).unwrap(), key());
    let c: TsigKeyConfig =
        toml::from_str(&format!("name = \"xfr-key\"\nsecret = \"{SECRET}\"\n")).unwrap();
    assert_eq!(c.algorithm, "hmac-sha256");
}

#[test]
fn admission_by_required_keys() {
    let req = Message::from_vec(DIG_REQ).unwrap();
    let now = 1795243505;
    let required = [key().name];
    assert!(matches!(
        admit(DIG_REQ, &req, &ring(), Some(&required), now),
        Admission::Allowed(Some(_))
    ));
    let other = [Name::from_str("other-key.").unwrap()];
    assert!(matches!(
        admit(DIG_REQ, &req, &ring(), Some(&other), now),
        Admission::Reject(ResponseCode::NotAuth)
    ));
    assert!(matches!(
        admit(DIG_REQ, &req, &ring(), Some(&required), now + 1000),
        Admission::TsigError(_)
    ));
    let unsigned = axfr_query(3);
    let unsigned_msg = Message::from_vec(&unsigned).unwrap();
    assert!(matches!(
        admit(&unsigned, &unsigned_msg, &ring(), Some(&required), now),
        Admission::Reject(ResponseCode::NotAuth)
    ));
    assert!(matches!(
        admit(&unsigned, &unsigned_msg, &ring(), None, now),
        Admission::Allowed(None)
    ));
}
