//! QUIC raced against TCP (feature `quic`): draft-ietf-happy-happyeyeballs-v3-04 lets a
//! client race QUIC and TCP attempts when the destination offers HTTP/3, with one
//! Connection Attempt Delay pacing them all. The machine decides which endpoint gets which
//! attempt ([`Protocol`]); this module makes the QUIC ones with quinn (rustls with ring).
//!
//! ```no_run
//! # async fn f() -> Result<(), dualstack::connect::ConnectError> {
//! use dualstack::connect::{quic::Transport, Connector};
//!
//! let tls = dualstack::smtp::tls::webpki_config();
//! let conn = Connector::new()
//!     .svcb(true)
//!     .connect_racing("example.com", 443, tls)
//!     .await?;
//! match &conn.stream {
//!     Transport::Quic(q) => println!("QUIC {:?} to {}", q.alpn, conn.peer),
//!     Transport::Tcp(_) => println!("TCP to {}", conn.peer),
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use dualstack_eyeballs::quic_alpn;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tracing::Instrument;

use super::attempt::{Attempt, TcpAttempt};
use super::driver::{self, Finished, Won};
use super::{ConnectError, Connection, Connector, Protocol};

/// The ALPN offered on QUIC attempts when the caller insists on none: HTTP/3 (RFC 9114).
pub const DEFAULT_QUIC_ALPN: &str = "h3";

/// A QUIC connection that won the race: the quinn connection, the ALPN the server chose,
/// and the endpoint (its UDP socket) the connection lives on.
#[derive(Debug, Clone)]
pub struct QuicConnection {
    /// The connection (open streams with `open_bi`, close with `close`).
    pub connection: quinn::Connection,
    /// The ALPN id the server chose (`h3`), when it chose one.
    pub alpn: Option<String>,
    endpoint: quinn::Endpoint,
}

impl QuicConnection {
    /// The endpoint (UDP socket) the connection runs on. Call
    /// [`wait_idle`](quinn::Endpoint::wait_idle) on it after closing the connection to let
    /// the close reach the peer.
    pub fn endpoint(&self) -> &quinn::Endpoint {
        &self.endpoint
    }
}

/// The winning transport of [`Connector::connect_racing`].
#[derive(Debug)]
pub enum Transport {
    /// A TCP attempt won: the connected stream (no TLS on it yet).
    Tcp(tokio::net::TcpStream),
    /// A QUIC attempt won: its handshake (TLS 1.3 included) is done.
    Quic(QuicConnection),
}

impl Transport {
    /// [`Protocol::Tcp`] or [`Protocol::Quic`].
    pub fn protocol(&self) -> Protocol {
        match self {
            Transport::Tcp(_) => Protocol::Tcp,
            Transport::Quic(_) => Protocol::Quic,
        }
    }

    /// The ALPN id the QUIC server chose (`None` for TCP).
    pub fn alpn(&self) -> Option<&str> {
        match self {
            Transport::Quic(q) => q.alpn.as_deref(),
            Transport::Tcp(_) => None,
        }
    }
}

impl fmt::Display for Transport {
    /// `QUIC h3` or `TCP`, as the CLI's report lines say it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Tcp(_) => f.write_str("TCP"),
            Transport::Quic(q) => match &q.alpn {
                Some(a) => write!(f, "QUIC {a}"),
                None => f.write_str("QUIC"),
            },
        }
    }
}

/// Makes QUIC attempts: one quinn endpoint (UDP socket) per attempt, bound to the source
/// address when one is given; the attempt succeeds when the handshake completes.
/// Dropping the attempt's future drops the endpoint and closes its socket.
#[derive(Clone)]
pub struct QuicAttempt {
    config: quinn::ClientConfig,
    server_name: String,
}

impl fmt::Debug for QuicAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuicAttempt")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// Why a QUIC client configuration cannot be made from a rustls one.
#[derive(Debug, thiserror::Error)]
#[error("the TLS configuration cannot be used for QUIC (it needs TLS 1.3): {0}")]
pub struct QuicConfigError(String);

impl QuicAttempt {
    /// QUIC attempts with the certificate checks of `tls` (its ALPN list is replaced by
    /// `alpn`), naming the server `server_name` (SNI and certificate check; an IP address
    /// is checked against the certificate's IP addresses).
    ///
    /// # Errors
    /// [`QuicConfigError`] when `tls` does not offer TLS 1.3.
    pub fn new(
        tls: Arc<rustls::ClientConfig>,
        alpn: &[String],
        server_name: &str,
    ) -> Result<QuicAttempt, QuicConfigError> {
        let mut tls = (*tls).clone();
        tls.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .map_err(|e| QuicConfigError(e.to_string()))?;
        Ok(QuicAttempt {
            config: quinn::ClientConfig::new(Arc::new(crypto)),
            server_name: server_name.to_owned(),
        })
    }
}

