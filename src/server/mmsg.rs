//! Batched UDP I/O with recvmmsg(2)/sendmmsg(2): under load one system call moves up
//! to [`BATCH`] datagrams each way, which is most of the kernel-entry cost a per-packet
//! loop pays. Linux only; the buffers are allocated once per worker and reused.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

/// Datagrams per system call.
pub(crate) const BATCH: usize = 32;
/// Receive buffer per datagram: queries are small; a larger one is cut and dropped.
const SLOT: usize = 4096;

/// A worker's reusable receive and send state.
pub(crate) struct Batch {
    bufs: Vec<[u8; SLOT]>,
    addrs: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    /// Reply buffers by slot, reused across batches.
    replies: Vec<Vec<u8>>,
    /// Whether the slot's reply is to be sent.
    reply_set: Vec<bool>,
    out_iovs: Vec<libc::iovec>,
    out_hdrs: Vec<libc::mmsghdr>,
    received: usize,
}

// SAFETY: the raw pointers inside are only ever pointers into this struct's own
// buffers, rebuilt before each system call; nothing is shared across threads.
unsafe impl Send for Batch {}

impl Batch {
    pub(crate) fn new() -> Batch {
        // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs for which all
        // zero bytes is a valid (empty) value.
        let zero_hdr: libc::mmsghdr = unsafe { zeroed() };
        Batch {
            bufs: vec![[0u8; SLOT]; BATCH],
            addrs: vec![unsafe { zeroed() }; BATCH],
            iovs: vec![unsafe { zeroed() }; BATCH],
            hdrs: vec![zero_hdr; BATCH],
            replies: (0..BATCH).map(|_| Vec::with_capacity(1232)).collect(),
            reply_set: vec![false; BATCH],
            out_iovs: vec![unsafe { zeroed() }; BATCH],
            out_hdrs: vec![zero_hdr; BATCH],
            received: 0,
        }
    }

    /// Blocks until at least one datagram arrives (or the socket's read timeout
    /// passes), then takes every one already queued, up to [`BATCH`].
    pub(crate) fn recv(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        for i in 0..BATCH {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: SLOT,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&raw mut self.addrs[i]).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &raw mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points at live buffers owned by self, sized as declared.
        let n = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            self.received = 0;
            return Err(io::Error::last_os_error());
        }
        self.received = n as usize;
        Ok(self.received)
    }

    /// Calls `f` for each received datagram with its sender and the slot's reply
    /// buffer; `f` returns whether to send the reply. Datagrams cut short (larger than
    /// a slot) or from an unknown address family are skipped.
    pub(crate) fn process(&mut self, mut f: impl FnMut(&[u8], SocketAddr, &mut Vec<u8>) -> bool) {
        for i in 0..self.received {
            self.reply_set[i] = false;
            let h = &self.hdrs[i];
            if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                continue;
            }
            let Ok(len) = usize::try_from(h.msg_len) else {
                continue;
            };
            let (Some(data), Some(peer)) = (self.bufs[i].get(..len), from_storage(&self.addrs[i]))
            else {
                continue;
            };
            self.reply_set[i] = f(data, peer, &mut self.replies[i]);
        }
    }

    /// Sends every reply that `process` marked to the sender of its slot.
    pub(crate) fn send(&mut self, sock: &UdpSocket) {
        let mut count = 0;
        for i in 0..self.received {
            if !self.reply_set[i] {
                continue;
            }
            let reply = &mut self.replies[i];
            self.out_iovs[count] = libc::iovec {
                iov_base: reply.as_mut_ptr().cast(),
                iov_len: reply.len(),
            };
            let h = &mut self.out_hdrs[count].msg_hdr;
            h.msg_name = (&raw mut self.addrs[i]).cast();
            h.msg_namelen = self.hdrs[i].msg_hdr.msg_namelen;
            h.msg_iov = &raw mut self.out_iovs[count];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            count += 1;
        }
        let mut sent = 0;
        while sent < count {
            // SAFETY: headers [sent, count) point at live reply buffers and addresses.
            let n = unsafe {
                libc::sendmmsg(
                    sock.as_raw_fd(),
                    self.out_hdrs.as_mut_ptr().add(sent),
                    (count - sent) as libc::c_uint,
                    0,
                )
            };
            if n <= 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::debug!("udp sendmmsg: {e}");
                // Skip the datagram that failed (e.g. an unreachable peer).
                sent += 1;
            } else {
                sent += n as usize;
            }
        }
    }
}

fn from_storage(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is
            // large enough and suitably aligned for.
            let a: &libc::sockaddr_in = unsafe { &*(s as *const _ as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(s as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                u32::from_be(a.sin6_flowinfo),
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}
