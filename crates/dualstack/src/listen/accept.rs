//! Accepting fairly from a set of listening sockets, in the caller's task: the sockets
//! are polled in turn, per-connection errors skipped, resource exhaustion backed off.

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::Bound;
use crate::addr::unmap_socket;
use crate::sys::errno::{is_accept_per_connection, is_resource_exhaustion};

/// A connection accepted by [`Listeners`], with unmapped addresses.
#[derive(Debug)]
pub struct Accepted {
    /// The connection.
    pub stream: TcpStream,
    /// The client's address (unmapped).
    pub peer: SocketAddr,
    /// The local address it arrived on (unmapped).
    pub local: SocketAddr,
}

/// A connection taken from the kernel but not yet registered with the runtime: a
/// nonblocking socket. A server that can answer at once (the request is already in the
/// receive queue) saves the registration and its removal, two `epoll_ctl` calls.
#[derive(Debug)]
pub(crate) struct RawAccepted {
    /// The connection (nonblocking, close-on-exec).
    pub(crate) socket: std::net::TcpStream,
    /// The client's address (unmapped).
    pub(crate) peer: SocketAddr,
    /// The local address it arrived on (unmapped).
    pub(crate) local: SocketAddr,
    /// Its listener defers accepts until the client has sent data (`TCP_DEFER_ACCEPT`):
    /// the first bytes are most likely in the receive queue already.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) deferred: bool,
}

impl RawAccepted {
    /// Register the connection with the current runtime.
    ///
    /// # Errors
    /// The runtime refused it (out of memory for its registration).
    pub(crate) fn register(self) -> io::Result<Accepted> {
        Ok(Accepted {
            stream: TcpStream::from_std(self.socket)?,
            peer: self.peer,
            local: self.local,
        })
    }
}

/// How long to wait after `EMFILE`/`ENFILE`/`ENOBUFS`/`ENOMEM` before accepting again.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Errors skipped in one call before yielding to the runtime (a socket that reports
/// per-connection errors without end must not hold the task).
const SKIPS_PER_POLL: usize = 64;

/// A set of TCP listening sockets accepted from fairly: [`Listeners::accept`] polls the
/// sockets in turn, starting after the one that gave the last connection, so a busy
/// socket cannot starve a quiet one.
///
/// The accept happens in the task that calls [`Listeners::accept`] (no accept task and no
/// channel in between: one task hop less per connection). A socket bound to a specific
/// address reports that address as every connection's local address; only a wildcard
/// socket asks the kernel (`getsockname`) per connection.
///
/// A socket that fails for good is logged and dropped; the others keep serving.
/// [`Listeners::accept`] returns `None` only when every socket has failed or the set was
/// closed. Dropping the set stops accepting.
#[derive(Debug)]
pub struct Listeners {
    slots: Vec<Slot>,
    next: usize,
    locals: Vec<Bound>,
}

#[derive(Debug)]
struct Slot {
    listener: Option<AsyncFd<socket2::Socket>>,
    local: SocketAddr,
    /// The listener's address is a wildcard: ask each connection for its own.
    wildcard: bool,
    /// The listener defers accepts until data arrives.
    deferred: bool,
    /// Out of descriptors or memory: accept again when this fires.
    backoff: Option<Pin<Box<Sleep>>>,
    /// A warning was logged for the current spell of exhaustion.
    exhausted: bool,
}

impl Listeners {
    /// Start accepting on `sockets` (bound stream sockets). Must be called inside a
    /// Tokio runtime.
    ///
    /// # Errors
    /// A socket that cannot be registered with the runtime.
    pub fn new(sockets: Vec<Bound>) -> io::Result<Listeners> {
        let mut slots = Vec::with_capacity(sockets.len());
        let mut locals = Vec::with_capacity(sockets.len());
        for b in sockets {
            let dup = b.socket.try_clone()?;
            dup.set_nonblocking(true)?;
            let deferred = crate::sys::listener::defers_accept(&dup);
            let listener = crate::sys::listener::watch(dup)?;
            slots.push(Slot {
                listener: Some(listener),
                local: b.local,
                // A dual socket (`IPV6_V6ONLY=0`) takes IPv4 too: its connections' local
                // addresses differ from its own even when it is bound to one address.
                wildcard: b.local.ip().is_unspecified() || b.v6only == Some(false),
                deferred,
                backoff: None,
                exhausted: false,
            });
            // Keep a description (and the fd) of each socket for `sockets`.
            locals.push(b);
        }
        Ok(Listeners {
            slots,
            next: 0,
            locals,
        })
    }