fn unspecified(addr: SocketAddr) -> IpAddr {
    match addr {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

impl Attempt for QuicAttempt {
    type Stream = QuicConnection;

    fn connect(
        &self,
        addr: SocketAddr,
        source: Option<IpAddr>,
    ) -> BoxFuture<'static, io::Result<QuicConnection>> {
        let config = self.config.clone();
        let name = self.server_name.clone();
        async move {
            let bind = SocketAddr::new(source.unwrap_or_else(|| unspecified(addr)), 0);
            let endpoint = quinn::Endpoint::client(bind)?;
            let connecting = endpoint
                .connect_with(config, addr, &name)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let connection = connecting.await.map_err(quic_io_error)?;
            let alpn = connection
                .handshake_data()
                .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
                .and_then(|d| d.protocol)
                .map(|p| String::from_utf8_lossy(&p).into_owned());
            Ok(QuicConnection {
                connection,
                alpn,
                endpoint,
            })
        }
        .boxed()
    }

    fn local_addr(&self, stream: &QuicConnection) -> io::Result<SocketAddr> {
        let bound = stream.endpoint.local_addr()?;
        let ip = match stream.connection.local_ip() {
            Some(ip) => ip,
            None if bound.ip().is_unspecified() => {
                route_source(stream.connection.remote_address()).unwrap_or(bound.ip())
            }
            None => bound.ip(),
        };
        Ok(SocketAddr::new(crate::addr::unmap(ip), bound.port()))
    }
}

/// The source address the kernel picks for `peer` (a connected UDP socket sends nothing):
/// the endpoint's socket is bound to the wildcard address, and quinn knows the local
/// address of a connection only where it reads packet info.
fn route_source(peer: SocketAddr) -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind(SocketAddr::new(unspecified(peer), 0)).ok()?;
    s.connect(peer).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}

/// A failed handshake as an I/O error whose message says what the QUIC layer saw.
fn quic_io_error(e: quinn::ConnectionError) -> io::Error {
    use quinn::ConnectionError as E;
    let kind = match &e {
        E::TimedOut => io::ErrorKind::TimedOut,
        E::ConnectionClosed(_) | E::ApplicationClosed(_) | E::Reset => {
            io::ErrorKind::ConnectionRefused
        }
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("QUIC handshake: {e}"))
}

/// The name to give the server (SNI and certificate check): the host without brackets or
/// IPv6 zone, without a final dot.
fn server_name(host: &str) -> String {
    let h = host.trim().trim_end_matches('.');
    let h = h
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h);
    h.split('%').next().unwrap_or(h).to_owned()
}

impl Connector {
    /// [`connect`](Self::connect), racing QUIC attempts against the TCP ones
    /// (draft-ietf-happy-happyeyeballs-v3-04): an address whose HTTPS record lists `h3`
    /// (with [`svcb`](Self::svcb) on), or every address when [`alpn`](Self::alpn) lists
    /// an `h3` id, gets a QUIC attempt before the TCP ones, with the same attempt delay.
    /// A QUIC attempt wins when its handshake completes, checked against `tls`'s
    /// certificate rules (its ALPN list is replaced by the `h3` ids of
    /// [`alpn`](Self::alpn), or [`DEFAULT_QUIC_ALPN`]). With an
    /// [`OutcomeCache`](super::OutcomeCache), a destination where TCP beat QUIC is
    /// remembered and the next connects make no QUIC attempt while it is.
    ///
    /// # Errors
    /// As [`connect`](Self::connect); a `tls` without TLS 1.3 is a [`Reason::Runtime`](super::Reason::Runtime) error.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future cancels every attempt and closes its socket.
    pub async fn connect_racing(
        &self,
        host: &str,
        port: u16,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Connection<Transport>, ConnectError> {
        let mut alpn = quic_alpn(&self.config().alpn);
        if alpn.is_empty() {
            alpn.push(DEFAULT_QUIC_ALPN.to_owned());
        }
        let quic = QuicAttempt::new(tls, &alpn, &server_name(host)).map_err(|e| {
            ConnectError::early(
                host,
                port,
                super::Reason::Runtime {
                    message: e.to_string(),
                },
                Vec::new(),
            )
        })?;
        let span = tracing::debug_span!("connect", host, port, quic = true);
        let run = driver::run_racing(
            self.config(),
            driver::Run::Connect,
            host,
            port,
            self.resolver_ref(),
            &TcpAttempt,
            Some(&quic),
            self.outcome_cache().map(|c| &**c),
        );
        match run.instrument(span).await? {
            Finished::Connected(c) => Ok(c.map(|w| match w {
                Won::Tcp(s) => Transport::Tcp(s),
                Won::Quic(q) => Transport::Quic(q),
            })),
            Finished::Resolved(r) => Err(ConnectError::internal(
                host,
                port,
                "a connect ended without a connection",
                r.events,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        assert_eq!(server_name("Example.com."), "Example.com");
        assert_eq!(server_name("[2001:db8::1]"), "2001:db8::1");
        assert_eq!(server_name("fe80::1%lo"), "fe80::1");
        assert_eq!(server_name("127.0.0.1"), "127.0.0.1");
    }
}
