//! A `tower_service::Service<http::Uri>` connector for hyper-util's legacy client
//! (feature `hyper`): every HTTP connection is made with Happy Eyeballs.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use dualstack::connect::hyper::{ConnectInfo, HappyConnector};
//! use dualstack::connect::Connector;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//!
//! let client = Client::builder(TokioExecutor::new())
//!     .build::<_, http_body_util::Empty<bytes::Bytes>>(HappyConnector::new(Connector::new()));
//! let res = client.get("http://example.com/".parse()?).await?;
//! if let Some(info) = res.extensions().get::<ConnectInfo>() {
//!     println!("{} ({}) in {:?}", info.peer, info.family, info.elapsed);
//! }
//! # Ok(()) }
//! ```
//!
//! For `https` URIs the connector also asks for HTTPS records (RFC 9460; see
//! [`Connector::svcb`]): their hints and port are used and the winner's record is in
//! [`ConnectInfo::service`].
//!
//! Only the TCP connection is made here: for `https` URIs wrap this connector in a TLS
//! connector (hyper-rustls' `HttpsConnectorBuilder::wrap_connector`, for example) and
//! turn [`enforce_http`](HappyConnector::enforce_http) off, as with hyper-util's
//! `HttpConnector`; with it on (the default) an `https` URI is an error, never a
//! plain-text connection to port 443.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{Attempt, ConnectError, Connector, Event, Reason, TcpAttempt};
use crate::addr::Family;

/// How a connection was made; hyper-util puts it into each response's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectInfo {
    /// The address connected to (unmapped).
    pub peer: SocketAddr,
    /// The local address (unmapped).
    pub local: SocketAddr,
    /// The winning family.
    pub family: Family,
    /// Time to connect, DNS included.
    pub elapsed: Duration,
    /// The Happy Eyeballs timeline.
    pub events: Vec<Event>,
    /// The HTTPS record (RFC 9460) of the winning address, for `https` URIs whose host
    /// has one: its ALPN list tells whether h2 is offered (`service.https_alpn()`).
    pub service: Option<super::svcb::ServiceRecord>,
}

/// A TCP stream made by Happy Eyeballs, with its [`ConnectInfo`].
#[derive(Debug)]
pub struct HappyStream {
    stream: TcpStream,
    info: ConnectInfo,
}

impl HappyStream {
    /// How this connection was made.
    pub fn info(&self) -> &ConnectInfo {
        &self.info
    }

    /// The TCP stream.
    pub fn into_inner(self) -> TcpStream {
        self.stream
    }
}

impl AsyncRead for HappyStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for HappyStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl Connection for HappyStream {
    fn connected(&self) -> Connected {
        Connected::new().extra(self.info.clone())
    }
}

/// The hyper-util connector: a `Service<Uri>` that connects to the URI's host and port
/// (default 80 for `http`, 443 for `https`) with the wrapped [`Connector`].
///
/// Its settings follow hyper-util's `HttpConnector` (same names, same defaults): plain
/// `http` URIs only unless [`enforce_http(false)`](Self::enforce_http), no `TCP_NODELAY`,
/// no keepalive, no local address. Each connection is made by an [`Attempt`]
/// ([`TcpAttempt`] unless [`with_attempt`](Self::with_attempt)).
#[derive(Debug, Clone)]
pub struct HappyConnector<A = TcpAttempt> {
    connector: Connector,
    attempt: Arc<A>,
    opts: Options,
}

/// The `HttpConnector` settings; defaults are hyper-util's.
#[derive(Debug, Clone, Copy)]
struct Options {
    enforce_http: bool,
    nodelay: bool,
    keepalive_time: Option<Duration>,
    keepalive_interval: Option<Duration>,
    keepalive_retries: Option<u32>,
    local_v4: Option<Ipv4Addr>,
    local_v6: Option<Ipv6Addr>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            enforce_http: true,
            nodelay: false,
            keepalive_time: None,
            keepalive_interval: None,
            keepalive_retries: None,
            local_v4: None,
            local_v6: None,
        }
    }
}

