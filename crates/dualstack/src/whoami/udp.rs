//! The UDP whoami: each datagram gets one reply with the client's address, port and
//! family and the local address it was sent to, **sent from that local address**.
//!
//! # Replying from the right address
//! Every socket is a [`ReplySocket`]: the reply leaves from the
//! address the datagram was sent to (pktinfo), on both families; addresses are shown
//! unmapped.
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
//! # No reply loops (Loop DoS, CVE-2024-2169)
//! UDP sources can be spoofed: one datagram claiming to come from another UDP service
//! (another whoami, an echo, chargen, daytime…) would make two servers answer each other
//! forever, or a server answer itself. [`answer`] refuses, before any other work:
//!
//! - a datagram that looks like one of our replies (it starts with `ip:` or `{"ip"`):
//!   the reply to it would go to a whoami, or to an echo that sends it straight back;
//! - a source port below [`MIN_SOURCE_PORT`] (1024): the ports of system services
//!   (echo 7, daytime 13, chargen 19, DNS 53, NTP 123…) and port 0; clients use
//!   ephemeral ports;
//! - a source port that is one of this server's own ports, which includes a datagram
//!   whose source is the socket itself.
//!
//! Then token buckets ([`ReplyLimits`]) bound what is left, loops with services that
//! answer in some other format included: replies per source (an IPv4 address, an IPv6
//! /64) and for the whole server. Every dropped datagram is counted; a summary by reason
//! is logged at most once a second ([`DROP_LOG_INTERVAL`]).
//!
//! # Bounded work
//! One receive buffer of [`RECV_BUFFER`] bytes per socket, a reply built from it, a fixed
//! table of [`SOURCE_BUCKETS`] rate buckets and no lookups: memory and time per datagram
//! are constant.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::observe::Observer;
use super::Facts;
use crate::addr::Family;
use crate::udp::{is_fatal, Datagram, ReplySocket};

mod limit;

pub use limit::{
    DropLog, Limiter, Rate, ReplyLimits, TokenBucket, DEFAULT_GLOBAL_BURST, DEFAULT_GLOBAL_RATE,
    DEFAULT_SOURCE_BURST, DEFAULT_SOURCE_RATE, DROP_LOG_INTERVAL, SOURCE_BUCKETS,
};

/// A request at least this long always gets the full reply (the longest reply, an IPv6
/// link-local local address with a long scope and port, is under 200 bytes).
pub const FULL_REPLY_REQUEST: usize = 256;

/// Bytes read of each datagram. Longer datagrams are cut (their full length still counts
/// for the reply allowance); the request keyword is only a few bytes.
pub const RECV_BUFFER: usize = 2048;

/// Datagrams from source ports below this get no reply: system services live there, and
/// a reply to one of them could start a loop.
pub const MIN_SOURCE_PORT: u16 = 1024;

/// How long a socket rests after a receive error that may be transient (ENOBUFS,
/// ENOMEM), so a persistent error cannot make the loop spin.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// Why a datagram got no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Refusal {
    /// Even the shortest reply would be larger than the request (anti-amplification).
    TooSmall,
    /// The datagram looks like a whoami reply: answering could start a loop.
    OurReply,
    /// The source port is below [`MIN_SOURCE_PORT`].
    ServicePort,
    /// The source port is one of this server's own ports.
    OwnPort,
    /// The source is over its reply rate.
    SourceRate,
    /// The whole server is over its reply rate.
    GlobalRate,
}

impl Refusal {
    const COUNT: usize = 6;
    const ALL: [Refusal; Refusal::COUNT] = [
        Refusal::TooSmall,
        Refusal::OurReply,
        Refusal::ServicePort,
        Refusal::OwnPort,
        Refusal::SourceRate,
        Refusal::GlobalRate,
    ];

    /// A short name for logs: `too_small`, `our_reply`, `service_port`, `own_port`,
    /// `source_rate`, `global_rate`.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::TooSmall => "too_small",
            Refusal::OurReply => "our_reply",
            Refusal::ServicePort => "service_port",
            Refusal::OwnPort => "own_port",
            Refusal::SourceRate => "source_rate",
            Refusal::GlobalRate => "global_rate",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::TooSmall => "request smaller than any reply (anti-amplification)",
            Refusal::OurReply => "looks like a whoami reply (reply loop)",
            Refusal::ServicePort => "source port below 1024 (a service, not a client)",
            Refusal::OwnPort => "source port is one of ours (reply loop)",
            Refusal::SourceRate => "source over its reply rate",
            Refusal::GlobalRate => "server over its reply rate",
        })
    }
}

