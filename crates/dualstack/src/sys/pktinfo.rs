//! `IP_PKTINFO` / `IPV6_PKTINFO`: learn which local address a datagram was sent to, and
//! send the reply from that address (ip(7), ipv6(7), RFC 3542 §6).
//!
//! A UDP socket bound to a wildcard (`0.0.0.0`, `::`) on a host with several addresses
//! otherwise replies from whatever address the routing table picks, and the client, which
//! sent to another address, drops the reply (a connected client never even sees it).
//!
//! IPv4 differs by system: Linux, Android and macOS have `IP_PKTINFO`; FreeBSD, DragonFly,
//! NetBSD and OpenBSD have `IP_RECVDSTADDR` (the destination) and `IP_SENDSRCADDR` (the
//! source of a reply) instead, which say the same for unicast.
//!
//! Everything goes through nix's safe `recvmsg`/`sendmsg` and control-message types, as
//! quinn-udp does with its own encoder: no `unsafe` here. The one alignment rule nix
//! relies on (the control buffer is read as `cmsghdr`s) is kept by [`CmsgBuf`].

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::sys::socket::{
    getsockopt, recvmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned,
    MsgFlags, SockaddrStorage,
};

/// Room for one `in_pktinfo` and one `in6_pktinfo` control message (a dual socket gets
/// both for an IPv4 datagram), 8-byte aligned because nix reads `cmsghdr`s in place.
#[repr(C, align(8))]
struct CmsgBuf([u8; 128]);

/// Which socket the options are set on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SocketKind {
    /// AF_INET.
    V4,
    /// AF_INET6 with `IPV6_V6ONLY=1`.
    V6Only,
    /// AF_INET6 with `IPV6_V6ONLY=0`: IPv6 and IPv4-mapped peers.
    Dual,
}

/// Find out what kind of UDP socket `sock` is.
pub(crate) fn socket_kind(sock: &impl AsFd) -> io::Result<SocketKind> {
    let local: SockaddrStorage = nix::sys::socket::getsockname(sock.as_fd().as_raw_fd())?;
    if local.as_sockaddr_in().is_some() {
        return Ok(SocketKind::V4);
    }
    if local.as_sockaddr_in6().is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an IPv4 or IPv6 socket",
        ));
    }
    Ok(if getsockopt(sock, sockopt::Ipv6V6Only)? {
        SocketKind::V6Only
    } else {
        SocketKind::Dual
    })
}

/// Whether setting an IPv4 option on a dual socket failed only because the host has no
/// IPv4 (the kernel then refuses the IPv4 socket level or protocol); such a failure is
/// skipped, anything else is a real error.
pub(crate) fn is_ipv4_unavailable(e: Errno) -> bool {
    matches!(
        e,
        Errno::ENOPROTOOPT | Errno::EAFNOSUPPORT | Errno::EPROTONOSUPPORT | Errno::EOPNOTSUPP
    )
}

static IPV4_PKTINFO_SKIPPED: AtomicBool = AtomicBool::new(false);

/// Turn on destination-address reporting: `IP_PKTINFO` on IPv4 sockets,
/// `IPV6_RECVPKTINFO` on IPv6 sockets, and both on a dual socket.
///
/// On a dual socket an `IP_PKTINFO` failure that means "no IPv4 on this host" is logged
/// once and ignored; the IPv6 side still works.
pub(crate) fn enable(sock: &impl AsFd) -> io::Result<SocketKind> {
    let kind = socket_kind(sock)?;
    match kind {
        SocketKind::V4 => enable_v4(sock)?,
        SocketKind::V6Only => setsockopt(sock, sockopt::Ipv6RecvPacketInfo, &true)?,
        SocketKind::Dual => {
            setsockopt(sock, sockopt::Ipv6RecvPacketInfo, &true)?;
            match enable_v4(sock) {
                Ok(()) => {}
                Err(e) if is_ipv4_unavailable(e) => {
                    if !IPV4_PKTINFO_SKIPPED.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            "IP_PKTINFO on a dual socket failed ({e}): this host seems to have \
                             no IPv4; IPv4 replies fall back to IPV6_PKTINFO"
                        );
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(kind)
}

/// Turn on IPv4 destination-address reporting: `IP_PKTINFO`, or `IP_RECVDSTADDR` on the
/// BSDs.
fn enable_v4(sock: &impl AsFd) -> nix::Result<()> {
    #[cfg(not(any(
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "netbsd",
        target_os = "openbsd"
    )))]
    return setsockopt(sock, sockopt::Ipv4PacketInfo, &true);
    #[cfg(any(
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "netbsd",
        target_os = "openbsd"
    ))]
    return setsockopt(sock, sockopt::Ipv4RecvDstAddr, &true);
}