impl HappyConnector {
    /// Connect with `connector` (its resolver, delays, cache and timeout) and real TCP.
    /// Pass clones of the program's one [`Connector`], so that every client shares its
    /// [`OutcomeCache`](super::OutcomeCache).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// use dualstack::connect::{hyper::HappyConnector, Connector};
    ///
    /// let connector = Connector::new();
    /// let mut http = HappyConnector::new(connector.clone());
    /// http.set_nodelay(true);
    /// let client = hyper_util::client::legacy::Client::builder(
    ///     hyper_util::rt::TokioExecutor::new(),
    /// )
    /// .build::<_, http_body_util::Empty<bytes::Bytes>>(http);
    /// // A tonic channel: Endpoint::connect_with_connector(HappyConnector::new(connector)).
    /// # Ok(()) }
    /// ```
    pub fn new(connector: Connector) -> HappyConnector {
        HappyConnector::with_attempt(connector, TcpAttempt)
    }
}

impl<A: Attempt<Stream = TcpStream> + 'static> HappyConnector<A> {
    /// Connect with `connector`, making each attempt with `attempt` (your own socket
    /// setup: marks, buffer sizes, a socket from elsewhere). The local addresses set
    /// here are passed to it as each attempt's `source`.
    pub fn with_attempt(connector: Connector, attempt: A) -> HappyConnector<A> {
        HappyConnector {
            connector,
            attempt: Arc::new(attempt),
            opts: Options::default(),
        }
    }

    /// Accept only `http` URIs (on by default, as hyper-util's `HttpConnector`): an
    /// `https` URI is then an error ([`Reason::UnsupportedScheme`]) rather than a plain
    /// TCP connection to port 443. Turn it off when a TLS connector wraps this one
    /// (hyper-rustls' `HttpsConnectorBuilder::wrap_connector`); `https` URIs then also
    /// ask for HTTPS records ([`Connector::svcb`]).
    pub fn enforce_http(&mut self, on: bool) {
        self.opts.enforce_http = on;
    }

    /// `TCP_NODELAY` on each connection (off by default).
    pub fn set_nodelay(&mut self, on: bool) {
        self.opts.nodelay = on;
    }

    /// `SO_KEEPALIVE` with this idle time (`TCP_KEEPIDLE`) on each connection; `None`
    /// (the default) leaves keepalive off unless an interval or count is set.
    pub fn set_keepalive(&mut self, time: Option<Duration>) {
        self.opts.keepalive_time = time;
    }

    /// The time between keepalive probes (`TCP_KEEPINTVL`).
    pub fn set_keepalive_interval(&mut self, interval: Option<Duration>) {
        self.opts.keepalive_interval = interval;
    }

    /// The number of unanswered keepalive probes before the connection is dropped
    /// (`TCP_KEEPCNT`).
    pub fn set_keepalive_retries(&mut self, retries: Option<u32>) {
        self.opts.keepalive_retries = retries;
    }

    /// Bind each attempt to this local address: an IPv4 address for attempts to IPv4
    /// destinations, an IPv6 one for IPv6 (attempts of the other family are not bound,
    /// as with hyper-util). `None` clears both.
    pub fn set_local_address(&mut self, ip: Option<IpAddr>) {
        let (v4, v6) = match ip.map(crate::addr::unmap) {
            Some(IpAddr::V4(v4)) => (Some(v4), None),
            Some(IpAddr::V6(v6)) => (None, Some(v6)),
            None => (None, None),
        };
        self.opts.local_v4 = v4;
        self.opts.local_v6 = v6;
    }

    /// Bind attempts to IPv4 destinations to `v4` and attempts to IPv6 destinations to
    /// `v6`: both families stay usable (unlike [`Connector::source`], which restricts
    /// the connect to the source's family).
    pub fn set_local_addresses(&mut self, v4: Ipv4Addr, v6: Ipv6Addr) {
        self.opts.local_v4 = Some(v4);
        self.opts.local_v6 = Some(v6);
    }

    /// The wrapped connector.
    pub fn connector(&self) -> &Connector {
        &self.connector
    }
}

