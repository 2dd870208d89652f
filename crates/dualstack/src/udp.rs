//! A UDP socket that replies from the address it was asked on.
//!
//! A socket bound to `0.0.0.0` or `::` on a host with several addresses would reply from
//! whatever source the routing table picks; a client that sent to another address drops
//! that reply (a connected client never receives it). A [`ReplySocket`] turns on
//! `IP_PKTINFO` (IPv4) / `IPV6_RECVPKTINFO` (IPv6, both on a dual socket), reads each
//! datagram's destination from the control message ([`ReplySocket::recv_from_to`]) and
//! sends the reply with it as its source ([`ReplySocket::send_reply`], `ipi_spec_dst` /
//! `ipi6_addr`; ip(7), ipv6(7), RFC 3542 §6). On a dual socket an IPv4 datagram's mapped
//! destination is treated as IPv4, and every address shown is unmapped (as quinn-udp
//! does).
//!
//! # Examples
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! use dualstack::udp::ReplySocket;
//!
//! let socket = ReplySocket::new(std::net::UdpSocket::bind("[::]:7")?)?;
//! let mut buf = [0u8; 1500];
//! loop {
//!     let d = socket.recv_from_to(&mut buf).await?;
//!     // An echo, answered from the address the client sent to.
//!     socket.send_reply(&buf[..d.received()], &d).await?;
//! }
//! # }
//! ```

use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};

use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::addr::unmap_socket;
use crate::sys::pktinfo;

/// One received datagram's length and addresses, from [`ReplySocket::recv_from_to`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    len: usize,
    received: usize,
    raw_peer: SocketAddr,
    local: SocketAddr,
    source: Option<IpAddr>,
    ifindex: u32,
}

impl Datagram {
    /// The datagram's full length in bytes (may exceed the buffer it was read into:
    /// `MSG_TRUNC`).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the datagram was empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many bytes were stored in the buffer.
    pub fn received(&self) -> usize {
        self.received
    }

    /// The sender, unmapped.
    pub fn peer(&self) -> SocketAddr {
        unmap_socket(self.raw_peer)
    }

    /// The local address and port the datagram was sent to, unmapped (the socket's own
    /// address when the kernel gave no destination). An IPv6 link-local destination
    /// carries the arrival interface as its scope.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The interface the datagram arrived on (0 when unknown).
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }
}

/// A UDP socket whose replies leave from the address each datagram was sent to.
#[derive(Debug)]
pub struct ReplySocket {
    socket: UdpSocket,
    bound: SocketAddr,
}

impl ReplySocket {
    /// Wrap a bound socket (any family, wildcard or not): non-blocking mode, registered
    /// with Tokio, destination-address reporting turned on. Must be called inside a Tokio
    /// runtime.
    ///
    /// # Errors
    /// The socket is not an IP socket, refuses pktinfo (on a dual socket an `IP_PKTINFO`
    /// refusal because the host has no IPv4 is logged once and ignored), or cannot be
    /// registered with Tokio.
    pub fn new(socket: std::net::UdpSocket) -> io::Result<ReplySocket> {
        socket.set_nonblocking(true)?;
        ReplySocket::from_tokio(UdpSocket::from_std(socket)?)
    }

    /// [`ReplySocket::new`] for a socket already registered with Tokio.
    ///
    /// # Errors
    /// As [`ReplySocket::new`].
    pub fn from_tokio(socket: UdpSocket) -> io::Result<ReplySocket> {
        pktinfo::enable(&socket)?;
        let bound = socket.local_addr()?;
        Ok(ReplySocket { socket, bound })
    }

    /// The socket's local address as bound (a dual socket shows `[::]:port`).
    pub fn local_addr(&self) -> SocketAddr {
        self.bound
    }

    /// The Tokio socket, e.g. for socket options.
    pub fn get_ref(&self) -> &UdpSocket {
        &self.socket
    }

    /// Receive one datagram into `buf`, with the local address it was sent to.
    ///
    /// # Errors
    /// The socket's receive error ([`is_fatal`] tells whether the socket is unusable).
    ///
    /// # Cancel safety
    /// Cancel safe: a datagram is either received and returned, or left in the queue.
    pub async fn recv_from_to(&self, buf: &mut [u8]) -> io::Result<Datagram> {
        let r = self
            .socket
            .async_io(Interest::READABLE, || pktinfo::recv(&self.socket, buf))
            .await?;
        let port = self.bound.port();
        let (local, source) = match r.dst {
            None => (unmap_socket(self.bound), None),
            Some(dst) => {
                let local = match dst {
                    IpAddr::V6(v6) if v6.is_unicast_link_local() => {
                        SocketAddr::V6(SocketAddrV6::new(v6, port, 0, r.ifindex))
                    }
                    ip => SocketAddr::new(ip, port),
                };
                let source = match (dst, r.spec_dst) {
                    // ipi_spec_dst: the local unicast address, also for a broadcast.
                    (IpAddr::V4(_), Some(spec)) if !spec.is_unspecified() => Some(IpAddr::V4(spec)),
                    (IpAddr::V4(v4), _) if v4.is_broadcast() || v4.is_multicast() => None,
                    (IpAddr::V6(v6), _) if v6.is_multicast() => None,
                    (ip, _) => Some(ip),
                };
                (local, source)
            }
        };
        Ok(Datagram {
            len: r.len,
            received: r.len.min(buf.len()),
            raw_peer: r.peer,
            local,
            source,
            ifindex: r.ifindex,
        })
    }

    /// Send `data` to the sender of `to`, from the local address `to` was sent to.
    ///
    /// # Errors
    /// The socket's send error.
    ///
    /// # Cancel safety
    /// Cancel safe: the datagram is either sent whole or not at all.
    pub async fn send_reply(&self, data: &[u8], to: &Datagram) -> io::Result<usize> {
        // Pin the interface only for link-local sources, where the address alone is
        // ambiguous; otherwise let routing choose, as quinn-udp does.
        let ifindex = match to.source {
            Some(IpAddr::V6(v6)) if v6.is_unicast_link_local() => to.ifindex,
            _ => 0,
        };
        self.socket
            .async_io(Interest::WRITABLE, || {
                pktinfo::send(&self.socket, data, to.raw_peer, to.source, ifindex)
            })
            .await
    }
}

/// Whether a receive error means the socket itself is unusable (bad descriptor, not a
/// socket), rather than a transient condition (a queued ICMP error, `ENOBUFS`) after
/// which the next receive may work.
pub fn is_fatal(e: &io::Error) -> bool {
    pktinfo::is_fatal_recv_error(e)
}
