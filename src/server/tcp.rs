//! TCP per RFC 7766 on tokio: several queries per connection, read and answered in a
//! pipeline (a reader parses and answers, a writer sends, so a slow client never holds
//! up parsing), an idle timeout, and a cap on open connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};

use super::handler::{Handler, RequestInfo, Response, Transport};

/// Connection handling limits.
#[derive(Debug, Clone, Copy)]
pub struct TcpOptions {
    /// Close a connection that sent nothing for this long (RFC 7766 §6.2.3).
    pub idle_timeout: Duration,
    /// Connections beyond this are closed at once.
    pub max_connections: usize,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            idle_timeout: Duration::from_secs(10),
            max_connections: 512,
        }
    }
}

enum Frame {
    One(Vec<u8>),
    Many(Box<dyn Iterator<Item = Vec<u8>> + Send>),
}

/// Accepts and serves connections until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<Handler>,
    opts: TcpOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(opts.max_connections));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!("tcp accept: {e}");
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::debug!("tcp connection from {peer} refused: limit reached");
            drop(stream);
            continue;
        };
        let handler = handler.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            connection(stream, peer, handler, opts, shutdown).await;
            drop(permit);
        });
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    handler: Arc<Handler>,
    opts: TcpOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Frame>(32);
    let stall = opts.idle_timeout;
    let writer = tokio::spawn(async move {
        let mut framed = Vec::with_capacity(4096);
        while let Some(frame) = rx.recv().await {
            let ok = match frame {
                Frame::One(m) => write_msg(&mut wr, &mut framed, &m, stall).await,
                Frame::Many(it) => {
                    let mut ok = true;
                    for m in it {
                        if !write_msg(&mut wr, &mut framed, &m, stall).await {
                            ok = false;
                            break;
                        }
                    }
                    ok
                }
            };
            if !ok {
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    let info = RequestInfo {
        transport: Transport::Tcp,
        peer,
    };
    let mut msg = Vec::new();
    let mut out = Vec::with_capacity(4096);
    loop {
        let len = tokio::select! {
            r = tokio::time::timeout(opts.idle_timeout, rd.read_u16()) => match r {
                Ok(Ok(len)) => usize::from(len),
                _ => break, // idle timeout, EOF or error
            },
            _ = shutdown.wait_for(|s| *s) => break,
        };
        msg.resize(len, 0);
        match tokio::time::timeout(opts.idle_timeout, rd.read_exact(&mut msg)).await {
            Ok(Ok(_)) => {}
            _ => break,
        }
        let frame = match handler.handle(&msg, &info, &mut out) {
            Response::None => continue,
            Response::Message => Frame::One(out.clone()),
            Response::Stream(it) => Frame::Many(it),
            Response::Later(rx) => match rx.await {
                Ok(wire) => Frame::One(wire),
                Err(_) => continue,
            },
        };
        if tx.send(frame).await.is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Writes one length-prefixed message. A client that stops reading for `stall` loses
/// the connection, so it cannot pin a connection slot by never draining its replies.
async fn write_msg(
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    framed: &mut Vec<u8>,
    msg: &[u8],
    stall: Duration,
) -> bool {
    let Ok(len) = u16::try_from(msg.len()) else {
        return false;
    };
    framed.clear();
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(msg);
    matches!(
        tokio::time::timeout(stall, wr.write_all(framed)).await,
        Ok(Ok(()))
    )
}