/// Passes each attempt the local address of its destination's family.
#[derive(Debug)]
struct PerFamilySource<A> {
    inner: Arc<A>,
    v4: Option<Ipv4Addr>,
    v6: Option<Ipv6Addr>,
}

impl<A: Attempt> Attempt for PerFamilySource<A> {
    type Stream = A::Stream;

    fn connect(
        &self,
        addr: SocketAddr,
        source: Option<IpAddr>,
    ) -> futures_util::future::BoxFuture<'static, io::Result<A::Stream>> {
        let own = match addr {
            SocketAddr::V4(_) => self.v4.map(IpAddr::V4),
            SocketAddr::V6(_) => self.v6.map(IpAddr::V6),
        };
        self.inner.connect(addr, source.or(own))
    }

    fn local_addr(&self, stream: &A::Stream) -> io::Result<SocketAddr> {
        self.inner.local_addr(stream)
    }
}

/// Set the options on the winning stream. A failure is logged and the connection kept:
/// the options tune a working connection, they do not make it.
fn apply(opts: &Options, stream: &TcpStream) {
    if opts.nodelay {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!(target: "dualstack::connect", error = %e, "cannot set TCP_NODELAY");
        }
    }
    if opts.keepalive_time.is_none()
        && opts.keepalive_interval.is_none()
        && opts.keepalive_retries.is_none()
    {
        return;
    }
    let mut ka = socket2::TcpKeepalive::new();
    if let Some(t) = opts.keepalive_time {
        ka = ka.with_time(t);
    }
    if let Some(i) = opts.keepalive_interval {
        ka = ka.with_interval(i);
    }
    if let Some(r) = opts.keepalive_retries {
        ka = ka.with_retries(r);
    }
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_keepalive(&ka) {
        tracing::warn!(target: "dualstack::connect", error = %e, "cannot set SO_KEEPALIVE");
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

fn bad_uri(uri: &http::Uri, reason: Reason) -> ConnectError {
    ConnectError::early(&uri.to_string(), 0, reason, Vec::new())
}

/// The host and port to connect to, by `HttpConnector`'s rules.
fn host_port<'u>(uri: &'u http::Uri, opts: &Options) -> Result<(&'u str, u16), ConnectError> {
    let scheme = uri.scheme_str();
    if opts.enforce_http && scheme != Some("http") {
        let scheme = scheme.map(str::to_owned);
        return Err(bad_uri(uri, Reason::UnsupportedScheme { scheme }));
    }
    if scheme.is_none() {
        return Err(bad_uri(uri, Reason::UnsupportedScheme { scheme: None }));
    }
    let host = uri
        .host()
        .ok_or_else(|| bad_uri(uri, Reason::InvalidHost { cause: None }))?;
    let port = match uri.port_u16() {
        Some(p) => p,
        None if scheme == Some("https") => 443,
        None => 80,
    };
    Ok((host, port))
}

impl<A: Attempt<Stream = TcpStream> + 'static> tower_service::Service<http::Uri>
    for HappyConnector<A>
{
    type Response = TokioIo<HappyStream>;
    type Error = ConnectError;
    type Future = BoxFuture<Result<TokioIo<HappyStream>, ConnectError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connector = self.connector.clone();
        let opts = self.opts;
        let attempt = PerFamilySource {
            inner: self.attempt.clone(),
            v4: opts.local_v4,
            v6: opts.local_v6,
        };
        Box::pin(async move {
            let (host, port) = host_port(&uri, &opts)?;
            // Browsers ask for HTTPS records for https URLs (RFC 9460 §9): so do we.
            let connector = if uri.scheme_str() == Some("https") {
                connector.svcb(true)
            } else {
                connector
            };
            let conn = connector.connect_with(&attempt, host, port).await?;
            apply(&opts, &conn.stream);
            let info = ConnectInfo {
                peer: conn.peer,
                local: conn.local,
                family: conn.family(),
                elapsed: conn.elapsed,
                events: conn.events,
                service: conn.service,
            };
            Ok(TokioIo::new(HappyStream {
                stream: conn.stream,
                info,
            }))
        })
    }
}
