//! Running the TCP whoami services (line and HTTP) on a [`Listeners`] set, with the limits
//! a public server needs: a connection cap, idle and header timeouts, PROXY protocol from
//! trusted proxies only, optional reverse DNS, and graceful shutdown.
//!
//! Every connection is logged once at accept (`service`, `peer`, `local`, unmapped);
//! rejections and timeouts add a line saying why.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::http::{self, HttpConfig};
use super::proxy::{FirstSpeaker, Origin, ProxyProtocol};
use super::{line, Facts};
use crate::listen::{Accepted, Listeners};
use crate::reverse::Reverse;

/// A TCP whoami protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpService {
    /// The line (telnet) whoami: facts on connect, then close.
    Line,
    /// The HTTP whoami.
    Http,
}

impl fmt::Display for TcpService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpService::Line => "line",
            TcpService::Http => "http",
        })
    }
}

/// Limits and options shared by every service of one server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Most connections open at once, over all TCP services; more are accepted and
    /// closed at once, with a log line. Default 10 000.
    pub max_connections: usize,
    /// Close a connection with no I/O for this long. Default 60 s.
    pub idle_timeout: Duration,
    /// An HTTP request head must arrive within this time (also ends idle keep-alive
    /// connections). Default 10 s.
    pub header_timeout: Duration,
    /// How long a graceful shutdown waits for in-flight connections. Default 10 s.
    pub shutdown_timeout: Duration,
    /// PROXY protocol policy (trusted proxies must send a header, others must not).
    pub proxy: Option<ProxyProtocol>,
    /// Look up the client's name (reverse DNS, with its own hard timeout).
    pub reverse: Option<Reverse>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
            proxy: None,
            reverse: None,
        }
    }
}

/// A whoami server: spawns accept loops, tracks open connections, shuts down gracefully.
/// Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cfg: ServerConfig,
    http: HttpConfig,
    limit: Arc<Semaphore>,
    shutdown: watch::Sender<bool>,
}

impl Server {
    /// A server with `cfg`. Nothing runs until [`Server::serve_tcp`].
    pub fn new(cfg: ServerConfig) -> Server {
        let http = HttpConfig {
            header_timeout: cfg.header_timeout,
            idle_timeout: cfg.idle_timeout,
            ..HttpConfig::default()
        };
        let max = cfg.max_connections.clamp(1, Semaphore::MAX_PERMITS);
        let (shutdown, _) = watch::channel(false);
        Server {
            inner: Arc::new(Inner {
                cfg: ServerConfig {
                    max_connections: max,
                    ..cfg
                },
                http,
                limit: Arc::new(Semaphore::new(max)),
                shutdown,
            }),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.cfg
    }

    /// Accept connections from `listeners` and serve `service` on each, until
    /// [`Server::shutdown`] (or every socket of the set fails). Must be called inside a
    /// Tokio runtime.
    pub fn serve_tcp(&self, listeners: Listeners, service: TcpService) -> JoinHandle<()> {
        tokio::spawn(self.clone().accept_loop(listeners, service))
    }

    /// A receiver that turns `true` when shutdown begins (for services run elsewhere,
    /// such as UDP).
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Begin a graceful shutdown: stop accepting, let HTTP connections finish the request
    /// in progress, close idle ones.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Connections open now.
    pub fn active_connections(&self) -> usize {
        self.inner.cfg.max_connections - self.inner.limit.available_permits()
    }

    /// Wait until every connection has ended, or the shutdown timeout has passed.
    /// Returns how many connections were still open at the deadline (0: clean).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn drain(&self) -> usize {
        let all = self.inner.cfg.max_connections as u32;
        let wait = self.inner.limit.acquire_many(all);
        match tokio::time::timeout(self.inner.cfg.shutdown_timeout, wait).await {
            Ok(_) => 0,
            Err(_) => self.active_connections(),
        }
    }

