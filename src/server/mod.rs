//! The DNS transport: our own UDP and TCP loops around one request path.
//!
//! hickory-server's Server spawns a task per UDP query and drops replies under load,
//! so the UDP side here is one blocking loop per worker thread on SO_REUSEPORT sockets,
//! and the TCP side a small tokio runtime. Both call the same [`Handler`].

mod answer_cache;
pub mod handler;
mod mmsg;
pub mod reply;
pub mod request;
pub mod tcp;
mod udp;
mod wire;

use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::watch;

pub use handler::{Extension, Handler, HandlerConfig, RequestInfo, Response, Transport};
pub use tcp::TcpOptions;

/// How the server listens.
#[derive(Debug, Clone)]
pub struct ListenConfig {
    /// UDP and TCP on each; port 0 picks one free port shared by UDP and TCP.
    pub addrs: Vec<SocketAddr>,
    /// UDP worker threads per address.
    pub udp_threads: usize,
    pub tcp: TcpOptions,
}

/// A running server; dropping it stops it.
pub struct Server {
    local: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    shutdown: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    /// Binds every address and starts serving. Fails without serving anything if any
    /// address cannot be bound.
    pub fn start(listen: &ListenConfig, handler: Arc<Handler>) -> io::Result<Server> {
        let workers = listen.udp_threads.max(1);
        let mut bound = Vec::new();
        for &addr in &listen.addrs {
            bound.push(bind_pair(addr, workers)?);
        }
        let (shutdown, shutdown_rx) = watch::channel(false);
        // From here on the threads started so far are owned by `server`, so an early
        // return stops them (Drop) instead of leaving them serving.
        let mut server = Server {
            local: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            shutdown,
            threads: Vec::new(),
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers.min(2))
            .thread_name("tcp")
            .enable_all()
            .build()?;
        let mut listeners = Vec::new();
        for (addr, udp, tcp) in bound {
            server.local.push(addr);
            listeners.push(tcp);
            for (i, sock) in udp.into_iter().enumerate() {
                let (h, s) = (handler.clone(), server.stop.clone());
                server.threads.push(
                    std::thread::Builder::new()
                        .name(format!("udp-{addr}-{i}"))
                        .spawn(move || udp::run(sock, h, s))?,
                );
            }
        }
        let tcp_opts = listen.tcp;
        server
            .threads
            .push(
                std::thread::Builder::new()
                    .name("tcp-main".into())
                    .spawn(move || {
                        rt.block_on(async move {
                            let mut tasks = Vec::new();
                            for l in listeners {
                                match tokio::net::TcpListener::from_std(l) {
                                    Ok(l) => tasks.push(tokio::spawn(tcp::serve(
                                        l,
                                        handler.clone(),
                                        tcp_opts,
                                        shutdown_rx.clone(),
                                    ))),
                                    Err(e) => tracing::error!("tcp listener: {e}"),
                                }
                            }
                            for t in tasks {
                                let _ = t.await;
                            }
                        });
                        rt.shutdown_timeout(std::time::Duration::from_secs(1));
                    })?,
            );
        Ok(server)
    }

    /// The bound addresses, in the order configured (with the real port for port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local
    }

    /// Stops every loop and waits for the threads to finish.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.shutdown.send(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Binds `workers` UDP sockets and one TCP listener on the same address and port.
fn bind_pair(
    addr: SocketAddr,
    workers: usize,
) -> io::Result<(SocketAddr, Vec<UdpSocket>, StdTcpListener)> {
    // With port 0 the kernel picks the UDP port, which may be taken for TCP: retry.
    let attempts = if addr.port() == 0 { 20 } else { 1 };
    let mut last_err = None;
    for _ in 0..attempts {
        let first = udp::bind(addr)?;
        let local = first.local_addr()?;
        match bind_tcp(local) {
            Ok(tcp) => {
                let mut udp = vec![first];
                for _ in 1..workers {
                    udp.push(udp::bind(local)?);
                }
                return Ok((local, udp, tcp));
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no port")))
}

fn bind_tcp(addr: SocketAddr) -> io::Result<StdTcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}
