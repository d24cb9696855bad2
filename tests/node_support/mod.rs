//! What the tests that start in-process nodes on 127.0.0.1 share.

use std::net::{SocketAddr, TcpListener, UdpSocket};

/// A port free for both UDP and TCP on 127.0.0.1, so that nodes can name each other
/// before they start (a primary's also-notify names a secondary started after it). It is
/// taken below the kernel's ephemeral range (32768 and up by default), so that no client
/// socket grabs it between here and the bind, or while a node is restarted on it.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let port = 10000 + rand::random::<u16>() % 22000;
        let udp = UdpSocket::bind(("127.0.0.1", port));
        let tcp = TcpListener::bind(("127.0.0.1", port));
        if udp.is_ok() && tcp.is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
