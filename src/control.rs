//! The control endpoint (design principle 7): one loopback TCP socket per node behind
//! every runtime command, newline-delimited JSON, one request and one response per line.
//!
//! The protocol is deliberately generic: [`ControlRequest`] names the command, and each
//! kind of node plugs in a [`ControlHandler`] that answers the commands it knows and says
//! "unsupported" to the rest, so a resolver's `cache dump|flush` is one more variant and
//! one more match arm, not a second endpoint.
//!
//! ```text
//! > {"command":"reload","zone":"example.test."}
//! < {"ok":true,"message":"example.test.: serial 2026112102"}
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Every command any node understands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum ControlRequest {
    /// Reload one zone's file, or every primary zone.
    Reload {
        #[serde(default)]
        zone: Option<String>,
    },
    /// The live state of one zone or all.
    ZoneStatus {
        #[serde(default)]
        zone: Option<String>,
    },
    /// Stop the node cleanly.
    NodeStop,
    /// A resolver's cache, one line per entry.
    CacheDump,
    /// Drop cache entries: `name` alone, the subtree under it, or all (no name).
    CacheFlush {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        subtree: bool,
    },
    /// `zonecast up`: stop one member node by topology name.
    MemberStop { name: String },
    /// `zonecast up`: start one member node again with its recorded config.
    MemberStart { name: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlResponse {
    pub ok: bool,
    /// A human-readable summary or the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Structured results (zone status).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

impl ControlResponse {
    pub fn ok(message: impl Into<String>) -> Self {
        ControlResponse {
            ok: true,
            message: Some(message.into()),
            data: serde_json::Value::Null,
        }
    }

    pub fn data(data: serde_json::Value) -> Self {
        ControlResponse {
            ok: true,
            message: None,
            data,
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        ControlResponse {
            ok: false,
            message: Some(message.into()),
            data: serde_json::Value::Null,
        }
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a node does with a command.
pub trait ControlHandler: Send + Sync + 'static {
    fn handle(&self, request: ControlRequest) -> BoxFuture<'_, ControlResponse>;
}

/// Requests longer than this are refused (a command is a few dozen bytes).
const MAX_LINE: usize = 64 * 1024;

pub struct ControlServer {
    listener: TcpListener,
}

impl ControlServer {
    /// Binds the endpoint; anything but a loopback address is refused, since the
    /// commands are unauthenticated.
    pub async fn bind(addr: SocketAddr) -> io::Result<ControlServer> {
        if !addr.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{addr} is not a loopback address"),
            ));
        }
        Ok(ControlServer {
            listener: TcpListener::bind(addr).await?,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Accepts connections until the task is dropped.
    pub async fn serve(self, handler: Arc<dyn ControlHandler>) {
        loop {
            let Ok((stream, peer)) = self.listener.accept().await else {
                continue;
            };
            if !peer.ip().is_loopback() {
                continue;
            }
            let h = handler.clone();
            tokio::spawn(async move {
                if let Err(e) = connection(stream, h).await {
                    tracing::debug!("control connection from {peer}: {e}");
                }
            });
        }
    }
}

async fn connection(stream: TcpStream, handler: Arc<dyn ControlHandler>) -> io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r);
    let mut line = String::new();
    loop {
        line.clear();
        let n = (&mut lines)
            .take(MAX_LINE as u64)
            .read_line(&mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        let resp = match serde_json::from_str::<ControlRequest>(line.trim()) {
            Ok(req) => handler.handle(req).await,
            Err(e) => ControlResponse::error(format!("bad request: {e}")),
        };
        let mut out = serde_json::to_vec(&resp).map_err(io::Error::other)?;
        out.push(b'\n');
        w.write_all(&out).await?;
    }
}

use tokio::io::AsyncReadExt as _;

/// Sends one request and waits (at most `timeout`) for its response.
pub async fn request(
    addr: SocketAddr,
    req: &ControlRequest,
    timeout: Duration,
) -> io::Result<ControlResponse> {
    let work = async {
        let mut stream = TcpStream::connect(addr).await?;
        let mut out = serde_json::to_vec(req).map_err(io::Error::other)?;
        out.push(b'\n');
        stream.write_all(&out).await?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        serde_json::from_str(line.trim()).map_err(io::Error::other)
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "control request timed out"))?
}

/// [`request`] for callers without a runtime (the CLI).
pub fn request_blocking(
    addr: SocketAddr,
    req: &ControlRequest,
    timeout: Duration,
) -> io::Result<ControlResponse> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(request(addr, req, timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;
    impl ControlHandler for Echo {
        fn handle(&self, request: ControlRequest) -> BoxFuture<'_, ControlResponse> {
            Box::pin(async move {
                match request {
                    ControlRequest::Reload { zone } => ControlResponse::ok(format!("{zone:?}")),
                    _ => ControlResponse::error("unsupported"),
                }
            })
        }
    }

    #[test]
    fn wire_format() {
        let r: ControlRequest = serde_json::from_str(r#"{"command":"reload"}"#).unwrap();
        assert_eq!(r, ControlRequest::Reload { zone: None });
        let r: ControlRequest =
            serde_json::from_str(r#"{"command":"zone-status","zone":"a."}"#).unwrap();
        assert_eq!(
            r,
            ControlRequest::ZoneStatus {
                zone: Some("a.".into())
            }
        );
        assert_eq!(
            serde_json::to_string(&ControlRequest::NodeStop).unwrap(),
            r#"{"command":"node-stop"}"#
        );
    }

    #[tokio::test]
    async fn round_trip_and_loopback_only() {
        assert!(
            ControlServer::bind("192.0.2.1:0".parse().unwrap())
                .await
                .is_err()
        );
        let s = ControlServer::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = s.local_addr();
        let task = tokio::spawn(s.serve(Arc::new(Echo)));
        let t = Duration::from_secs(5);
        let r = request(
            addr,
            &ControlRequest::Reload {
                zone: Some("x.".into()),
            },
            t,
        )
        .await
        .unwrap();
        assert_eq!(r, ControlResponse::ok("Some(\"x.\")"));
        let r = request(addr, &ControlRequest::NodeStop, t).await.unwrap();
        assert!(!r.ok);
        task.abort();
    }
}
