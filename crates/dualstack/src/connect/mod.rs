//! Happy Eyeballs version 2 (RFC 8305): connect to a host name over IPv6 and IPv4 at once,
//! fast when one family is broken, and explain every step.
//!
//! ```no_run
//! # async fn f() -> Result<(), dualstack::connect::ConnectError> {
//! use std::time::Duration;
//! use dualstack::connect::Connector;
//!
//! let conn = Connector::new()
//!     .attempt_delay(Duration::from_millis(250))
//!     .connect("example.com", 443)
//!     .await?;
//! println!("connected to {} in {:?}", conn.peer, conn.elapsed);
//! # Ok(()) }
//! ```
//!
//! # What happens, step by step
//!
//! 1. **Resolution (RFC 8305 §3).** An IP literal skips DNS. Otherwise the AAAA and A
//!    queries are sent together, AAAA first, as two separate lookups ([`HickoryResolver`]).
//!    As soon as the AAAA answer has addresses, connecting starts. If the A answer comes
//!    first, the connector waits up to the **Resolution Delay** (default 50 ms, §3 and §8)
//!    for AAAA, then starts with IPv4 and merges the AAAA answer when it arrives.
//! 2. **Ordering (§4, RFC 6724).** The preferred family goes first: IPv6, unless
//!    [`Connector::prefer`] or the [`OutcomeCache`] ("history", §4) says IPv4 worked
//!    better. DNS order is kept within a family; addresses that failed last time go to
//!    the end of their family. After the **First Address Family Count** (default 1)
//!    preferred addresses, the families alternate.
//! 3. **Racing (§5).** One attempt starts; the next starts after the **Connection Attempt
//!    Delay** (default 250 ms, clamped to 10 ms – 2 s, §5 and §8) or at once when an attempt
//!    fails (refused, unreachable). Attempts in flight keep going. The first to complete
//!    the TCP handshake wins; every other attempt is cancelled and its socket closed.
//! 4. **Failure.** An overall timeout (default 10 s) bounds DNS and connecting together.
//!    [`ConnectError`] lists every address with its own cause and timing.
//!
//! [`Connector::serial`] turns all of this off (wait for both answers, then one address
//! after another), the classic behaviour, for comparison. [`Connector::source`] binds to a
//! local address and then only tries destinations of its family. [`Connector::nat64`]
//! (on by default) reaches IPv4 literals from IPv6-only hosts (RFC 8305 §7, RFC 7050,
//! RFC 6052).
//!
//! Every step is an [`Event`], emitted as a `tracing` event (target `dualstack::connect`)
//! and returned in [`Connection::events`] / [`ConnectError::events`].

// ConnectError carries the whole story of a failed connect (every address, the DNS
// answers, the timeline). It is returned once per failed connect, never on a hot path, so
// its size does not matter and matching on its public fields beats boxing them.
#![allow(clippy::result_large_err)]

mod attempt;
mod cache;
mod driver;
mod error;
mod event;
pub mod history_file;
#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub mod hyper;
mod nat64;
#[cfg(feature = "quic")]
#[cfg_attr(docsrs, doc(cfg(feature = "quic")))]
pub mod quic;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod reqwest;
mod resolver;
#[cfg(any(test, feature = "test-util"))]
mod scripted;
pub mod svcb;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Serialize;
use tracing::Instrument;

