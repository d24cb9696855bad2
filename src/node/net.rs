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

use crate::store::Prepared;
use crate::tsig::{ResponseVerifier, TsigFailure, TsigKey, sign_request};
use crate::xfr::client::{
    Progress, SoaAnswer, XfrConsumer, XfrError, XfrOutcome, axfr_request, ixfr_request,
    parse_soa_answer, soa_query,
};
use crate::zone::BuildThread;
use crate::zone::diff::Changeset;

/// A transfer as received, its records already being built into a version.
pub(super) enum Received {
    /// An IXFR answered with our serial or an older one: nothing to do.
    UpToDate {
        serial: u32,
    },
    /// A whole zone (AXFR, or an AXFR-style answer to IXFR), with its store commit
    /// prepared from the same records.
    Full(BuildThread, Box<Prepared>),
    Incremental {
        changesets: Vec<Changeset>,
    },
}

/// A whole zone arriving: the version built on its own thread, the store's chunks encoded
/// here as each batch passes.
struct FullZone {
    build: BuildThread,
    prepared: Prepared,
}

/// Hands the records a transfer brought so far to the build thread (starting it with the
/// first batch) after encoding them for the store.
fn drain(
    consumer: &mut XfrConsumer,
    full: &mut Option<FullZone>,
    zone: &Name,
    hint: usize,
    mut batch: Vec<Record>,
) -> Result<(), String> {
    // Records are moved as whole vectors: appending would copy a message's worth of them.
    let taken = consumer.take_records();
    if batch.is_empty() {
        batch = taken;
    } else {
        batch.extend(taken);
    }
    if batch.is_empty() {
        return Ok(());
    }
    let f = match full {
        Some(f) => f,
        None => full.insert(FullZone {
            build: BuildThread::spawn(zone.clone(), hint).map_err(|e| e.to_string())?,
            prepared: Prepared::default(),
        }),
    };
    for rec in &batch {
        f.prepared.push(rec);
    }
    f.build.push(batch);
    Ok(())
}

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
/// `hint` is how many records the zone had, to size the version being built.
pub(super) async fn transfer(
    zone: &Name,
    peer: SocketAddr,
    source: Option<IpAddr>,
    key: Option<&TsigKey>,
    our_soa: Option<Record>,
    hint: usize,
) -> Result<(Received, Option<u32>), TransferFailure> {
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
    let mut full: Option<FullZone> = None;
    let (out, expire) = loop {
        let bytes = match read_message(&mut stream).await {
            Ok(b) => b,
            Err(e) => {
                let msg = if e.kind() == io::ErrorKind::UnexpectedEof {
                    match consumer.end_of_stream() {
                        Ok(out) => break (out, consumer.expire()),
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
            Ok(Progress::Done(out)) => break (out, consumer.expire()),
            Err(e) => return Err(fail(format!("from {peer}: {e}"), e.fallback_to_axfr())),
        }
        drain(&mut consumer, &mut full, zone, hint, Vec::new())
            .map_err(|e| fail(format!("building the zone: {e}"), false))?;
    };
    let received = match out {
        XfrOutcome::UpToDate { serial } => Received::UpToDate { serial },
        XfrOutcome::Incremental { changesets, .. } => Received::Incremental { changesets },
        XfrOutcome::Full { records, .. } => {
            drain(&mut consumer, &mut full, zone, hint, records)
                .map_err(|e| fail(format!("building the zone: {e}"), false))?;
            match full {
                Some(f) => Received::Full(f.build, Box::new(f.prepared)),
                None => return Err(fail("a transfer without records".into(), false)),
            }
        }
    };
    Ok((received, expire))
}

#[cfg(test)]
#[path = "net_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "net_tsig_tests.rs"]
mod tsig_tests;