    /// The next accepted connection from any socket; `None` when all have failed or the
    /// set is closed.
    ///
    /// # Cancel safety
    /// Cancel safe: a connection is taken from the kernel only in the poll that returns it.
    pub async fn accept(&mut self) -> Option<Accepted> {
        loop {
            let raw = self.accept_raw().await?;
            let peer = raw.peer;
            match raw.register() {
                Ok(a) => return Some(a),
                Err(e) => tracing::debug!(%peer, error = %e,
                    "could not register an accepted connection; closed"),
            }
        }
    }

    /// The next accepted connection, not registered with the runtime; `None` when all
    /// sockets have failed or the set is closed.
    ///
    /// # Cancel safety
    /// Cancel safe, as [`Listeners::accept`].
    pub(crate) async fn accept_raw(&mut self) -> Option<RawAccepted> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Poll every live socket once, starting at `next`.
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Option<RawAccepted>> {
        let n = self.slots.len();
        let mut skips = 0;
        let mut live = 0;
        for k in 0..n {
            let i = (self.next + k) % n;
            let slot = &mut self.slots[i];
            let Some(listener) = &slot.listener else {
                continue;
            };
            live += 1;
            if let Some(sleep) = &mut slot.backoff {
                if sleep.as_mut().poll(cx).is_pending() {
                    continue;
                }
                slot.backoff = None;
            }
            loop {
                match poll_accept4(listener, cx) {
                    Poll::Pending => break,
                    Poll::Ready(Ok((socket, peer))) => {
                        slot.exhausted = false;
                        let local = if slot.wildcard {
                            socket.local_addr().map(unmap_socket).unwrap_or(slot.local)
                        } else {
                            slot.local
                        };
                        self.next = (i + 1) % n;
                        return Poll::Ready(Some(RawAccepted {
                            socket,
                            peer: unmap_socket(peer),
                            local,
                            deferred: slot.deferred,
                        }));
                    }
                    Poll::Ready(Err(e)) if is_accept_per_connection(&e) => {
                        tracing::debug!(local = %slot.local, error = %e,
                            "accept failed for one connection");
                        skips += 1;
                        if skips >= SKIPS_PER_POLL {
                            self.next = (i + 1) % n;
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                    }
                    Poll::Ready(Err(e)) if is_resource_exhaustion(&e) => {
                        if !slot.exhausted {
                            tracing::warn!(local = %slot.local, error = %e, backoff = ?ACCEPT_BACKOFF,
                                "out of resources accepting; backing off until connections close");
                            slot.exhausted = true;
                        }
                        let mut sleep = Box::pin(tokio::time::sleep(ACCEPT_BACKOFF));
                        // Registers the timer's waker; a fresh sleep is never ready at once.
                        let _ = sleep.as_mut().poll(cx);
                        slot.backoff = Some(sleep);
                        break;
                    }
                    Poll::Ready(Err(e)) => {
                        tracing::error!(local = %slot.local, error = %e,
                            "listening socket failed; still serving on the others");
                        slot.listener = None;
                        live -= 1;
                        break;
                    }
                }
            }
        }
        if live == 0 {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }

    /// The bound sockets (address and `IPV6_V6ONLY`).
    pub fn sockets(&self) -> &[Bound] {
        &self.locals
    }

    /// Stop accepting: close every listening socket.
    pub fn close(&mut self) {
        self.slots.clear();
        self.locals.clear();
    }
}

/// One nonblocking `accept4` on a listener the runtime watches: the connection comes
/// nonblocking and close-on-exec, as Tokio's own accept makes it, but unregistered.
fn poll_accept4(
    listener: &AsyncFd<socket2::Socket>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<(std::net::TcpStream, SocketAddr)>> {
    loop {
        let mut guard = match listener.poll_read_ready(cx) {
            Poll::Ready(Ok(g)) => g,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        // `try_io` forgets the readiness only when the accept would block.
        match guard.try_io(|l| crate::sys::listener::accept_nonblocking(l.get_ref())) {
            Ok(Ok((socket, addr))) => {
                let Some(peer) = addr.as_socket() else {
                    // Not an IP peer: a listener of another family handed to us.
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "accepted a connection that is not TCP/IP",
                    )));
                };
                return Poll::Ready(Ok((socket, peer)));
            }
            Ok(Err(e)) => return Poll::Ready(Err(e)),
            Err(_would_block) => continue,
        }
    }
}
