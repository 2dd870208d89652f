//! PROXY protocol v1 and v2 (HAProxy's `proxy-protocol.txt`) on accepted TCP streams.
//!
//! A load balancer in front of a server hides the client: the server's peer is the proxy.
//! The PROXY protocol puts one header before the application data that names the original
//! client and the address it connected to. Anyone can send such a header, so it is believed
//! only from [`TrustedProxies`] (in [`addr`](crate::addr), with [`Cidr`](crate::addr::Cidr)):
//!
//! - from a trusted source the header is **required** (like nginx `proxy_protocol` and
//!   HAProxy `accept-proxy`): it must arrive complete within the header timeout (3 s by
//!   default), a v1 header in at most 107 bytes, a v2 header in at most
//!   [`MAX_V2_HEADER`] bytes (the format's own limit; a lower cap can be set with
//!   [`ProxyProtocol::with_max_v2_header`]). `UNKNOWN` (v1) and `LOCAL` (v2) keep the real peer, as the
//!   specification asks (health checks from the proxy itself).
//! - from anyone else a stream that starts with a header signature is **rejected**; every
//!   other stream passes untouched. Nothing is consumed.
//!
//! Exactly the header bytes are consumed (peek, then read only bytes known to belong to
//! the header), so the line or HTTP protocol after it reads intact data.
//!
//! Parsing uses the `ppp` crate; [`inspect`] is the pure, fuzzed entry point.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use ppp::PartialResult;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::Facts;
use crate::addr::{unmap_socket, TrustedProxies};

/// The longest v1 (text) header, CRLF included, from the specification (section 2.1).
pub const MAX_V1_HEADER: usize = 107;

/// The longest v2 (binary) header the format allows: the 16-byte fixed part plus a
/// 16-bit length of addresses and TLVs. The default cap of a [`ProxyProtocol`].
///
/// Real proxies send the addresses (at most 216 bytes, for UNIX sockets) and a few TLVs
/// (ALPN, authority, TLS details with certificates' names, unique ID, cloud vendors'
/// endpoint IDs), usually well under 1 KiB but legally more. The buffer grows only as a
/// trusted proxy's header arrives, so a large cap costs nothing for small headers.
pub const MAX_V2_HEADER: usize = 16 + 65_535;

/// The smallest cap [`ProxyProtocol::with_max_v2_header`] takes: a v2 header with IPv6
/// addresses (16 + 36 bytes) must always fit.
pub const MIN_V2_HEADER_CAP: usize = 52;

/// Default time a trusted proxy gets to send its complete header (as in the issue and
/// HAProxy's `timeout client` for `accept-proxy` being short in practice).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(3);

const V2_SIGNATURE: &[u8] = ppp::v2::PROTOCOL_PREFIX;
const V1_SIGNATURE: &[u8] = b"PROXY ";
/// While a client-speaks-first untrusted stream holds only part of a signature, peek again
/// after this long (a peek that sees no new bytes would otherwise return at once, forever).
const PARTIAL_SIGNATURE_POLL: Duration = Duration::from_millis(5);

/// Who a connection really comes from, after the PROXY header (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Origin {
    /// The original client (the TCP peer when there was no header, or UNKNOWN/LOCAL).
    pub client: SocketAddr,
    /// The address the client connected to (on the proxy, when there was a header).
    pub local: SocketAddr,
    /// The proxy that relayed the connection, when a header named another client.
    pub proxy: Option<SocketAddr>,
}

impl Origin {
    /// A direct connection: the TCP peer and local address, unmapped.
    pub fn direct(peer: SocketAddr, local: SocketAddr) -> Origin {
        Origin {
            client: unmap_socket(peer),
            local: unmap_socket(local),
            proxy: None,
        }
    }

    /// The whoami facts for this connection: the original client, naming the proxy.
    pub fn facts(&self) -> Facts {
        let mut f = Facts::new(self.client, self.local);
        f.proxy = self.proxy;
        f
    }
}

/// The PROXY protocol version of a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Version {
    /// The text header, `PROXY TCP4 ...\r\n`.
    V1,
    /// The binary header with the 12-byte signature.
    V2,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        })
    }
}

