//! The secondary's side of the wire: an SOA query over UDP (TCP when truncated) and a
//! transfer over TCP, each bounded by a timeout on every read. The sans-IO `xfr::client`
//! decides what the bytes mean.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, Record};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::time::timeout;

use crate::tsig::{ResponseVerifier, TsigFailure, TsigKey, sign_request};
use crate::xfr::client::{
    Progress, SoaAnswer, XfrConsumer, XfrError, XfrOutcome, axfr_request, ixfr_request,
    parse_soa_answer, soa_query,
};

/// How long one read (or connect) may take before the peer counts as gone.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an SOA query over UDP waits for its answer.
pub const SOA_TIMEOUT: Duration = Duration::from_secs(2);

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Encodes and, with a key, signs a request; returns the wire and the request MAC.
fn encode(msg: &Message, key: Option<&TsigKey>) -> io::Result<(Vec<u8>, Option<Vec<u8>>)> {
    let wire = msg.to_vec().map_err(io::Error::other)?;
    match key {
        None => Ok((wire, None)),
        Some(k) => {
            let (signed, mac) = sign_request(&wire, k, unix_now()).map_err(io::Error::other)?;
            Ok((signed, Some(mac)))
        }
    }
}

async fn udp_socket(peer: SocketAddr, source: Option<IpAddr>) -> io::Result<UdpSocket> {
    let bind: SocketAddr = match (source, peer) {
        (Some(ip), _) => SocketAddr::new(ip, 0),
        (None, SocketAddr::V4(_)) => SocketAddr::from(([0, 0, 0, 0], 0)),
        (None, SocketAddr::V6(_)) => SocketAddr::from(([0u16; 8], 0)),
    };
    UdpSocket::bind(bind).await
}

async fn tcp_connect(peer: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let sock = match peer {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(ip) = source {
        sock.bind(SocketAddr::new(ip, 0))?;
    }
    timeout(READ_TIMEOUT, sock.connect(peer))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
}

async fn read_message(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    timeout(READ_TIMEOUT, stream.read_exact(&mut len))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "read timed out"))??;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    timeout(READ_TIMEOUT, stream.read_exact(&mut buf))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "read timed out"))??;
    Ok(buf)
}

async fn write_message(stream: &mut TcpStream, wire: &[u8]) -> io::Result<()> {
    let len = u16::try_from(wire.len()).map_err(io::Error::other)?;
    let mut out = Vec::with_capacity(wire.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(wire);
    timeout(READ_TIMEOUT, stream.write_all(&out))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "write timed out"))?
}

/// With a key, an answer must be signed by it (RFC 8945 §5.3): an unsigned or forged SOA
/// answer must neither start nor hold back a transfer.
fn check_signed(
    bytes: &[u8],
    msg: &Message,
    key: Option<&TsigKey>,
    mac: Option<&Vec<u8>>,
) -> Result<(), TsigFailure> {
    match (key, mac) {
        (Some(k), Some(mac)) => ResponseVerifier::new(k.clone(), mac.clone()).verify(
            bytes,
            msg.signature.is_some(),
            unix_now(),
        ),
        _ => Ok(()),
    }
}

