//! UDP: one socket per worker thread, all bound to the same address with SO_REUSEPORT
//! so the kernel spreads queries over the workers without any lock or queue of ours.
//! Each worker is a plain blocking loop that reuses its buffers: no task, no allocation
//! per query on the transport side.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::handler::{Handler, RequestInfo, Response, Transport};

/// How often a blocked worker wakes to check for shutdown.
const STOP_POLL: Duration = Duration::from_millis(200);

/// Binds one UDP socket of a worker group.
pub(crate) fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_reuse_port(true)?;
    // Bursts queue here while a worker is busy; the default is small for a DNS server.
    let _ = sock.set_recv_buffer_size(4 << 20);
    sock.bind(&addr.into())?;
    let sock: UdpSocket = sock.into();
    sock.set_read_timeout(Some(STOP_POLL))?;
    Ok(sock)
}

/// Serves queries on `sock` until `stop` is set.
pub(crate) fn run(sock: UdpSocket, handler: Arc<Handler>, stop: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 65535];
    let mut out = Vec::with_capacity(4096);
    while !stop.load(Ordering::Relaxed) {
        let (len, peer) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => {
                tracing::warn!("udp receive: {e}");
                continue;
            }
        };
        let Some(msg) = buf.get(..len) else { continue };
        let info = RequestInfo {
            transport: Transport::Udp,
            peer,
        };
        match handler.handle(msg, &info, &mut out) {
            Response::None => {}
            Response::Message => {
                if let Err(e) = sock.send_to(&out, peer) {
                    tracing::debug!("udp send to {peer}: {e}");
                }
            }
            // Multi-message replies are TCP only; an extension must not stream on UDP.
            Response::Stream(_) => tracing::warn!("stream response dropped on UDP"),
        }
    }
}