pub use attempt::{Attempt, TcpAttempt};
pub use cache::{OutcomeCache, DEFAULT_CAPACITY, DEFAULT_MAX_AGE};
pub use dualstack_eyeballs::{
    is_h3, Config, History, Millis, Protocol, DEFAULT_ATTEMPT_DELAY, DEFAULT_FIRST_FAMILY_COUNT,
    DEFAULT_MIN_ATTEMPT_DELAY, DEFAULT_PREFER, DEFAULT_RESOLUTION_DELAY, DEFAULT_TIMEOUT,
    MAX_ATTEMPT_DELAY, MIN_ATTEMPT_DELAY,
};
pub use error::{AttemptError, Cause, ConnectError, FamilyAnswer, Reason};
pub use event::{Event, EventKind};
#[cfg(feature = "hickory")]
pub(crate) use resolver::hickory_for_servers;
pub(crate) use resolver::hosts_lookup;
#[cfg(feature = "hickory")]
#[cfg_attr(docsrs, doc(cfg(feature = "hickory")))]
pub use resolver::HickoryResolver;
pub use resolver::{Answer, Answers, Resolve, ResolveError, SystemResolver};
#[cfg(any(test, feature = "test-util"))]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub use scripted::{Script, ScriptedAttempt, ScriptedResolver, ScriptedStream, Started};

use crate::addr::Family;

/// An established connection and how it was chosen.
#[derive(Debug)]
pub struct Connection<S = tokio::net::TcpStream> {
    /// The connected stream.
    pub stream: S,
    /// The winning attempt's transport ([`Protocol::Tcp`] unless QUIC was raced).
    pub protocol: Protocol,
    /// The address connected to (unmapped).
    pub peer: SocketAddr,
    /// The local address of the connection (unmapped).
    pub local: SocketAddr,
    /// Time from the start of the connect (DNS included) to the winning handshake.
    pub elapsed: Duration,
    /// Every step, in order.
    pub events: Vec<Event>,
    /// The HTTPS record (RFC 9460) the winning address came with, when SVCB was asked
    /// for: its ALPN list (`https_alpn()`), port, whether ECH is offered.
    pub service: Option<svcb::ServiceRecord>,
}

impl<S> Connection<S> {
    /// The family of the winning address.
    pub fn family(&self) -> Family {
        Family::of(self.peer.ip())
    }

    /// Split the stream from the rest, so that [`family`](Self::family) and the other
    /// facts stay usable after the stream has moved on (`conn.stream` moved out of a
    /// `Connection` leaves nothing callable).
    ///
    /// ```
    /// # fn f(conn: dualstack::connect::Connection) {
    /// let (stream, info) = conn.into_parts();
    /// println!("{} over {}", info.peer, info.family());
    /// # drop(stream);
    /// # }
    /// ```
    pub fn into_parts(self) -> (S, Connection<()>) {
        let info = Connection {
            stream: (),
            protocol: self.protocol,
            peer: self.peer,
            local: self.local,
            elapsed: self.elapsed,
            events: self.events,
            service: self.service,
        };
        (self.stream, info)
    }

    /// Convert the stream, keeping the rest.
    pub fn map<T>(self, f: impl FnOnce(S) -> T) -> Connection<T> {
        Connection {
            stream: f(self.stream),
            protocol: self.protocol,
            peer: self.peer,
            local: self.local,
            elapsed: self.elapsed,
            events: self.events,
            service: self.service,
        }
    }
}

/// What [`Connector::resolve`] found: each family's answer and the order the connector
/// would try the addresses in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolution {
    /// The host as given.
    pub host: String,
    /// Whether the host was an IP literal (no DNS).
    pub literal: bool,
    /// The preferred family (first in the order).
    pub prefer: Family,
    /// Per-family answers, in arrival order.
    pub answers: Vec<FamilyAnswer>,
    /// The families whose answer had not arrived when the resolution ended (only from
    /// [`Connector::resolve`], which stops at the Resolution Delay; empty from
    /// [`Connector::resolve_all`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<Family>,
    /// The order a connect would try the addresses in (RFC 8305 §4).
    pub order: Vec<IpAddr>,
    /// The HTTPS records (RFC 9460) with their response time, when SVCB was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https: Option<svcb::HttpsAnswer>,
    /// The timeline.
    pub events: Vec<Event>,
}