/// What the first bytes of a stream say, from [`inspect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inspect {
    /// Not a PROXY header (the bytes cannot start one).
    NotProxy,
    /// A prefix of a header; more bytes are needed to decide.
    Incomplete,
    /// A complete header of `len` bytes.
    Complete {
        /// The header's version.
        version: Version,
        /// The header's length in bytes; the application data starts right after.
        len: usize,
        /// The original source and destination, or `None` for UNKNOWN, LOCAL,
        /// an unspecified or UNIX address family (keep the real peer).
        addrs: Option<(SocketAddr, SocketAddr)>,
    },
    /// A header that can never become valid.
    Malformed {
        /// The header's version.
        version: Version,
        /// What is wrong, as a sentence fragment.
        reason: HeaderFault,
    },
}

/// Why a PROXY header is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderFault {
    /// Longer than the limit (107 bytes for v1, [`MAX_V2_HEADER`] for v2).
    TooLong(usize),
    /// Does not follow the grammar; the text is the parser's reason.
    Invalid(&'static str),
}

impl fmt::Display for HeaderFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderFault::TooLong(limit) => write!(f, "longer than {limit} bytes"),
            HeaderFault::Invalid(why) => f.write_str(why),
        }
    }
}

/// Classify the first bytes of a stream: no header, a prefix of one, a complete header
/// (with its exact length) or a malformed one. Pure: no I/O, bounded work for any input.
pub fn inspect(buf: &[u8]) -> Inspect {
    inspect_with_cap(buf, MAX_V2_HEADER)
}

/// [`inspect`] with v2 headers longer than `max_v2` bytes refused as
/// [`HeaderFault::TooLong`] (as soon as their length field is seen).
pub fn inspect_with_cap(buf: &[u8], max_v2: usize) -> Inspect {
    if is_prefix_of_either(buf) {
        return Inspect::Incomplete;
    }
    if buf.starts_with(V2_SIGNATURE) {
        inspect_v2(buf, max_v2.min(MAX_V2_HEADER))
    } else if buf.starts_with(V1_SIGNATURE) {
        inspect_v1(buf)
    } else {
        Inspect::NotProxy
    }
}

/// A strict prefix of a signature (including the empty input): undecided.
fn is_prefix_of_either(buf: &[u8]) -> bool {
    (buf.len() < V2_SIGNATURE.len() && V2_SIGNATURE.starts_with(buf))
        || (buf.len() < V1_SIGNATURE.len() && V1_SIGNATURE.starts_with(buf))
}

fn inspect_v2(buf: &[u8], max: usize) -> Inspect {
    let malformed = |reason| Inspect::Malformed {
        version: Version::V2,
        reason,
    };
    if buf.len() >= 16 {
        let len = 16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
        if len > max {
            return malformed(HeaderFault::TooLong(max));
        }
    }
    match ppp::v2::Header::try_from(buf) {
        Ok(h) => {
            use ppp::v2::{Addresses, Command};
            let addrs = match (h.command, h.addresses) {
                (Command::Local, _) => None,
                (Command::Proxy, Addresses::IPv4(a)) => Some((
                    SocketAddr::from((a.source_address, a.source_port)),
                    SocketAddr::from((a.destination_address, a.destination_port)),
                )),
                (Command::Proxy, Addresses::IPv6(a)) => Some((
                    SocketAddr::from((a.source_address, a.source_port)),
                    SocketAddr::from((a.destination_address, a.destination_port)),
                )),
                (Command::Proxy, Addresses::Unspecified | Addresses::Unix(_)) => None,
            };
            Inspect::Complete {
                version: Version::V2,
                len: h.len(),
                addrs,
            }
        }
        Err(e) if e.is_incomplete() => Inspect::Incomplete,
        Err(e) => malformed(HeaderFault::Invalid(v2_reason(&e))),
    }
}

fn v2_reason(e: &ppp::v2::ParseError) -> &'static str {
    use ppp::v2::ParseError as E;
    match e {
        E::Version(_) => "unsupported version (not 2)",
        E::Command(_) => "unknown command (not LOCAL or PROXY)",
        E::AddressFamily(_) => "unknown address family",
        E::Protocol(_) => "unknown transport protocol",
        E::InvalidAddresses(..) => "length too short for the address family",
        _ => "invalid binary header",
    }
}

