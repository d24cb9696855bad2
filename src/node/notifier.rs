//! The node's NOTIFY sender: one task and one UDP socket per address family, driving a
//! sans-IO [`NotifySender`] per zone from its `next_wakeup`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::{LowerName, Name, Record};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Shared;
use super::net::unix_now;
use crate::notify::{NotifyConfig, NotifySender};
use crate::tsig::{ResponseVerifier, TsigKey, sign_request};

/// Announce a new version of a zone.
#[derive(Debug)]
pub struct NotifyCommand {
    pub zone: Name,
    pub soa: Record,
    pub targets: Vec<SocketAddr>,
    pub delay: Duration,
    pub key: Option<TsigKey>,
}

struct ZoneNotify {
    sender: NotifySender,
    key: Option<TsigKey>,
    /// The MAC of each signed NOTIFY in flight, by target and ID: an acknowledgement
    /// counts only if it is signed over it (RFC 8945 §5.3), else a forged one could stop
    /// the retries.
    macs: HashMap<(SocketAddr, u16), Vec<u8>>,
}

async fn bind(source: Option<IpAddr>, v6: bool) -> Option<UdpSocket> {
    let addr = match (source, v6) {
        (Some(ip), _) => SocketAddr::new(ip, 0),
        (None, false) => SocketAddr::from(([0, 0, 0, 0], 0)),
        (None, true) => SocketAddr::from(([0u16; 8], 0)),
    };
    match UdpSocket::bind(addr).await {
        Ok(s) => Some(s),
        Err(e) => {
            if !v6 {
                tracing::warn!("NOTIFY socket on {addr}: {e}");
            }
            None
        }
    }
}

async fn recv(sock: &Option<UdpSocket>, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
    match sock {
        Some(s) => s.recv_from(buf).await.ok(),
        None => std::future::pending().await,
    }
}

pub async fn run(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<NotifyCommand>) {
    let v4 = bind(shared.source_v4, false).await;
    let v6 = bind(shared.source_v6, true).await;
    let mut zones: HashMap<LowerName, ZoneNotify> = HashMap::new();
    let mut stop = shared.stop.subscribe();
    let mut buf4 = vec![0u8; 4096];
    let mut buf6 = vec![0u8; 4096];
    loop {
        let now = Instant::now();
        for z in zones.values_mut() {
            while let Some(t) = z.sender.poll_transmit(now.into_std()) {
                let wire = match t.message.to_vec() {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::warn!("NOTIFY to {}: cannot encode: {e}", t.dest);
                        continue;
                    }
                };
                let wire = match &z.key {
                    Some(k) => match sign_request(&wire, k, unix_now()) {
                        Ok((w, mac)) => {
                            z.macs.insert((t.dest, t.message.id), mac);
                            w
                        }
                        Err(e) => {
                            tracing::warn!("NOTIFY to {}: cannot sign: {e}", t.dest);
                            continue;
                        }
                    },
                    None => wire,
                };
                let sock = if t.dest.is_ipv4() { &v4 } else { &v6 };
                match sock {
                    Some(s) => {
                        if let Err(e) = s.send_to(&wire, t.dest).await {
                            tracing::debug!("NOTIFY to {}: {e}", t.dest);
                        } else {
                            tracing::debug!(
                                "NOTIFY {} serial {:?} to {} (attempt {})",
                                t.message
                                    .queries
                                    .first()
                                    .map_or(String::new(), |q| q.name().to_string()),
                                z.sender.serial(),
                                t.dest,
                                t.attempt
                            );
                        }
                    }
                    None => tracing::debug!("NOTIFY to {}: no socket for its family", t.dest),
                }
            }
        }
        let wake = zones
            .values()
            .filter_map(|z| z.sender.next_wakeup())
            .min()
            .map(Instant::from_std);
        let sleep = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { return };
                let key = LowerName::new(&cmd.zone);
                let config = NotifyConfig { delay: cmd.delay, ..NotifyConfig::default() };
                let z = zones.entry(key).or_insert_with(|| ZoneNotify {
                    sender: NotifySender::new(cmd.zone.clone(), config),
                    key: None,
                    macs: HashMap::new(),
                });
                z.key = cmd.key;
                z.macs.clear();
                let mut next_id = || rand::random::<u16>();
                z.sender.new_version(Instant::now().into_std(), cmd.soa, &cmd.targets, &mut next_id);
            }
            r = recv(&v4, &mut buf4) => answer(&mut zones, r, &buf4),
            r = recv(&v6, &mut buf6) => answer(&mut zones, r, &buf6),
            _ = sleep => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

fn answer(zones: &mut HashMap<LowerName, ZoneNotify>, r: Option<(usize, SocketAddr)>, buf: &[u8]) {
    let Some((n, from)) = r else { return };
    let Some(bytes) = buf.get(..n) else { return };
    let Ok(msg) = Message::from_vec(bytes) else {
        return;
    };
    let Some(q) = msg.queries.first() else { return };
    let Some(z) = zones.get_mut(&LowerName::new(q.name())) else {
        return;
    };
    if let Some(k) = &z.key {
        let Some(mac) = z.macs.get(&(from, msg.id)) else {
            return;
        };
        let verdict = ResponseVerifier::new(k.clone(), mac.clone()).verify(
            bytes,
            msg.signature.is_some(),
            unix_now(),
        );
        if let Err(e) = verdict {
            tracing::warn!(
                "NOTIFY {}: acknowledgement from {from} rejected: {e}",
                q.name()
            );
            return;
        }
    }
    if z.sender.on_response(from, &msg) {
        z.macs.retain(|(dest, _), _| *dest != from);
        tracing::debug!(
            "NOTIFY {} acknowledged by {from}: {}",
            q.name(),
            msg.response_code
        );
    }
}
