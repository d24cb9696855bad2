//! UDP: one socket per worker thread, all bound to the same address with SO_REUSEPORT
//! so the kernel spreads queries over the workers without any lock or queue of ours.
//! Each worker is a plain blocking loop over recvmmsg/sendmmsg batches that reuses its
//! buffers: no task, no allocation per query on the transport side.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::handler::{Handler, RequestInfo, Response, Transport};
use super::mmsg::Batch;

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
    let mut batch = Batch::new();
    while !stop.load(Ordering::Relaxed) {
        match batch.recv(&sock) {
            Ok(_) => {}
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
        }
        batch.process(|msg, peer, out| {
            let info = RequestInfo {
                transport: Transport::Udp,
                peer,
            };
            match handler.handle(msg, &info, out) {
                Response::None => false,
                Response::Message => true,
                // Updates are rare and take a store commit: the worker waits for the
                // reply rather than hand the socket to another thread.
                Response::Later(rx) => match rx.blocking_recv() {
                    Ok(wire) => {
                        out.clear();
                        out.extend_from_slice(&wire);
                        true
                    }
                    Err(_) => false,
                },
                // Multi-message replies are TCP only; an extension must not stream on UDP.
                Response::Stream(_) => {
                    tracing::warn!("stream response dropped on UDP");
                    false
                }
            }
        });
        batch.send(&sock);
    }
}