fn inspect_v1(buf: &[u8]) -> Inspect {
    let malformed = |reason| Inspect::Malformed {
        version: Version::V1,
        reason,
    };
    // Look no further than the limit: a line end beyond byte 107 does not make a header.
    let window = &buf[..buf.len().min(MAX_V1_HEADER)];
    // The header is one line (HAProxy reads up to the first LF too). Until the LF has
    // arrived only impossible bytes are an error: ppp would call some prefixes, such as
    // "PROXY TCP4 a b 1 " (empty destination port), malformed.
    let lf = window.iter().position(|&b| b == b'\n');
    // The same check before and after the LF arrives, so a header is judged alike however
    // it is split into segments (found by the proxy_header fuzz target: ppp accepted
    // control bytes after UNKNOWN once the line was whole).
    if window[..lf.unwrap_or(window.len())]
        .iter()
        .any(|&b| !(b == b'\r' || (0x20..0x7f).contains(&b)))
    {
        return malformed(HeaderFault::Invalid("not ASCII text"));
    }
    let Some(lf) = lf else {
        return if window.len() >= MAX_V1_HEADER {
            malformed(HeaderFault::TooLong(MAX_V1_HEADER))
        } else {
            Inspect::Incomplete
        };
    };
    let line = &window[..=lf];
    match ppp::v1::Header::try_from(line) {
        Ok(h) if h.header.len() == line.len() => {
            let addrs = match h.addresses {
                ppp::v1::Addresses::Tcp4(a) => Some((
                    SocketAddr::from((a.source_address, a.source_port)),
                    SocketAddr::from((a.destination_address, a.destination_port)),
                )),
                ppp::v1::Addresses::Tcp6(a) => Some((
                    SocketAddr::from((a.source_address, a.source_port)),
                    SocketAddr::from((a.destination_address, a.destination_port)),
                )),
                ppp::v1::Addresses::Unknown => None,
            };
            Inspect::Complete {
                version: Version::V1,
                len: line.len(),
                addrs,
            }
        }
        Ok(_) => malformed(HeaderFault::Invalid("a CR inside the header")),
        Err(_) if !line.ends_with(b"\r\n") => {
            malformed(HeaderFault::Invalid("the line does not end in CRLF"))
        }
        Err(e) => malformed(HeaderFault::Invalid(v1_reason(&e))),
    }
}

fn v1_reason(e: &ppp::v1::BinaryParseError) -> &'static str {
    use ppp::v1::{BinaryParseError as B, ParseError as E};
    match e {
        B::InvalidUtf8(_) => "not ASCII text",
        B::Parse(E::HeaderTooLong) => "longer than 107 bytes",
        B::Parse(E::InvalidProtocol) => "protocol is not TCP4, TCP6 or UNKNOWN",
        B::Parse(E::InvalidSuffix) => "does not end in CRLF after the ports",
        B::Parse(E::InvalidSourceAddress(_)) => "invalid source address",
        B::Parse(E::InvalidDestinationAddress(_)) => "invalid destination address",
        B::Parse(E::InvalidSourcePort(_)) => "invalid source port",
        B::Parse(E::InvalidDestinationPort(_)) => "invalid destination port",
        B::Parse(_) => "invalid text header",
    }
}