/// Whether `request` looks like a reply of a whoami: lines start with `ip:`, JSON with
/// `{"ip"` (both as [`reply`] builds them, also when cut short).
pub fn is_whoami_reply(request: &[u8]) -> bool {
    request.starts_with(b"ip:") || request.starts_with(b"{\"ip\"")
}

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

/// What the server does with one datagram, rate limits aside: the reply to send, or why
/// none. `request` is the datagram as received (possibly cut), `len` its full length,
/// `peer` its source, `local` the address it was sent to and `own_ports` every port this
/// server answers on. Pure: no I/O, no clock.
///
/// # Errors
/// The [`Refusal`] (never a rate refusal).
pub fn answer(
    request: &[u8],
    len: usize,
    peer: SocketAddr,
    local: SocketAddr,
    own_ports: &[u16],
) -> Result<Vec<u8>, Refusal> {
    if peer.port() < MIN_SOURCE_PORT {
        return Err(Refusal::ServicePort);
    }
    if peer.port() == local.port() || own_ports.contains(&peer.port()) {
        return Err(Refusal::OwnPort);
    }
    if is_whoami_reply(request) {
        return Err(Refusal::OurReply);
    }
    let facts = Facts::new(peer, local);
    reply(&facts, Format::of(request), len).ok_or(Refusal::TooSmall)
}

/// The UDP whoami server over one or more bound UDP sockets.
#[derive(Debug)]
pub struct UdpWhoami {
    sockets: Vec<Arc<ReplySocket>>,
    limits: ReplyLimits,
    observer: Option<Arc<dyn Observer>>,
}

impl UdpWhoami {
    /// Serve on `sockets` (bound, any family, wildcard or not) with the default
    /// [`ReplyLimits`]. Turns on pktinfo and non-blocking mode. Must be called inside a
    /// Tokio runtime.
    ///
    /// # Errors
    /// A socket is not an IP socket, refuses pktinfo, or cannot be registered with Tokio.
    pub fn new(sockets: impl IntoIterator<Item = std::net::UdpSocket>) -> io::Result<UdpWhoami> {
        let sockets = sockets
            .into_iter()
            .map(|s| ReplySocket::new(s).map(Arc::new))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(UdpWhoami {
            sockets,
            limits: ReplyLimits::default(),
            observer: None,
        })
    }

