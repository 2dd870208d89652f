//! Accepting fairly from a set of listening sockets: one task per socket, a bounded
//! channel, per-connection errors skipped, resource exhaustion backed off.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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

/// How long to wait after `EMFILE`/`ENFILE`/`ENOBUFS`/`ENOMEM` before accepting again.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A set of TCP listening sockets accepted from fairly: one accept task per socket feeds
/// a bounded channel (Tokio's channel serves waiting senders in order, so a busy socket
/// cannot starve a quiet one).
///
/// A socket that fails for good is logged and dropped; the others keep serving.
/// [`Listeners::accept`] returns `None` only when every socket has failed or the set was
/// closed. Dropping the set stops accepting.
#[derive(Debug)]
pub struct Listeners {
    rx: mpsc::Receiver<Accepted>,
    tasks: Vec<JoinHandle<()>>,
    locals: Vec<Bound>,
}

impl Listeners {
    /// Start accepting on `sockets` (bound stream sockets). Must be called inside a
    /// Tokio runtime.
    ///
    /// # Errors
    /// A socket that cannot be registered with the runtime.
    pub fn new(sockets: Vec<Bound>) -> io::Result<Listeners> {
        let (tx, rx) = mpsc::channel(64);
        let mut tasks = Vec::with_capacity(sockets.len());
        let mut locals = Vec::with_capacity(sockets.len());
        for b in sockets {
            let dup = b.socket.try_clone()?;
            let listener = TcpListener::from_std(std::net::TcpListener::from(dup))?;
            tasks.push(tokio::spawn(accept_loop(listener, b.local, tx.clone())));
            // Keep a description (and the fd) of each socket for `local_addrs`.
            locals.push(b);
        }
        Ok(Listeners { rx, tasks, locals })
    }

    /// The next accepted connection from any socket; `None` when all have failed or the
    /// set is closed.
    ///
    /// # Cancel safety
    /// Cancel safe: a connection not yet returned stays queued.
    pub async fn accept(&mut self) -> Option<Accepted> {
        self.rx.recv().await
    }

    /// The bound sockets (address and `IPV6_V6ONLY`).
    pub fn sockets(&self) -> &[Bound] {
        &self.locals
    }

    /// Stop accepting: close every listening socket. Connections already accepted but
    /// not yet returned by [`accept`](Self::accept) are closed too.
    pub fn close(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.locals.clear();
        self.rx.close();
        while self.rx.try_recv().is_ok() {}
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, local: SocketAddr, tx: mpsc::Sender<Accepted>) {
    let mut exhausted = false;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                exhausted = false;
                let local = stream.local_addr().map(unmap_socket).unwrap_or(local);
                let acc = Accepted {
                    stream,
                    peer: unmap_socket(peer),
                    local,
                };
                if tx.send(acc).await.is_err() {
                    return; // the set was closed
                }
            }
            Err(e) if is_accept_per_connection(&e) => {
                tracing::debug!(%local, error = %e, "accept failed for one connection");
            }
            Err(e) if is_resource_exhaustion(&e) => {
                if !exhausted {
                    tracing::warn!(%local, error = %e, backoff = ?ACCEPT_BACKOFF,
                        "out of resources accepting; backing off until connections close");
                    exhausted = true;
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
            Err(e) => {
                tracing::error!(%local, error = %e,
                    "listening socket failed; still serving on the others");
                return;
            }
        }
    }
}