/// Why a connection was refused by the PROXY protocol check. Each names the peer; the
/// caller logs it and closes the connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// An untrusted source sent a PROXY header.
    #[error("{peer} sent a PROXY protocol header but is not a trusted proxy")]
    Untrusted {
        /// The TCP peer.
        peer: SocketAddr,
    },
    /// A trusted proxy's connection started with something other than a PROXY header.
    #[error("trusted proxy {peer} did not start the connection with a PROXY protocol header")]
    Missing {
        /// The TCP peer.
        peer: SocketAddr,
    },
    /// The header from a trusted proxy is malformed or too long.
    #[error("malformed PROXY protocol {version} header from {peer}: {fault}")]
    Malformed {
        /// The TCP peer.
        peer: SocketAddr,
        /// The header's version.
        version: Version,
        /// What is wrong.
        fault: HeaderFault,
    },
    /// The trusted proxy closed the connection before its header was complete.
    #[error("trusted proxy {peer} closed the connection after {got} bytes, before a complete PROXY protocol header")]
    Closed {
        /// The TCP peer.
        peer: SocketAddr,
        /// How many bytes arrived.
        got: usize,
    },
    /// The trusted proxy's header did not arrive within the header timeout.
    #[error("trusted proxy {peer} sent no complete PROXY protocol header within {timeout:?}")]
    Timeout {
        /// The TCP peer.
        peer: SocketAddr,
        /// The header timeout.
        timeout: Duration,
    },
    /// Reading from the socket failed.
    #[error("reading the PROXY protocol header from {peer} failed")]
    Io {
        /// The TCP peer.
        peer: SocketAddr,
        /// The socket error.
        #[source]
        source: io::Error,
    },
}

/// Who speaks first in the protocol behind the header. It matters only for untrusted
/// peers: how long to look for a header they should not send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstSpeaker {
    /// The client speaks first (HTTP): wait, up to the header timeout, for enough bytes
    /// to tell whether the stream starts with a PROXY signature. A client that sends
    /// nothing for that long is passed on untouched to the protocol's own timeouts.
    Client,
    /// The server speaks first (the line whoami): look only at bytes already received,
    /// never wait, so the greeting is not delayed.
    Server,
}

/// The PROXY protocol policy of one listener: who is trusted and how long a header may
/// take.
#[derive(Debug, Clone)]
pub struct ProxyProtocol {
    trusted: TrustedProxies,
    header_timeout: Duration,
    max_v2_header: usize,
}

impl ProxyProtocol {
    /// Headers believed from `trusted` (required there, rejected elsewhere); header
    /// timeout [`DEFAULT_HEADER_TIMEOUT`].
    pub fn new(trusted: TrustedProxies) -> ProxyProtocol {
        ProxyProtocol {
            trusted,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_v2_header: MAX_V2_HEADER,
        }
    }

    /// The longest v2 header accepted, in bytes; clamped to [`MIN_V2_HEADER_CAP`]–
    /// [`MAX_V2_HEADER`] (the default).
    pub fn with_max_v2_header(mut self, bytes: usize) -> ProxyProtocol {
        self.max_v2_header = bytes.clamp(MIN_V2_HEADER_CAP, MAX_V2_HEADER);
        self
    }

    /// The longest v2 header accepted.
    pub fn max_v2_header(&self) -> usize {
        self.max_v2_header
    }

    /// How long a trusted proxy gets to send its complete header.
    pub fn with_header_timeout(mut self, timeout: Duration) -> ProxyProtocol {
        self.header_timeout = timeout;
        self
    }

    /// The trusted networks.
    pub fn trusted(&self) -> &TrustedProxies {
        &self.trusted
    }

    /// The header timeout.
    pub fn header_timeout(&self) -> Duration {
        self.header_timeout
    }

    /// Check an accepted stream from `peer` (reached at `local`) and find its real origin.
    ///
    /// From a trusted proxy: reads exactly the PROXY header (never a byte of the data
    /// after it) and returns the original client and destination, naming the proxy. From
    /// anyone else: peeks without consuming and rejects a stream that starts with a
    /// header signature; see [`FirstSpeaker`] for how long it looks.
    ///
    /// Memory is bounded by the v2 cap ([`ProxyProtocol::max_v2_header`]); the whole check
    /// by the header timeout.
    ///
    /// # Errors
    /// [`ProxyError`]: an untrusted header, a missing, malformed, overlong, truncated or
    /// late header from a trusted proxy, or a socket error.
    ///
    /// # Cancel safety
    /// Not cancel safe: when cancelled after part of a trusted proxy's header was read,
    /// those bytes are gone. Close the stream then.
    pub async fn accept(
        &self,
        stream: &mut TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
        first: FirstSpeaker,
    ) -> Result<Origin, ProxyError> {
        let peer = unmap_socket(peer);
        let direct = Origin::direct(peer, local);
        let deadline = crate::deadline::Later::later(Instant::now(), self.header_timeout);
        if self.trusted.contains(peer.ip()) {
            let timeout = self.header_timeout;
            let read = read_header(stream, peer, self.max_v2_header);
            match tokio::time::timeout_at(deadline, read).await {
                Err(_) => Err(ProxyError::Timeout { peer, timeout }),
                Ok(Err(e)) => Err(e),
                Ok(Ok(None)) => Ok(direct),
                Ok(Ok(Some((src, dst)))) => Ok(Origin {
                    client: unmap_socket(src),
                    local: unmap_socket(dst),
                    proxy: Some(peer),
                }),
            }
        } else {
            let starts_with_header = match first {
                FirstSpeaker::Server => peek_now(stream, peer)?,
                FirstSpeaker::Client => {
                    tokio::time::timeout_at(deadline, peek_until_decided(stream, peer))
                        .await
                        .unwrap_or(Ok(false))?
                }
            };
            if starts_with_header {
                Err(ProxyError::Untrusted { peer })
            } else {
                Ok(direct)
            }
        }
    }
}