    async fn accept_loop(self, mut listeners: Listeners, service: TcpService) {
        let mut stop = self.shutdown_signal();
        loop {
            let acc = tokio::select! {
                a = listeners.accept() => a,
                _ = stop.wait_for(|s| *s) => break,
            };
            let Some(acc) = acc else {
                tracing::error!(%service, "every listening socket failed; {service} service stopped");
                return;
            };
            let Ok(permit) = self.inner.limit.clone().try_acquire_owned() else {
                tracing::warn!(%service, peer = %acc.peer, local = %acc.local,
                    max = self.inner.cfg.max_connections,
                    "connection limit reached; closing the new connection");
                drop(acc);
                continue;
            };
            tracing::info!(%service, peer = %acc.peer, local = %acc.local, "connection");
            tokio::spawn(self.clone().connection(acc, service, permit));
        }
        listeners.close();
        tracing::debug!(%service, "stopped accepting");
    }

    async fn connection(self, acc: Accepted, service: TcpService, _permit: OwnedSemaphorePermit) {
        let Accepted {
            mut stream,
            peer,
            local,
        } = acc;
        let cfg = &self.inner.cfg;
        let origin = match &cfg.proxy {
            None => Origin::direct(peer, local),
            Some(pp) => {
                let first = match service {
                    TcpService::Line => FirstSpeaker::Server,
                    TcpService::Http => FirstSpeaker::Client,
                };
                // Boxed here and below: a future's size is its largest state, and every idle
                // connection's task would otherwise carry the PROXY and HTTP states inline.
                match Box::pin(pp.accept(&mut stream, peer, local, first)).await {
                    Ok(o) => {
                        if let Some(proxy) = o.proxy {
                            tracing::info!(%service, client = %o.client, %proxy, "PROXY header");
                        }
                        o
                    }
                    Err(e) => {
                        tracing::warn!(%service, %peer, error = %e, "PROXY protocol check failed; closing");
                        return;
                    }
                }
            }
        };
        let mut facts = origin.facts();
        if let Some(r) = &cfg.reverse {
            facts.reverse = Box::pin(r.lookup(facts.ip)).await.ok();
        }
        match service {
            TcpService::Line => self.line(stream, facts).await,
            TcpService::Http => self.http(stream, facts).await,
        }
    }

    async fn line(&self, mut stream: TcpStream, facts: Facts) {
        let peer = facts.peer();
        let idle = self.inner.cfg.idle_timeout;
        match tokio::time::timeout(idle, line::respond(&mut stream, &facts)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(service = "line", %peer, error = %e, "write failed"),
            Err(_) => {
                tracing::info!(service = "line", %peer, timeout = ?idle, "client too slow; closed")
            }
        }
    }

    async fn http(&self, stream: TcpStream, facts: Facts) {
        let peer = facts.peer();
        let cfg = &self.inner.http;
        let mut stop = self.shutdown_signal();
        // Hold no HTTP buffers (16 KiB) for a connection that has not sent a byte yet.
        let first = tokio::select! {
            r = tokio::time::timeout(cfg.header_timeout, stream.readable()) => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        match first {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(service = "http", %peer, error = %e, "read failed");
                return;
            }
            Err(_) => {
                tracing::info!(service = "http", %peer, timeout = ?cfg.header_timeout,
                    "no request within the header timeout; closed");
                return;
            }
        }
        let _ = stream.set_nodelay(true);
        match Box::pin(http::serve_connection(stream, Arc::new(facts), cfg, stop)).await {
            Ok(()) => {}
            Err(http::HttpError::Idle(t)) => {
                tracing::info!(service = "http", %peer, timeout = ?t, "idle; closed")
            }
            Err(http::HttpError::Http(e)) if e.is_timeout() => {
                tracing::info!(service = "http", %peer, timeout = ?cfg.header_timeout,
                    "request head too slow; closed")
            }
            Err(e) => tracing::debug!(service = "http", %peer, error = %e, "connection error"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Memory per idle connection is mostly its task, sized by the largest state of the
    /// connection future: the PROXY, reverse and HTTP phases must stay boxed.
    #[tokio::test]
    async fn connection_future_is_small() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (stream, peer) = l.accept().await.unwrap();
        let server = Server::new(ServerConfig::default());
        let permit = server.inner.limit.clone().try_acquire_owned().unwrap();
        let acc = Accepted {
            stream,
            peer,
            local: c.peer_addr().unwrap(),
        };
        let fut = server.clone().connection(acc, TcpService::Http, permit);
        let size = std::mem::size_of_val(&fut);
        assert!(size <= 2048, "connection future is {size} bytes");
    }
}
