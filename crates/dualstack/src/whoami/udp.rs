//! The UDP whoami: each datagram gets one reply with the client's address, port and
//! family and the local address it was sent to, **sent from that local address**.
//!
//! # Replying from the right address
//! A socket bound to `0.0.0.0` or `::` on a host with several addresses would reply from
//! whatever source the routing table picks; a client that sent to another address drops
//! that reply (a connected client never receives it). Every socket gets `IP_PKTINFO`
//! (IPv4) / `IPV6_RECVPKTINFO` (IPv6, both on a dual socket); each datagram's destination
//! is read from the control message and the reply carries it as its source
//! (`ipi_spec_dst` / `ipi6_addr`). On a dual socket an IPv4 datagram's mapped destination
//! is treated as IPv4, and every address shown is unmapped.
//!
//! # Request
//! The datagram's text, with surrounding whitespace and NUL padding removed, is
//! `json` (any case) for a JSON reply ([`Facts::to_json`] plus `\n`); anything else gets
//! `key: value` CRLF lines ([`Facts::to_lines`]). No reverse-DNS lookup is made for UDP:
//! it would let anyone trigger DNS queries with spoofed datagrams.
//!
//! # Anti-amplification: the reply is never larger than the request
//! UDP sources are not validated, so a whoami server could be used to reflect traffic at
//! a spoofed victim. The rule here is the strictest useful one, **at most 1× the request
//! size** (the full datagram length, also when it is longer than the receive buffer):
//!
//! - lines: the longest run of whole lines that fits (`ip:` and `port:` first, so a short
//!   request still learns its address); if not even the `ip:` line fits, no reply;
//! - JSON: the full object if it fits, else `{"ip":…,"port":…}`, else no reply;
//! - an empty datagram gets no reply.
//!
//! QUIC allows 3× before address validation (RFC 9000 §8.1) because a server must send its
//! certificates before it can validate; DNS answers may be larger than queries and need
//! rate limits and cookies (RFC 7873). A whoami reply is small, and a client can pad its
//! request at no cost (as QUIC clients pad their Initial to 1200 bytes), so 1× makes the
//! server useless as an amplifier at no loss. A request of [`FULL_REPLY_REQUEST`] bytes
//! always gets the full reply.
//!
//! # Bounded work
//! One receive buffer of [`RECV_BUFFER`] bytes per socket, a reply built from it, no
//! per-client state and no lookups: memory and time per datagram are constant.

use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

use super::Facts;
use crate::addr::unmap_socket;
use crate::sys::pktinfo;

/// A request at least this long always gets the full reply (the longest reply, an IPv6
/// link-local local address with a long scope and port, is under 200 bytes).
pub const FULL_REPLY_REQUEST: usize = 256;

/// Bytes read of each datagram. Longer datagrams are cut (their full length still counts
/// for the reply allowance); the request keyword is only a few bytes.
pub const RECV_BUFFER: usize = 2048;

/// How long a socket rests after a receive error that may be transient (ENOBUFS,
/// ENOMEM), so a persistent error cannot make the loop spin.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// The reply format a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `key: value` CRLF lines.
    Lines,
    /// One JSON object and `\n`.
    Json,
}

impl Format {
    /// The format `request` asks for: `json` (any case, whitespace and NUL padding
    /// ignored) or lines.
    pub fn of(request: &[u8]) -> Format {
        let pad = |b: &u8| b.is_ascii_whitespace() || *b == 0;
        let start = request
            .iter()
            .position(|b| !pad(b))
            .unwrap_or(request.len());
        let end = request
            .iter()
            .rposition(|b| !pad(b))
            .map_or(start, |e| e + 1);
        if request[start..end].eq_ignore_ascii_case(b"json") {
            Format::Json
        } else {
            Format::Lines
        }
    }
}

/// The reply to a request of `request_len` bytes in `format`, or `None` when even the
/// shortest reply would be larger than the request (see the module docs for the rule).
pub fn reply(facts: &Facts, format: Format, request_len: usize) -> Option<Vec<u8>> {
    match format {
        Format::Lines => {
            let full = facts.to_lines();
            let mut end = 0;
            for (i, _) in full.match_indices("\r\n") {
                if i + 2 > request_len {
                    break;
                }
                end = i + 2;
            }
            (end > 0).then(|| full.as_bytes()[..end].to_vec())
        }
        Format::Json => {
            let mut full = facts.to_json();
            full.push('\n');
            if full.len() <= request_len {
                return Some(full.into_bytes());
            }
            let short = format!(
                "{}\n",
                serde_json::json!({ "ip": facts.ip, "port": facts.port })
            );
            (short.len() <= request_len).then(|| short.into_bytes())
        }
    }
}