/// One received datagram's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Received {
    /// The datagram's full length, even when it did not fit the buffer (`MSG_TRUNC`).
    pub len: usize,
    /// The sender, exactly as the kernel reported it (mapped on a dual socket: that is
    /// the form `send` needs).
    pub peer: SocketAddr,
    /// The destination address in the datagram's header, unmapped. `None` when the
    /// kernel sent no pktinfo (option off).
    pub dst: Option<IpAddr>,
    /// For IPv4, `ipi_spec_dst`: the local address to answer from (equal to `dst` for
    /// unicast, the interface address for a broadcast).
    pub spec_dst: Option<Ipv4Addr>,
    /// The interface the datagram arrived on (0 when unknown).
    pub ifindex: u32,
}

/// Receive one datagram into `buf` with its destination address. Non-blocking sockets
/// return `WouldBlock` when nothing is queued.
pub(crate) fn recv(sock: &impl AsFd, buf: &mut [u8]) -> io::Result<Received> {
    let mut cmsg = CmsgBuf([0; 128]);
    let mut iov = [IoSliceMut::new(buf)];
    // MSG_TRUNC: return the real datagram length even when it was cut (udp(7)).
    let msg = recvmsg::<SockaddrStorage>(
        sock.as_fd().as_raw_fd(),
        &mut iov,
        Some(&mut cmsg.0),
        MsgFlags::MSG_TRUNC,
    )?;
    let peer = msg
        .address
        .as_ref()
        .and_then(to_socket_addr)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "datagram without a source"))?;
    let mut out = Received {
        len: msg.bytes,
        peer,
        dst: None,
        spec_dst: None,
        ifindex: 0,
    };
    // A truncated control buffer (MSG_CTRUNC) gives no cmsgs: answer without pktinfo.
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            match c {
                #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
                ControlMessageOwned::Ipv4PacketInfo(info) => {
                    out.dst = Some(IpAddr::V4(ipv4(info.ipi_addr)));
                    out.spec_dst = Some(ipv4(info.ipi_spec_dst));
                    out.ifindex = info.ipi_ifindex as u32;
                }
                // The BSDs report the destination only; answer from it.
                #[cfg(any(
                    target_os = "freebsd",
                    target_os = "dragonfly",
                    target_os = "netbsd",
                    target_os = "openbsd"
                ))]
                ControlMessageOwned::Ipv4RecvDstAddr(addr) => {
                    out.dst = Some(IpAddr::V4(ipv4(addr)));
                    out.spec_dst = Some(ipv4(addr));
                }
                // A dual socket reports an IPv4 datagram here too, mapped; IP_PKTINFO
                // (when it came as well) is preferred for the spec_dst it carries.
                ControlMessageOwned::Ipv6PacketInfo(info) if out.spec_dst.is_none() => {
                    let a = Ipv6Addr::from(info.ipi6_addr.s6_addr);
                    out.dst = Some(crate::addr::unmap(IpAddr::V6(a)));
                    out.ifindex = info.ipi6_ifindex;
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

fn ipv4(a: libc::in_addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from_be(a.s_addr))
}

fn to_socket_addr(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        Some(SocketAddr::V4((*v4).into()))
    } else {
        s.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
    }
}

/// Whether a receive error means the socket is unusable, not a transient condition.
pub(crate) fn is_fatal_recv_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADF | libc::ENOTSOCK | libc::EINVAL | libc::EFAULT)
    )
}

