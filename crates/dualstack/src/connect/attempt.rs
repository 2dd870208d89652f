//! One connection attempt to one address, behind a trait so the algorithm can be tested
//! on a paused clock: [`TcpAttempt`] makes real TCP connections (with an optional source
//! address); the scripted double is in `scripted` (feature `test-util`).

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

/// Makes one connection attempt. Dropping the returned future must cancel the attempt and
/// close its socket: that is how the losers of a race are closed.
pub trait Attempt: Send + Sync + fmt::Debug {
    /// The connected stream.
    type Stream: Send + 'static;

    /// Connect to `addr`, from `source` (port chosen by the kernel) when given.
    fn connect(
        &self,
        addr: SocketAddr,
        source: Option<IpAddr>,
    ) -> BoxFuture<'static, io::Result<Self::Stream>>;

    /// The local address of a connected stream.
    fn local_addr(&self, stream: &Self::Stream) -> io::Result<SocketAddr>;
}

/// Real TCP: a non-blocking socket of the destination's family, bound to the source
/// address when one is given, then `connect(2)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpAttempt;

impl Attempt for TcpAttempt {
    type Stream = tokio::net::TcpStream;

    fn connect(
        &self,
        addr: SocketAddr,
        source: Option<IpAddr>,
    ) -> BoxFuture<'static, io::Result<tokio::net::TcpStream>> {
        async move {
            let socket = match addr {
                SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
                SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
            };
            if let Some(src) = source {
                socket.bind(SocketAddr::new(src, 0))?;
            }
            socket.connect(addr).await
        }
        .boxed()
    }

    fn local_addr(&self, stream: &tokio::net::TcpStream) -> io::Result<SocketAddr> {
        stream.local_addr()
    }
}