/// Asks `peer` for the zone's SOA (with EDNS EXPIRE), over TCP if the UDP answer is
/// truncated. With a key the query is signed and only a correctly signed answer counts;
/// over UDP a bad one is set aside in case the genuine answer is still on its way.
pub async fn query_soa(
    zone: &Name,
    peer: SocketAddr,
    source: Option<IpAddr>,
    key: Option<&TsigKey>,
) -> Result<SoaAnswer, String> {
    let id: u16 = rand::random();
    let (wire, mac) = encode(&soa_query(zone, id), key).map_err(|e| e.to_string())?;
    let sock = udp_socket(peer, source).await.map_err(|e| e.to_string())?;
    sock.connect(peer).await.map_err(|e| e.to_string())?;
    sock.send(&wire).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65535];
    let deadline = tokio::time::Instant::now() + SOA_TIMEOUT;
    let mut rejected: Option<TsigFailure> = None;
    loop {
        let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            Ok(r) => r.map_err(|e| format!("SOA query to {peer}: {e}"))?,
            Err(_) => {
                return Err(match rejected {
                    Some(e) => format!("SOA query to {peer}: answer rejected: {e}"),
                    None => format!("SOA query to {peer}: no answer in {SOA_TIMEOUT:?}"),
                });
            }
        };
        let Some(bytes) = buf.get(..n) else { continue };
        let Ok(msg) = Message::from_vec(bytes) else {
            continue;
        };
        if msg.id != id {
            continue;
        }
        match parse_soa_answer(zone, id, &msg) {
            Err(XfrError::Truncated) => break,
            r => match check_signed(bytes, &msg, key, mac.as_ref()) {
                Ok(()) => return r.map_err(|e| format!("SOA query to {peer}: {e}")),
                // The primary's own verdict on our key ends the wait: nothing better follows.
                Err(e @ TsigFailure::PeerError(_)) => {
                    return Err(format!("SOA query to {peer}: {e}"));
                }
                Err(e) => rejected = Some(e),
            },
        }
    }
    let mut stream = tcp_connect(peer, source)
        .await
        .map_err(|e| format!("SOA query to {peer} over TCP: {e}"))?;
    write_message(&mut stream, &wire)
        .await
        .map_err(|e| e.to_string())?;
    let bytes = read_message(&mut stream)
        .await
        .map_err(|e| format!("SOA query to {peer} over TCP: {e}"))?;
    let msg = Message::from_vec(&bytes).map_err(|e| e.to_string())?;
    check_signed(&bytes, &msg, key, mac.as_ref())
        .map_err(|e| format!("SOA query to {peer}: answer rejected: {e}"))?;
    parse_soa_answer(zone, id, &msg).map_err(|e| format!("SOA query to {peer}: {e}"))
}

/// A failed transfer: why, and whether an IXFR should be retried as AXFR.
#[derive(Debug)]
pub struct TransferFailure {
    pub message: String,
    pub fallback_to_axfr: bool,
}

/// Runs one AXFR (`our_soa` None) or IXFR over TCP; returns the outcome and the
/// primary's EDNS EXPIRE.
pub async fn transfer(
    zone: &Name,
    peer: SocketAddr,
    source: Option<IpAddr>,
    key: Option<&TsigKey>,
    our_soa: Option<Record>,
) -> Result<(XfrOutcome, Option<u32>), TransferFailure> {
    let fail = |message: String, fallback_to_axfr: bool| TransferFailure {
        message,
        fallback_to_axfr,
    };
    let id: u16 = rand::random();
    let (request, mut consumer) = match our_soa {
        Some(soa) => {
            let serial = crate::xfr::soa_serial(&soa).unwrap_or(0);
            (
                ixfr_request(zone, id, soa),
                XfrConsumer::ixfr(zone.clone(), id, serial),
            )
        }
        None => (axfr_request(zone, id), XfrConsumer::axfr(zone.clone(), id)),
    };
    let (wire, mac) = encode(&request, key).map_err(|e| fail(e.to_string(), false))?;
    if let (Some(k), Some(mac)) = (key, mac) {
        consumer = consumer.with_tsig(ResponseVerifier::new(k.clone(), mac), unix_now());
    }
    // A refused connection fails AXFR as surely as IXFR: go to the next primary.
    let mut stream = tcp_connect(peer, source)
        .await
        .map_err(|e| fail(format!("connecting to {peer}: {e}"), false))?;
    write_message(&mut stream, &wire)
        .await
        .map_err(|e| fail(format!("sending to {peer}: {e}"), false))?;
    loop {
        let bytes = match read_message(&mut stream).await {
            Ok(b) => b,
            Err(e) => {
                let msg = if e.kind() == io::ErrorKind::UnexpectedEof {
                    match consumer.end_of_stream() {
                        Ok(out) => return Ok((out, consumer.expire())),
                        Err(x) => return Err(fail(x.to_string(), x.fallback_to_axfr())),
                    }
                } else {
                    e.to_string()
                };
                return Err(fail(format!("reading from {peer}: {msg}"), true));
            }
        };
        match consumer.feed(&bytes) {
            Ok(Progress::More) => {}
            Ok(Progress::Done(out)) => return Ok((out, consumer.expire())),
            Err(e) => return Err(fail(format!("from {peer}: {e}"), e.fallback_to_axfr())),
        }
    }
}

#[cfg(test)]
mod tests {
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
}