/// One datagram's addresses, from [`recv_from_to`].
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
    /// The datagram's full length in bytes (may exceed the buffer it was read into).
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

/// Turn on destination-address reporting on `socket` (`IP_PKTINFO`, `IPV6_RECVPKTINFO`,
/// both on a dual socket). [`UdpWhoami::new`] does it for its sockets.
///
/// # Errors
/// The socket is not an IP socket, or the kernel refused the option (on a dual socket an
/// `IP_PKTINFO` refusal because the host has no IPv4 is logged once and ignored).
pub fn enable_pktinfo(socket: &UdpSocket) -> io::Result<()> {
    pktinfo::enable(socket).map(|_| ())
}

/// Receive one datagram into `buf`, with the local address it was sent to.
/// [`enable_pktinfo`] must have been called on `socket`.
///
/// # Errors
/// The socket's receive error.
///
/// # Cancel safety
/// Cancel safe: a datagram is either received and returned, or left in the queue.
pub async fn recv_from_to(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Datagram> {
    recv_on(socket, buf, socket.local_addr()?).await
}

/// [`recv_from_to`] with the socket's address already known (saves a `getsockname`
/// per datagram in the server loop).
async fn recv_on(socket: &UdpSocket, buf: &mut [u8], local: SocketAddr) -> io::Result<Datagram> {
    let r = socket
        .async_io(Interest::READABLE, || pktinfo::recv(socket, buf))
        .await?;
    let (local, source) = match r.dst {
        None => (unmap_socket(local), None),
        Some(dst) => {
            let local = match dst {
                IpAddr::V6(v6) if v6.is_unicast_link_local() => {
                    SocketAddr::V6(SocketAddrV6::new(v6, local.port(), 0, r.ifindex))
                }
                ip => SocketAddr::new(ip, local.port()),
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
pub async fn send_reply(socket: &UdpSocket, data: &[u8], to: &Datagram) -> io::Result<usize> {
    // Pin the interface only for link-local sources, where the address alone is
    // ambiguous; otherwise let routing choose, as quinn-udp does.
    let ifindex = match to.source {
        Some(IpAddr::V6(v6)) if v6.is_unicast_link_local() => to.ifindex,
        _ => 0,
    };
    socket
        .async_io(Interest::WRITABLE, || {
            pktinfo::send(socket, data, to.raw_peer, to.source, ifindex)
        })
        .await
}

/// The UDP whoami server over one or more bound UDP sockets.
#[derive(Debug)]
pub struct UdpWhoami {
    sockets: Vec<Arc<UdpSocket>>,
}

impl UdpWhoami {
    /// Serve on `sockets` (bound, any family, wildcard or not). Turns on pktinfo and
    /// non-blocking mode. Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// A socket is not an IP socket, refuses pktinfo, or cannot be registered with Tokio.
    pub fn new(sockets: impl IntoIterator<Item = std::net::UdpSocket>) -> io::Result<UdpWhoami> {
        let sockets = sockets
            .into_iter()
            .map(|s| {
                s.set_nonblocking(true)?;
                let s = UdpSocket::from_std(s)?;
                enable_pktinfo(&s)?;
                Ok(Arc::new(s))
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(UdpWhoami { sockets })
    }

    /// The sockets' local addresses (as bound: a dual socket shows `[::]:port`).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    /// Answer datagrams on every socket until all of them have failed for good. A socket
    /// that fails is logged and dropped; the others keep serving.
    ///
    /// # Errors
    /// The last socket's fatal error, once no socket is left.
    ///
    /// # Cancel safety
    /// Dropping the future stops every socket's task; at most the replies in flight are
    /// lost, which UDP allows.
    pub async fn run(self) -> io::Result<()> {
        let mut tasks = JoinSet::new();
        for s in self.sockets {
            tasks.spawn(serve_socket(s));
        }
        let mut last = Ok(());
        while let Some(done) = tasks.join_next().await {
            last = match done {
                Ok(r) => r,
                Err(e) => Err(io::Error::other(e)),
            };
        }
        last
    }
}

/// Whether a receive error means the socket itself is unusable.
fn is_fatal(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADF | libc::ENOTSOCK | libc::EINVAL | libc::EFAULT)
    )
}

async fn serve_socket(socket: Arc<UdpSocket>) -> io::Result<()> {
    let bound = socket.local_addr()?;
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let d = match recv_on(&socket, &mut buf, bound).await {
            Ok(d) => d,
            Err(e) if is_fatal(&e) => {
                tracing::error!(%bound, "UDP socket failed, no longer serving on it: {e}");
                return Err(e);
            }
            Err(e) => {
                // ICMP errors queued on the socket, ENOBUFS, ENOMEM: not fatal.
                tracing::debug!(%bound, "UDP receive error: {e}");
                tokio::time::sleep(ERROR_BACKOFF).await;
                continue;
            }
        };
        let facts = Facts::new(d.peer(), d.local());
        let format = Format::of(&buf[..d.received()]);
        match reply(&facts, format, d.len()) {
            Some(r) => match send_reply(&socket, &r, &d).await {
                Ok(_) => tracing::debug!(
                    peer = %d.peer(), local = %d.local(),
                    "UDP whoami: {} bytes in, {} bytes out", d.len(), r.len()
                ),
                Err(e) => {
                    tracing::debug!(peer = %d.peer(), local = %d.local(), "UDP reply failed: {e}")
                }
            },
            None => tracing::debug!(
                peer = %d.peer(), local = %d.local(),
                "UDP whoami: {}-byte request too small for any reply (anti-amplification)",
                d.len()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts::new(
            "[2001:db8::1]:40000".parse().unwrap(),
            "[2001:db8::2]:2323".parse().unwrap(),
        )
    }

    #[test]
    fn format_keyword() {
        assert_eq!(Format::of(b"json"), Format::Json);
        assert_eq!(Format::of(b"  JSON\r\n\0\0\0"), Format::Json);
        assert_eq!(Format::of(b"jsonx"), Format::Lines);
        assert_eq!(Format::of(b""), Format::Lines);
        assert_eq!(Format::of(b"\0\0"), Format::Lines);
        assert_eq!(Format::of(b"hello"), Format::Lines);
    }

    #[test]
    fn reply_never_exceeds_request() {
        let f = facts();
        let full_lines = f.to_lines();
        for len in 0..400 {
            for format in [Format::Lines, Format::Json] {
                if let Some(r) = reply(&f, format, len) {
                    assert!(r.len() <= len, "{format:?} {len}: {} bytes", r.len());
                }
            }
            match reply(&f, Format::Lines, len) {
                None => assert!(len < "ip: 2001:db8::1\r\n".len()),
                Some(r) => {
                    let r = String::from_utf8(r).unwrap();
                    assert!(full_lines.starts_with(&r) && r.ends_with("\r\n"), "{r:?}");
                }
            }
        }
        assert_eq!(
            reply(&f, Format::Lines, FULL_REPLY_REQUEST).unwrap(),
            full_lines.as_bytes()
        );
        assert_eq!(
            reply(&f, Format::Lines, 30).unwrap(),
            b"ip: 2001:db8::1\r\nport: 40000\r\n"
        );
        let json = reply(&f, Format::Json, FULL_REPLY_REQUEST).unwrap();
        assert_eq!(json, format!("{}\n", f.to_json()).as_bytes());
        assert_eq!(
            reply(&f, Format::Json, 40).unwrap(),
            b"{\"ip\":\"2001:db8::1\",\"port\":40000}\n"
        );
        assert_eq!(reply(&f, Format::Json, 10), None);
        assert_eq!(reply(&f, Format::Lines, 0), None);
    }

    #[test]
    fn longest_reply_fits_full_reply_request() {
        let f = Facts::new(
            "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535"
                .parse()
                .unwrap(),
            SocketAddr::V6(SocketAddrV6::new(
                "fe80:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap(),
                65535,
                0,
                u32::MAX,
            )),
        );
        for format in [Format::Lines, Format::Json] {
            let r = reply(&f, format, FULL_REPLY_REQUEST).unwrap();
            assert!(String::from_utf8(r).unwrap().contains("fe80"), "{format:?}");
        }
    }
}