/// Read exactly one header from a trusted proxy. Returns the original (source,
/// destination), or `None` for UNKNOWN/LOCAL.
///
/// Each round peeks at what has arrived. A complete header is then read to its last
/// byte; an incomplete one is read up to what was peeked (all of it belongs to the
/// header, because the header does not end inside it), so the next peek waits for new
/// bytes instead of seeing the same ones again.
async fn read_header(
    stream: &mut TcpStream,
    peer: SocketAddr,
    max_v2: usize,
) -> Result<Option<(SocketAddr, SocketAddr)>, ProxyError> {
    let io_err = |source| ProxyError::Io { peer, source };
    let max_v2 = max_v2.clamp(MIN_V2_HEADER_CAP, MAX_V2_HEADER);
    let mut header: Vec<u8> = Vec::with_capacity(128);
    // Peeked in rounds of at most this much; the header itself grows as it arrives.
    let mut buf = vec![0u8; max_v2.min(4096)];
    loop {
        let room = (max_v2 - header.len()).min(buf.len());
        let n = stream.peek(&mut buf[..room]).await.map_err(io_err)?;
        if n == 0 {
            return Err(if header.is_empty() {
                ProxyError::Missing { peer }
            } else {
                ProxyError::Closed {
                    peer,
                    got: header.len(),
                }
            });
        }
        let seen = header.len();
        header.extend_from_slice(&buf[..n]);
        match inspect_with_cap(&header, max_v2) {
            Inspect::NotProxy => return Err(ProxyError::Missing { peer }),
            Inspect::Malformed { version, reason } => {
                return Err(ProxyError::Malformed {
                    peer,
                    version,
                    fault: reason,
                })
            }
            Inspect::Complete {
                len,
                addrs,
                version,
            } => {
                // `inspect` saw no complete header in the first `seen` bytes, so it ends
                // after them; checked anyway so a parser quirk cannot panic here.
                let rest = len.checked_sub(seen).ok_or(ProxyError::Malformed {
                    peer,
                    version,
                    fault: HeaderFault::Invalid("inconsistent header length"),
                })?;
                stream.read_exact(&mut buf[..rest]).await.map_err(io_err)?;
                return Ok(addrs);
            }
            Inspect::Incomplete if header.len() >= max_v2 => {
                // Unreachable with the limits in `inspect`, but never loop on a full buffer.
                return Err(ProxyError::Malformed {
                    peer,
                    version: Version::V2,
                    fault: HeaderFault::TooLong(max_v2),
                });
            }
            Inspect::Incomplete => {
                stream.read_exact(&mut buf[..n]).await.map_err(io_err)?;
            }
        }
    }
}

/// Whether the bytes already received start with a header signature. Never waits.
fn peek_now(stream: &TcpStream, peer: SocketAddr) -> Result<bool, ProxyError> {
    let mut buf = [0u8; 16];
    match crate::sys::socket::peek_now(stream, &mut buf) {
        Ok(n) => Ok(signature_seen(&buf[..n])),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(source) => Err(ProxyError::Io { peer, source }),
    }
}