/// A Happy Eyeballs connector: settings plus the resolver and (optional) outcome cache.
/// Cheap to clone; clones share the resolver and cache.
///
/// **Make one and share it** (clones, or clones handed to the hyper connector and the
/// reqwest resolver): the
/// [`OutcomeCache`] only helps connects made through the connector that holds it, so a
/// connector built per request forgets which family worked every time.
#[derive(Clone, Debug)]
pub struct Connector {
    config: Config,
    resolver: Arc<dyn Resolve>,
    cache: Option<Arc<OutcomeCache>>,
}

/// [`HickoryResolver::system`] (separate AAAA and A queries, each answer as it comes).
#[cfg(feature = "hickory")]
fn default_resolver() -> Arc<dyn Resolve> {
    Arc::new(HickoryResolver::system())
}

/// Without hickory: getaddrinfo ([`SystemResolver`]), both families' answers together.
#[cfg(not(feature = "hickory"))]
fn default_resolver() -> Arc<dyn Resolve> {
    Arc::new(SystemResolver)
}

impl Default for Connector {
    fn default() -> Self {
        Connector::new()
    }
}

impl Connector {
    /// The RFC 8305 defaults: attempt delay [`DEFAULT_ATTEMPT_DELAY`], resolution delay
    /// [`DEFAULT_RESOLUTION_DELAY`], first address family count
    /// [`DEFAULT_FIRST_FAMILY_COUNT`], [`DEFAULT_PREFER`] preferred, both families,
    /// [`DEFAULT_TIMEOUT`] overall, the system's DNS configuration through
    /// [`HickoryResolver`], no outcome cache, NAT64 on; with HTTPS records, only records
    /// that offer HTTP over TCP are used
    /// ([`ProtocolPreference::http_over_tcp`](dualstack_eyeballs::v3::groups::ProtocolPreference::http_over_tcp)).
    pub fn new() -> Connector {
        let mut config = Config::default();
        config.protocols = dualstack_eyeballs::v3::groups::ProtocolPreference::http_over_tcp();
        Connector {
            config,
            resolver: default_resolver(),
            cache: None,
        }
    }

    /// Connection Attempt Delay: how long an attempt has alone before the next starts
    /// (RFC 8305 §5). Clamped to [`MIN_ATTEMPT_DELAY`]–[`MAX_ATTEMPT_DELAY`].
    pub fn attempt_delay(mut self, d: Duration) -> Self {
        self.config.attempt_delay = d.clamp(MIN_ATTEMPT_DELAY, MAX_ATTEMPT_DELAY);
        self
    }

    /// Resolution Delay: how long to wait for the preferred family's answer when the other
    /// family answered first (RFC 8305 §3). Zero starts at once.
    pub fn resolution_delay(mut self, d: Duration) -> Self {
        // Capped (about 30 years) so a deadline from it cannot overflow an Instant.
        self.config.resolution_delay = crate::deadline::capped(d);
        self
    }

    /// First Address Family Count: how many preferred-family addresses to try before the
    /// first of the other family (RFC 8305 §4). At least 1.
    pub fn first_address_family_count(mut self, n: usize) -> Self {
        self.config.first_family_count = n.max(1);
        self
    }

    /// The family to try first when history says nothing ([`DEFAULT_PREFER`], RFC 6724 §6).
    pub fn prefer(mut self, f: Family) -> Self {
        self.config.prefer = f;
        self
    }

    /// Only this family (`-4`/`-6`), or both (`None`). Only its query is sent.
    pub fn family(mut self, f: Option<Family>) -> Self {
        self.config.family = f;
        self
    }

    /// Bind every attempt to this local address. A socket bound to an address of one
    /// family reaches only destinations of that family, so only those are tried.
    pub fn source(mut self, ip: Option<IpAddr>) -> Self {
        self.config.source = ip.map(crate::addr::unmap);
        self
    }