    /// Set the reply rate limits (shared by every socket of this server).
    pub fn limits(mut self, limits: ReplyLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Report replies and drops to `observer` (metrics).
    pub fn observer(mut self, observer: Option<Arc<dyn Observer>>) -> Self {
        self.observer = observer;
        self
    }

    /// The sockets' local addresses (as bound: a dual socket shows `[::]:port`).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets.iter().map(|s| s.local_addr()).collect()
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
        let mut own_ports: Vec<u16> = self.local_addrs().iter().map(|a| a.port()).collect();
        own_ports.sort_unstable();
        own_ports.dedup();
        let shared = Arc::new(Shared {
            own_ports,
            state: Mutex::new((Limiter::new(self.limits), DropLog::default())),
            observer: self.observer,
        });
        let mut tasks = JoinSet::new();
        for s in self.sockets {
            tasks.spawn(serve_socket(s, shared.clone()));
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

/// What every socket task of one server shares.
#[derive(Debug)]
struct Shared {
    own_ports: Vec<u16>,
    state: Mutex<(Limiter, DropLog)>,
    observer: Option<Arc<dyn Observer>>,
}

impl Shared {
    /// The reply to `d`, or `None` after counting (and maybe logging) the drop.
    fn decide(&self, request: &[u8], d: &Datagram) -> Option<Vec<u8>> {
        let now = Instant::now();
        let peer = d.peer();
        let decided = answer(request, d.len(), peer, d.local(), &self.own_ports);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (limiter, log) = &mut *state;
        let refusal = match decided {
            Ok(reply) => match limiter.admit(peer.ip(), now) {
                Ok(()) => {
                    if let Some(o) = &self.observer {
                        o.udp_reply(Family::of(peer.ip()));
                    }
                    return Some(reply);
                }
                Err(r) => r,
            },
            Err(r) => r,
        };
        if let Some(o) = &self.observer {
            o.udp_drop(refusal);
        }
        if let Some(counts) = log.note(refusal, now) {
            let summary = counts
                .iter()
                .map(|(r, n)| format!("{}={n}", r.name()))
                .collect::<Vec<_>>()
                .join(" ");
            tracing::warn!(
                service = "udp", %peer, local = %d.local(),
                "UDP whoami: datagrams dropped since the last report: {summary} \
                 (latest: {refusal})"
            );
        }
        None
    }
}

async fn serve_socket(socket: Arc<ReplySocket>, shared: Arc<Shared>) -> io::Result<()> {
    let bound = socket.local_addr();
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let d = match socket.recv_from_to(&mut buf).await {
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
        let Some(r) = shared.decide(&buf[..d.received()], &d) else {
            continue;
        };
        match socket.send_reply(&r, &d).await {
            Ok(_) => tracing::debug!(
                peer = %d.peer(), local = %d.local(),
                "UDP whoami: {} bytes in, {} bytes out", d.len(), r.len()
            ),
            Err(e) => {
                tracing::debug!(peer = %d.peer(), local = %d.local(), "UDP reply failed: {e}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddrV6;

    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn answer_refuses_what_could_loop() {
        let local = sa("127.0.0.1:2323");
        let req = [b' '; 64];
        let ok = |peer: &str| answer(&req, req.len(), sa(peer), local, &[2323, 5353]);
        assert!(ok("127.0.0.1:40000").is_ok());
        assert!(ok("127.0.0.1:1024").is_ok());
        for port in [0, 7, 13, 19, 53, 123, 1023] {
            assert_eq!(
                ok(&format!("127.0.0.1:{port}")),
                Err(Refusal::ServicePort),
                "{port}"
            );
        }
        assert_eq!(
            ok("127.0.0.1:2323"),
            Err(Refusal::OwnPort),
            "the socket itself"
        );
        assert_eq!(ok("192.0.2.1:2323"), Err(Refusal::OwnPort));
        assert_eq!(
            ok("[2001:db8::1]:5353"),
            Err(Refusal::OwnPort),
            "another socket of ours"
        );
        // Our own port also when `own_ports` was not told about it.
        assert_eq!(
            answer(&req, 64, sa("192.0.2.1:2323"), local, &[]),
            Err(Refusal::OwnPort)
        );
        assert_eq!(
            answer(b"", 0, sa("192.0.2.1:40000"), local, &[]),
            Err(Refusal::TooSmall)
        );
    }

    #[test]
    fn answer_never_answers_its_own_replies() {
        // Every reply of ours, whole or cut, in both formats, on both families: the
        // answer to it is a refusal, so two whoamis (or a whoami and an echo) cannot
        // ping-pong.
        for (peer, local) in [
            ("127.0.0.1:40000", "127.0.0.1:2323"),
            ("[2001:db8::1]:40000", "[fe80::1%7]:2323"),
        ] {
            let (peer, local) = (sa(peer), sa(local));
            for format in [Format::Lines, Format::Json] {
                let mut request = if format == Format::Json {
                    b"json".to_vec()
                } else {
                    Vec::new()
                };
                request.resize(FULL_REPLY_REQUEST, b' ');
                let r = answer(&request, request.len(), peer, local, &[]).unwrap();
                for cut in 1..=r.len() {
                    let their = &r[..cut];
                    // The other whoami answers from its port to ours.
                    let back = answer(their, their.len(), sa("127.0.0.1:2323"), peer, &[]);
                    assert!(back.is_err(), "{format:?} {cut}: {back:?}");
                    if cut >= 5 {
                        assert!(
                            is_whoami_reply(their),
                            "{:?}",
                            String::from_utf8_lossy(their)
                        );
                    }
                }
                assert_eq!(
                    answer(&r, r.len(), sa("192.0.2.9:40001"), local, &[]),
                    Err(Refusal::OurReply)
                );
            }
        }
        assert!(!is_whoami_reply(b"json"));
        assert!(!is_whoami_reply(b" ip: 1"));
    }

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
