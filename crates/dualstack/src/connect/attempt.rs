//! One connection attempt to one address, behind a trait so the algorithm can be tested
//! on a paused clock: [`TcpAttempt`] makes real TCP connections (with an optional source
//! address), [`ScriptedAttempt`] plays a per-address script of delays and results.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio::time::Instant;

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

/// One attempt a [`ScriptedAttempt`] saw: destination, source address, start time.
pub type Started = (SocketAddr, Option<IpAddr>, Instant);

/// What a scripted address does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// Connects after the delay.
    Accept(Duration),
    /// Fails with this OS error after the delay (`libc::ECONNREFUSED`, `libc::ENETUNREACH`, ...).
    Fail(Duration, i32),
    /// Never answers (a silent black hole).
    Hang,
}

/// A scripted connection, counted while open.
#[derive(Debug)]
pub struct ScriptedStream {
    /// The address it is "connected" to.
    pub peer: SocketAddr,
    _open: OpenGuard,
}

#[derive(Debug)]
struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    fn new(count: &Arc<AtomicUsize>) -> OpenGuard {
        count.fetch_add(1, Ordering::SeqCst);
        OpenGuard(count.clone())
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An [`Attempt`] that follows a script per address, for paused-clock tests. Every
/// attempt holds a counted "socket" from its start until it is dropped, so tests can
/// check that the losers were closed. Unscripted addresses are refused at once.
#[derive(Debug, Clone, Default)]
pub struct ScriptedAttempt {
    script: HashMap<SocketAddr, Script>,
    open: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<Started>>>,
}

impl ScriptedAttempt {
    /// An empty script.
    pub fn new() -> ScriptedAttempt {
        ScriptedAttempt::default()
    }

    /// Script what connecting to `addr` does.
    pub fn on(mut self, addr: SocketAddr, script: Script) -> Self {
        self.script.insert(addr, script);
        self
    }

    /// Sockets currently open (attempts in flight plus connected streams not dropped).
    pub fn open_sockets(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Every attempt started: destination, source, and when.
    pub fn started(&self) -> Vec<Started> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Attempt for ScriptedAttempt {
    type Stream = ScriptedStream;

    fn connect(
        &self,
        addr: SocketAddr,
        source: Option<IpAddr>,
    ) -> BoxFuture<'static, io::Result<ScriptedStream>> {
        if let Ok(mut l) = self.log.lock() {
            l.push((addr, source, Instant::now()));
        }
        let guard = OpenGuard::new(&self.open);
        let script = self
            .script
            .get(&addr)
            .copied()
            .unwrap_or(Script::Fail(Duration::ZERO, libc::ECONNREFUSED));
        async move {
            match script {
                Script::Accept(d) => {
                    tokio::time::sleep(d).await;
                    Ok(ScriptedStream {
                        peer: addr,
                        _open: guard,
                    })
                }
                Script::Fail(d, errno) => {
                    tokio::time::sleep(d).await;
                    drop(guard);
                    Err(io::Error::from_raw_os_error(errno))
                }
                Script::Hang => {
                    let _guard = guard;
                    std::future::pending().await
                }
            }
        }
        .boxed()
    }

    fn local_addr(&self, stream: &ScriptedStream) -> io::Result<SocketAddr> {
        Ok(match stream.peer {
            SocketAddr::V4(_) => "192.0.2.100:40000".parse().expect("valid"),
            SocketAddr::V6(_) => "[2001:db8::100]:40000".parse().expect("valid"),
        })
    }
}