    /// Overall timeout for one connect, DNS included ([`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, d: Duration) -> Self {
        // Capped (about 30 years) so a deadline from it cannot overflow an Instant.
        self.config.timeout = crate::deadline::capped(d);
        self
    }

    /// The classic behaviour, for comparison: wait for both answers, then try one address
    /// after another, each until it fails (no racing).
    pub fn serial(mut self, on: bool) -> Self {
        self.config.serial = on;
        self
    }

    /// The resolver (default: [`HickoryResolver::system`]).
    pub fn resolver(mut self, r: Arc<dyn Resolve>) -> Self {
        self.resolver = r;
        self
    }

    /// Remember outcomes across connects (RFC 8305 §4 history); `None` to forget.
    pub fn cache(mut self, c: Option<Arc<OutcomeCache>>) -> Self {
        self.cache = c;
        self
    }

    /// Also ask for HTTPS records (RFC 9460; draft-ietf-happy-happyeyeballs-v3-04 §4):
    /// their address hints start attempts while A/AAAA are late, their `port` is used,
    /// and the winner's record is returned in [`Connection::service`]. The HTTPS answer is
    /// awaited at most the Resolution Delay after the address answers. Off by default
    /// (the hyper connector turns it on for `https` URIs).
    pub fn svcb(mut self, on: bool) -> Self {
        self.config.svcb = on;
        self
    }

    /// The application protocols the attempts speak, as classes of ALPN ids, most
    /// preferred first (draft-ietf-happy-happyeyeballs-v3-04 §5.1): with HTTPS records,
    /// endpoints are grouped by class and by service priority before the families are
    /// interleaved, and records no class accepts are not used. Default: one class,
    /// `h2` and `http/1.1` (this connector makes TCP connections).
    pub fn protocols(mut self, p: dualstack_eyeballs::v3::groups::ProtocolPreference) -> Self {
        self.config.protocols = p;
        self
    }

    /// Set the delay after an attempt from the destination network's smoothed handshake
    /// RTT when the [`OutcomeCache`] knows it: 2 × SRTT clamped to
    /// [`min_attempt_delay`](Self::min_attempt_delay) and 2 s
    /// (draft-ietf-happy-happyeyeballs-v3-04 §6). On by default; without RTT data, or
    /// off, the delay is [`attempt_delay`](Self::attempt_delay).
    pub fn rtt_attempt_delay(mut self, on: bool) -> Self {
        self.config.rtt_attempt_delay = on;
        self
    }

    /// The floor of an RTT-based attempt delay, the Minimum Connection Attempt Delay
    /// (100 ms recommended); clamped to [`MIN_ATTEMPT_DELAY`]–[`MAX_ATTEMPT_DELAY`].
    pub fn min_attempt_delay(mut self, d: Duration) -> Self {
        self.config.min_attempt_delay = d.clamp(MIN_ATTEMPT_DELAY, MAX_ATTEMPT_DELAY);
        self
    }

    /// Translate IPv4 literals through the network's NAT64 prefix when there is no IPv4
    /// route (RFC 8305 §7, RFC 7050, RFC 6052). On by default.
    pub fn nat64(mut self, on: bool) -> Self {
        self.config.nat64 = on;
        self
    }

    /// ALPN ids to insist on, in preference order (empty, the default: what the HTTPS
    /// records say). A list with an `h3` id gives every address a QUIC attempt in
    /// `connect_racing` (feature `quic`), HTTPS record or not; a list without one gives
    /// none. TCP connects are not affected (this connector does no TLS over TCP).
    pub fn alpn(mut self, ids: Vec<String>) -> Self {
        self.config.alpn = ids;
        self
    }

    #[cfg(feature = "quic")]
    pub(crate) fn resolver_ref(&self) -> &dyn Resolve {
        self.resolver.as_ref()
    }

    /// The settings in use (the attempt delay after clamping).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The outcome cache, if any.
    pub fn outcome_cache(&self) -> Option<&Arc<OutcomeCache>> {
        self.cache.as_ref()
    }

    /// Connect to `host` (a name or an IP literal such as `192.0.2.1`, `2001:db8::1`,
    /// `[2001:db8::1]`, `fe80::1%eth0`) on `port`, Happy Eyeballs style.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), dualstack::connect::ConnectError> {
    /// use std::sync::Arc;
    /// use dualstack::connect::{Connector, OutcomeCache};
    ///
    /// // One connector for the program: clones share the outcome cache.
    /// let connector = Connector::new().cache(Some(Arc::new(OutcomeCache::new())));
    /// let conn = connector.connect("example.com", 443).await?;
    /// println!("{} ({}) in {:?}", conn.peer, conn.family(), conn.elapsed);
    /// let (stream, info) = conn.into_parts(); // a tokio TcpStream, and the facts
    /// # drop((stream, info));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ConnectError`] when no address could be connected to before the overall
    /// timeout: it names every address tried with its own cause and timing, and says when
    /// nothing matched the requested family or source address.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future cancels every attempt and closes its socket.
    pub async fn connect(&self, host: &str, port: u16) -> Result<Connection, ConnectError> {
        self.connect_with(&TcpAttempt, host, port).await
    }

    /// [`connect`](Self::connect) with another way to make each attempt (a
    /// `ScriptedAttempt` in tests (feature `test-util`), or your own socket setup).
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    ///
    /// # Cancel safety
    /// Cancel safe, provided dropping `A`'s futures closes their sockets.
    pub async fn connect_with<A: Attempt>(
        &self,
        attempt: &A,
        host: &str,
        port: u16,
    ) -> Result<Connection<A::Stream>, ConnectError> {
        let span = tracing::debug_span!("connect", host, port);
        let run = driver::run(
            &self.config,
            driver::Run::Connect,
            host,
            port,
            self.resolver.as_ref(),
            attempt,
            self.cache.as_deref(),
        );
        match run.instrument(span).await? {
            driver::Finished::Connected(c) => Ok(c),
            driver::Finished::Resolved(r) => Err(ConnectError::internal(
                host,
                port,
                "a connect ended without a connection",
                r.events,
            )),
        }
    }

    /// [`connect`](Self::connect) for blocking code: runs on a small shared Tokio runtime
    /// and returns a blocking `std::net::TcpStream`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io::Write;
    /// use dualstack::connect::Connector;
    ///
    /// let mut conn = Connector::new().connect_blocking("example.com", 80)?;
    /// conn.stream.write_all(b"HEAD / HTTP/1.0\r\nHost: example.com\r\n\r\n")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`connect`](Self::connect), plus [`Reason::Runtime`] when called from inside an
    /// async runtime (use `connect` there) or when the runtime cannot start.
    pub fn connect_blocking(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Connection<std::net::TcpStream>, ConnectError> {
        let runtime_error = |message: String| {
            ConnectError::early(host, port, Reason::Runtime { message }, Vec::new())
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(runtime_error(
                "connect_blocking was called from inside an async runtime; use connect".into(),
            ));
        }
        // One small runtime for every blocking caller: a current-thread runtime driven
        // by its own thread (no `rt-multi-thread` needed), each connect spawned onto it.
        static RUNTIME: OnceLock<Result<tokio::runtime::Handle, String>> = OnceLock::new();
        let handle = RUNTIME
            .get_or_init(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the connect runtime: {e}"))?;
                let handle = rt.handle().clone();
                std::thread::Builder::new()
                    .name("dualstack-connect".into())
                    .spawn(move || rt.block_on(std::future::pending::<()>()))
                    .map_err(|e| format!("cannot start the connect thread: {e}"))?;
                Ok(handle)
            })
            .as_ref()
            .map_err(|e| runtime_error(e.clone()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let (this, owned_host) = (self.clone(), host.to_owned());
        handle.spawn(async move {
            let res = this.connect(&owned_host, port).await.map(|conn| {
                let (stream, info) = conn.into_parts();
                // Deregistered from the runtime's reactor here, on the runtime's thread.
                let std_stream = stream
                    .into_std()
                    .and_then(|s| s.set_nonblocking(false).map(|()| s));
                (info, std_stream)
            });
            let _ = tx.send(res);
        });
        let (info, std_stream) = rx
            .recv()
            .map_err(|_| runtime_error("the connect task ended without an answer".into()))??;
        match std_stream {
            Ok(s) => Ok(info.map(|()| s)),
            Err(e) => Err(runtime_error(format!(
                "connected to {} but could not make the socket blocking: {e}",
                info.peer
            ))),
        }
    }

    /// Resolve `host` the way [`connect`](Self::connect) to `port` would, and stop where
    /// a connect would start its first attempt: as soon as the preferred family answers
    /// with addresses, or when the other family has answered and the Resolution Delay
    /// ran out (RFC 8305 §3). The [`Resolution`] lists the addresses known then, in the
    /// order a connect would try them (history of the [`OutcomeCache`] first, then the
    /// families interleaved, §4); a family still unanswered is in
    /// [`Resolution::pending`] and its late answer is not waited for. This is the
    /// resolver for clients that race connections themselves (the `reqwest` feature's
    /// resolver is built on it). [`resolve_all`](Self::resolve_all) waits for every
    /// answer instead.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), dualstack::connect::ConnectError> {
    /// use dualstack::connect::Connector;
    ///
    /// let r = Connector::new().resolve("example.com", 443).await?;
    /// println!("try {:?} (still waiting for {:?})", r.order, r.pending);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ConnectError`] with [`Reason::InvalidHost`] or [`Reason::FamilyMismatch`] for bad
    /// input, and [`Reason::NoAddresses`] / [`Reason::NoneOfFamily`] (with every family's
    /// answer in [`ConnectError::lookups`]) when DNS gave no usable address, or
    /// [`Reason::TimedOut`] when none came before the overall timeout.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Resolution, ConnectError> {
        self.resolution(driver::Run::ResolveEarly, host, port).await
    }

    /// Resolve `host` as [`resolve`](Self::resolve) does, but wait for every family's
    /// answer (up to the overall timeout) and report each with its response time: the
    /// diagnostic view (`dualstack resolve` uses it).
    ///
    /// # Errors
    /// As [`resolve`](Self::resolve): an error when no family gave an address.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn resolve_all(&self, host: &str, port: u16) -> Result<Resolution, ConnectError> {
        self.resolution(driver::Run::ResolveAll, host, port).await
    }

    async fn resolution(
        &self,
        run: driver::Run,
        host: &str,
        port: u16,
    ) -> Result<Resolution, ConnectError> {
        let span = tracing::debug_span!("resolve", host, port);
        let run = driver::run(
            &self.config,
            run,
            host,
            port,
            self.resolver.as_ref(),
            &TcpAttempt,
            self.cache.as_deref(),
        );
        match run.instrument(span).await? {
            driver::Finished::Resolved(r) if r.order.is_empty() => {
                let reason = match self.config.allowed_families().as_deref() {
                    Some([only]) => Reason::NoneOfFamily {
                        family: *only,
                        source: self.config.source.filter(|_| self.config.family.is_none()),
                    },
                    _ => Reason::NoAddresses,
                };
                let elapsed = r.answers.iter().filter_map(|a| a.elapsed).max();
                Err(ConnectError {
                    lookups: r.answers,
                    elapsed: elapsed.unwrap_or_default(),
                    ..ConnectError::early(host, port, reason, r.events)
                })
            }
            driver::Finished::Resolved(r) => Ok(r),
            driver::Finished::Connected(c) => Err(ConnectError::internal(
                host,
                port,
                "a resolve connected",
                c.events,
            )),
        }
    }
}
