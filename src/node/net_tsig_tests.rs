//! A secondary's SOA query with a key takes only an answer signed with it.

use super::*;
use hickory_proto::op::{MessageType, OpCode};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{RData, Record};

fn key(secret: &str) -> TsigKey {
    TsigKey::new("xfr-key", "hmac-sha256", secret).unwrap()
}

const GOOD: &str = "HBTIcN60WFRgfrtyKSz1IV6f4uewPe77pgSH/EQ3bRk=";
const OTHER: &str = "c2VjcmV0LXRoYXQtaXMtbm90LXRoZS1yaWdodC1vbmU=";

/// A primary on a loopback UDP socket that answers one SOA query several times: once
/// per entry, with that serial, signed with that key or unsigned.
async fn primary(answers: Vec<(u32, Option<TsigKey>)>) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        let (n, from) = sock.recv_from(&mut buf).await.unwrap();
        let (req_mac, q) = {
            let req = Message::from_vec(&buf[..n]).unwrap();
            let mac = req.signature.as_ref().map(|s| s.data.mac.clone());
            (mac, req)
        };
        for (serial, signer) in answers {
            let mut r = Message::new(q.id, MessageType::Response, OpCode::Query);
            r.metadata.authoritative = true;
            r.queries = q.queries.clone();
            let zone = q.queries[0].name().clone();
            let soa = SOA::new(zone.clone(), zone.clone(), serial, 3600, 600, 86400, 300);
            r.answers
                .push(Record::from_rdata(zone, 300, RData::SOA(soa)));
            let mut wire = r.to_vec().unwrap();
            if let (Some(k), Some(mac)) = (signer, req_mac.clone()) {
                let mut signer = crate::tsig::ResponseSigner::new(k, mac);
                signer.sign(&mut wire, unix_now()).unwrap();
            }
            sock.send_to(&wire, from).await.unwrap();
        }
    });
    addr
}

fn zone() -> Name {
    Name::from_ascii("prop.test.").unwrap()
}

#[tokio::test]
async fn a_signed_query_takes_only_a_correctly_signed_answer() {
    // Unsigned and wrongly signed answers arrive first; the genuine one still counts.
    let p = primary(vec![(9, None), (8, Some(key(OTHER))), (7, Some(key(GOOD)))]).await;
    let a = query_soa(&zone(), p, None, Some(&key(GOOD))).await.unwrap();
    assert_eq!(a.serial, 7);

    // Only an unsigned answer: refused, and the reason says why.
    let p = primary(vec![(7, None)]).await;
    let e = query_soa(&zone(), p, None, Some(&key(GOOD)))
        .await
        .unwrap_err();
    assert!(
        e.contains("answer rejected: TSIG: message is not signed"),
        "{e}"
    );

    // Without a key, an unsigned answer is what is expected.
    let p = primary(vec![(7, None)]).await;
    assert_eq!(query_soa(&zone(), p, None, None).await.unwrap().serial, 7);
}
