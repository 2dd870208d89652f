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
//! connector (hyper-rustls' `HttpsConnectorBuilder::wrap_connector`, for example).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{ConnectError, Connector, Event, Reason};
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
#[derive(Debug, Clone)]
pub struct HappyConnector {
    connector: Connector,
}

impl HappyConnector {
    /// Connect with `connector` (its resolver, delays, cache and timeout).
    pub fn new(connector: Connector) -> HappyConnector {
        HappyConnector { connector }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

fn bad_uri(uri: &http::Uri) -> ConnectError {
    let reason = Reason::InvalidHost { cause: None };
    ConnectError::early(&uri.to_string(), 0, reason, Vec::new())
}

impl tower_service::Service<http::Uri> for HappyConnector {
    type Response = TokioIo<HappyStream>;
    type Error = ConnectError;
    type Future = BoxFuture<Result<TokioIo<HappyStream>, ConnectError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connector = self.connector.clone();
        Box::pin(async move {
            let host = uri.host().ok_or_else(|| bad_uri(&uri))?;
            let port = match (uri.port_u16(), uri.scheme_str()) {
                (Some(p), _) => p,
                (None, Some("https")) => 443,
                (None, Some("http") | None) => 80,
                (None, Some(_)) => return Err(bad_uri(&uri)),
            };
            // Browsers ask for HTTPS records for https URLs (RFC 9460 §9): so do we.
            let connector = if uri.scheme_str() == Some("https") {
                connector.svcb(true)
            } else {
                connector
            };
            let conn = connector.connect(host, port).await?;
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