/// Peek until the first bytes either start a header signature or cannot. Without a
/// caller's timeout it waits as long as the client sends a partial signature.
async fn peek_until_decided(stream: &TcpStream, peer: SocketAddr) -> Result<bool, ProxyError> {
    let mut buf = [0u8; 16];
    let mut last = 0;
    loop {
        let n = stream
            .peek(&mut buf)
            .await
            .map_err(|source| ProxyError::Io { peer, source })?;
        if n == 0 || !is_prefix_of_either(&buf[..n]) {
            return Ok(signature_seen(&buf[..n]));
        }
        if n == last {
            // Same partial signature as before: the socket stays readable, so a peek
            // would return at once. Wait a little for the rest instead of spinning.
            tokio::time::sleep(PARTIAL_SIGNATURE_POLL).await;
        }
        last = n;
    }
}

fn signature_seen(buf: &[u8]) -> bool {
    buf.starts_with(V1_SIGNATURE) || buf.starts_with(V2_SIGNATURE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn v2(cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | cmd);
        h.push(fam);
        h.extend_from_slice(&(body.len() as u16).to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    #[test]
    fn inspect_v1_headers() {
        let h = b"PROXY TCP4 192.0.2.1 198.51.100.1 4000 80\r\nGET /";
        assert_eq!(
            inspect(h),
            Inspect::Complete {
                version: Version::V1,
                len: h.len() - 5,
                addrs: Some((
                    "192.0.2.1:4000".parse().unwrap(),
                    "198.51.100.1:80".parse().unwrap()
                )),
            }
        );
        for cut in 0..h.len() - 5 {
            assert_eq!(inspect(&h[..cut]), Inspect::Incomplete, "cut {cut}");
        }
        let h6 = b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 80\r\n";
        assert!(matches!(
            inspect(h6),
            Inspect::Complete { addrs: Some((s, _)), .. } if s == "[2001:db8::1]:4000".parse().unwrap()
        ));
        assert!(matches!(
            inspect(b"PROXY UNKNOWN\r\n"),
            Inspect::Complete {
                len: 15,
                addrs: None,
                ..
            }
        ));
        assert_eq!(inspect(b"GET / HTTP/1.1\r\n"), Inspect::NotProxy);
        assert_eq!(inspect(b"PROXX"), Inspect::NotProxy);
        assert!(matches!(
            inspect(b"PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n"),
            Inspect::Malformed { .. }
        ));
        assert!(matches!(
            inspect(b"PROXY TCP4 1.2.3.4 1.2.3.4 1 99999\r\n"),
            Inspect::Malformed { .. }
        ));
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(MAX_V1_HEADER, b'x');
        assert_eq!(
            inspect(&long),
            Inspect::Malformed {
                version: Version::V1,
                reason: HeaderFault::TooLong(MAX_V1_HEADER)
            }
        );
        long.extend_from_slice(b"\r\n");
        assert!(matches!(inspect(&long), Inspect::Malformed { .. }));
        // Exactly 107 bytes is allowed.
        let mut max = b"PROXY UNKNOWN ".to_vec();
        max.resize(MAX_V1_HEADER - 2, b'x');
        max.extend_from_slice(b"\r\n");
        assert!(matches!(inspect(&max), Inspect::Complete { len: 107, .. }));
    }

    /// What `read_header` relies on: once a prefix decides, more bytes never change the
    /// decision, and an incomplete prefix is never followed by a header ending inside it.
    fn check_prefix_consistency(data: &[u8]) {
        let whole = inspect(data);
        for cut in 0..=data.len() {
            match inspect(&data[..cut]) {
                Inspect::Incomplete => {
                    if let Inspect::Complete { len, .. } = whole {
                        assert!(len > cut, "complete at {len} but incomplete at {cut}");
                    }
                }
                // Malformed stays malformed (the reason may name a later fault).
                Inspect::Malformed { version, .. } => assert!(
                    matches!(whole, Inspect::Malformed { version: v, .. } if v == version),
                    "prefix {cut} malformed, whole {whole:?}"
                ),
                decided => assert_eq!(decided, whole, "prefix {cut} decided differently"),
            }
        }
        if let Inspect::Complete { len, .. } = whole {
            assert!(len <= data.len() && len <= MAX_V2_HEADER);
        }
    }

    proptest::proptest! {
        #[test]
        fn prefixes_agree_on_random_bytes(
            start in 0usize..3,
            rest in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        ) {
            let prefix: &[u8] = [&b""[..], b"PROXY ", V2_SIGNATURE][start];
            check_prefix_consistency(&[prefix, &rest].concat());
        }

        #[test]
        fn prefixes_agree_on_headers(
            v4 in proptest::bool::ANY,
            src in proptest::num::u128::ANY,
            dst in proptest::num::u128::ANY,
            ports in (proptest::num::u16::ANY, proptest::num::u16::ANY),
            tail in proptest::collection::vec(proptest::num::u8::ANY, 0..20),
            flip in proptest::option::of((0usize..64, proptest::num::u8::ANY)),
        ) {
            let (s, d): (IpAddr, IpAddr) = if v4 {
                (Ipv4Addr::from(src as u32).into(), Ipv4Addr::from(dst as u32).into())
            } else {
                (Ipv6Addr::from(src).into(), Ipv6Addr::from(dst).into())
            };
            let (s, d) = (SocketAddr::new(s, ports.0), SocketAddr::new(d, ports.1));
            let text = format!(
                "PROXY {} {} {} {} {}\r\n",
                if v4 { "TCP4" } else { "TCP6" }, s.ip(), d.ip(), s.port(), d.port()
            );
            let binary = {
                let body: Vec<u8> = match (s, d) {
                    (SocketAddr::V4(a), SocketAddr::V4(b)) => [&a.ip().octets()[..], &b.ip().octets()].concat(),
                    (SocketAddr::V6(a), SocketAddr::V6(b)) => [&a.ip().octets()[..], &b.ip().octets()].concat(),
                    _ => unreachable!(),
                };
                let body = [&body[..], &s.port().to_be_bytes(), &d.port().to_be_bytes()].concat();
                v2(1, if v4 { 0x11 } else { 0x21 }, &body)
            };
            for header in [text.into_bytes(), binary] {
                let mut data = header.clone();
                data.extend_from_slice(&tail);
                if flip.is_none() {
                    proptest::prop_assert_eq!(inspect(&data), Inspect::Complete {
                        version: if header[0] == b'P' { Version::V1 } else { Version::V2 },
                        len: header.len(),
                        addrs: Some((s, d)),
                    });
                }
                if let Some((i, b)) = flip {
                    let i = i % data.len();
                    data[i] = b;
                }
                check_prefix_consistency(&data);
            }
        }
    }

    #[test]
    fn inspect_v2_headers() {
        let body = [192, 0, 2, 1, 198, 51, 100, 1, 0x0f, 0xa0, 0, 80];
        let mut h = v2(1, 0x11, &body);
        let len = h.len();
        h.extend_from_slice(b"GET /");
        assert_eq!(
            inspect(&h),
            Inspect::Complete {
                version: Version::V2,
                len,
                addrs: Some((
                    "192.0.2.1:4000".parse().unwrap(),
                    "198.51.100.1:80".parse().unwrap()
                )),
            }
        );
        for cut in 0..len {
            assert_eq!(inspect(&h[..cut]), Inspect::Incomplete, "cut {cut}");
        }
        let local = v2(0, 0x00, &[]);
        assert!(matches!(
            inspect(&local),
            Inspect::Complete {
                len: 16,
                addrs: None,
                ..
            }
        ));
        let mut big = v2(1, 0x11, &body);
        big[14..16].copy_from_slice(&2000u16.to_be_bytes());
        assert_eq!(inspect(&big), Inspect::Incomplete, "2016 bytes are legal");
        assert_eq!(
            inspect_with_cap(&big, 1024),
            Inspect::Malformed {
                version: Version::V2,
                reason: HeaderFault::TooLong(1024)
            }
        );
        let bad_ver = {
            let mut b = v2(1, 0x11, &body);
            b[12] = 0x31;
            b
        };
        assert!(matches!(inspect(&bad_ver), Inspect::Malformed { .. }));
        let short = v2(1, 0x21, &body); // IPv6 needs 36 bytes
        assert!(matches!(inspect(&short), Inspect::Malformed { .. }));
    }
}