/// Send `data` to `peer` (as [`recv`] reported it) with source address `src`.
///
/// An IPv4 source goes in `IP_PKTINFO.ipi_spec_dst` (also on a dual socket: the kernel
/// hands a mapped destination to its IPv4 path, which reads it), an IPv6 source in
/// `IPV6_PKTINFO.ipi6_addr`. `ifindex` pins the outgoing interface; pass it for
/// link-local sources and 0 otherwise, so routing decides.
pub(crate) fn send(
    sock: &impl AsFd,
    data: &[u8],
    peer: SocketAddr,
    src: Option<IpAddr>,
    ifindex: u32,
) -> io::Result<usize> {
    let to = SockaddrStorage::from(peer);
    let iov = [IoSlice::new(data)];
    let v4info;
    let v6info;
    let cmsg4;
    let cmsg6;
    let cmsg: &[ControlMessage<'_>] = match src {
        None => &[],
        Some(IpAddr::V4(a)) => {
            #[cfg(not(any(
                target_os = "freebsd",
                target_os = "dragonfly",
                target_os = "netbsd",
                target_os = "openbsd"
            )))]
            {
                v4info = libc::in_pktinfo {
                    // c_int on Linux, c_uint on macOS.
                    ipi_ifindex: ifindex as _,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(a).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                cmsg4 = [ControlMessage::Ipv4PacketInfo(&v4info)];
            }
            // IP_SENDSRCADDR: the source address alone (the interface follows from it).
            #[cfg(any(
                target_os = "freebsd",
                target_os = "dragonfly",
                target_os = "netbsd",
                target_os = "openbsd"
            ))]
            {
                let _ = ifindex;
                v4info = libc::in_addr {
                    s_addr: u32::from(a).to_be(),
                };
                cmsg4 = [ControlMessage::Ipv4SendSrcAddr(&v4info)];
            }
            &cmsg4
        }
        Some(IpAddr::V6(a)) => {
            v6info = libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: a.octets(),
                },
                ipi6_ifindex: ifindex,
            };
            cmsg6 = [ControlMessage::Ipv6PacketInfo(&v6info)];
            &cmsg6
        }
    };
    Ok(sendmsg(
        sock.as_fd().as_raw_fd(),
        &iov,
        cmsg,
        MsgFlags::empty(),
        Some(&to),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp(addr: &str, v6only: Option<bool>) -> socket2::Socket {
        let addr: SocketAddr = addr.parse().unwrap();
        let s = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::DGRAM,
            None,
        )
        .unwrap();
        if let Some(v) = v6only {
            s.set_only_v6(v).unwrap();
        }
        s.bind(&addr.into()).unwrap();
        s
    }

    #[test]
    fn enable_sets_the_options_each_kind_needs() {
        let v4 = udp("127.0.0.1:0", None);
        assert_eq!(enable(&v4).unwrap(), SocketKind::V4);
        assert!(getsockopt(&v4, sockopt::Ipv4PacketInfo).unwrap());

        let v6 = udp("[::1]:0", Some(true));
        assert_eq!(enable(&v6).unwrap(), SocketKind::V6Only);
        assert!(getsockopt(&v6, sockopt::Ipv6RecvPacketInfo).unwrap());

        let dual = udp("[::]:0", Some(false));
        assert_eq!(enable(&dual).unwrap(), SocketKind::Dual);
        assert!(getsockopt(&dual, sockopt::Ipv6RecvPacketInfo).unwrap());
        assert!(getsockopt(&dual, sockopt::Ipv4PacketInfo).unwrap());
    }

    #[test]
    fn only_no_ipv4_errors_are_skipped() {
        assert!(is_ipv4_unavailable(Errno::ENOPROTOOPT));
        assert!(is_ipv4_unavailable(Errno::EAFNOSUPPORT));
        assert!(!is_ipv4_unavailable(Errno::EPERM));
        assert!(!is_ipv4_unavailable(Errno::EBADF));
        assert!(!is_ipv4_unavailable(Errno::EINVAL));
    }

    #[test]
    fn recv_reports_destination_and_send_sets_source() {
        let server = udp("0.0.0.0:0", None);
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        enable(&server).unwrap();
        let port = server.local_addr().unwrap().as_socket().unwrap().port();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        client.send_to(b"hello", ("127.0.0.9", port)).unwrap();
        let mut buf = [0u8; 3];
        let r = recv(&server, &mut buf).unwrap();
        assert_eq!(r.len, 5, "MSG_TRUNC gives the full length");
        assert_eq!(&buf, b"hel");
        assert_eq!(r.peer, client.local_addr().unwrap());
        assert_eq!(r.dst, Some("127.0.0.9".parse().unwrap()));
        assert_eq!(r.spec_dst, Some(Ipv4Addr::new(127, 0, 0, 9)));
        assert_ne!(r.ifindex, 0);
        send(&server, b"hi", r.peer, r.dst, 0).unwrap();
        let mut got = [0u8; 8];
        let (n, from) = client.recv_from(&mut got).unwrap();
        assert_eq!(&got[..n], b"hi");
        assert_eq!(from, SocketAddr::from(([127, 0, 0, 9], port)));
    }
}
