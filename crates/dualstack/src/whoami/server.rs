//! Serving whoami: the line and HTTP services over TCP and the UDP service, on any set of
//! bound sockets, under one shutdown, with the limits a public server needs (a connection
//! cap, idle and header timeouts, PROXY protocol from trusted proxies only, optional
//! reverse DNS) and a graceful drain.
//!
//! ```no_run
//! # async fn f(sockets: Vec<(dualstack::whoami::server::Service, dualstack::listen::Bound)>) -> std::io::Result<()> {
//! use dualstack::whoami::server::{Server, ServerConfig};
//! let running = Server::new(ServerConfig::default()).start(sockets)?;
//! tokio::signal::ctrl_c().await?;
//! // Graceful: answer what has arrived, close idle connections, wait (bounded).
//! let drained = running.stop(std::future::pending()).await;
//! assert_eq!(drained.cut, 0);
//! # Ok(()) }
//! ```
//!
//! Every accepted connection runs in a `tracing` span `conn` with fields `peer`, `local`
//! (unmapped) and `service`, and is logged once at accept (`connection`, INFO). Warnings a
//! remote peer can trigger (connection-limit refusals, PROXY failures) are rate limited
//! ([`super::ratelimit`]).

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::task::JoinHandle;

use super::http::{HttpConfig, Phase};
use super::observe::Observer;
use super::proxy::ProxyProtocol;
use super::ratelimit::{Throttle, WARN_INTERVAL};
use super::udp::{ReplyLimits, UdpWhoami};
use super::waiting::Waiter;
use crate::listen::{Bound, Listeners};
use crate::reverse::Reverse;

/// A whoami service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Service {
    /// The line (telnet) whoami over TCP: facts on connect, then close.
    Line,
    /// The HTTP whoami over TCP.
    Http,
    /// The UDP whoami: one reply per datagram.
    Udp,
}

impl Service {
    /// The service's name in logs and in systemd's `FileDescriptorName=`: `line`, `http`,
    /// `udp`.
    pub fn name(self) -> &'static str {
        match self {
            Service::Line => "line",
            Service::Http => "http",
            Service::Udp => "udp",
        }
    }

    /// The service named `name` (as [`Service::name`] spells it).
    pub fn from_name(name: &str) -> Option<Service> {
        [Service::Line, Service::Http, Service::Udp]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How often the server checks whether to return freed memory to the OS.
const TRIM_EVERY: Duration = Duration::from_secs(1);
/// Connections that must have ended (or parked) since the last trim to trim again.
const TRIM_AFTER: u64 = 256;

/// Default of [`ServerConfig::max_connections`].
pub const MAX_CONNECTIONS: usize = 10_000;
/// Default of [`ServerConfig::idle_timeout`].
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of [`ServerConfig::header_timeout`].
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`ServerConfig::shutdown_timeout`].
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// A reverse lookup's hard timeout suggested for a server: short, because the reply
/// waits for it (the general default is [`reverse::DEFAULT_TIMEOUT`](crate::reverse::DEFAULT_TIMEOUT)).
pub const REVERSE_TIMEOUT: Duration = Duration::from_millis(500);

/// Limits and options shared by every service of one server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Most connections open at once, over all TCP services; more are accepted and
    /// closed at once (logged, rate limited). Default [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// Close a connection with no I/O for this long. Default [`IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// An HTTP request must arrive within this time (also ends idle keep-alive
    /// connections). Default [`HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// How long a graceful shutdown waits for in-flight connections. Default
    /// [`SHUTDOWN_TIMEOUT`].
    pub shutdown_timeout: Duration,
    /// PROXY protocol policy (trusted proxies must send a header, others must not).
    pub proxy: Option<ProxyProtocol>,
    /// Look up the client's name (reverse DNS, with its own hard timeout).
    pub reverse: Option<Reverse>,
    /// Reply rate limits of the UDP service.
    pub udp: ReplyLimits,
    /// Receives connection, refusal, request and UDP events (metrics). Default none.
    pub observer: Option<Arc<dyn Observer>>,
    /// Defer accepting HTTP connections until the client has sent data, waiting at most
    /// about this long (whole seconds; Linux `TCP_DEFER_ACCEPT`, nginx's `listen ...
    /// deferred`). A connection that never sends costs the server nothing until then,
    /// and one that sends a plain `Connection: close` request is answered by the accept
    /// loop itself (`accept`, `recv`, `send`, `close`: no task, no timer, no `epoll_ctl`).
    /// Connections still waiting in the kernel do not count against
    /// [`max_connections`](Self::max_connections), and their header timeout begins
    /// when they are accepted. Ignored with a warning where unsupported. Default none.
    /// (A socket passed by systemd with `DeferAcceptSec=` is treated the same way.)
    pub defer_accept: Option<Duration>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: MAX_CONNECTIONS,
            idle_timeout: IDLE_TIMEOUT,
            header_timeout: HEADER_TIMEOUT,
            shutdown_timeout: SHUTDOWN_TIMEOUT,
            proxy: None,
            reverse: None,
            udp: ReplyLimits::default(),
            observer: None,
            defer_accept: None,
        }
    }
}

/// Counters of a running server (monotonic, since start), for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// TCP connections accepted and served (within the connection cap).
    pub accepted: u64,
    /// TCP connections refused at the connection cap.
    pub refused: u64,
    /// HTTP connections that got a hyper connection (and its buffers): only those that
    /// sent a request hyper must answer (a plain `GET` or `HEAD` of a whoami path in
    /// HTTP/1.1 is answered without one).
    pub http_started: u64,
    /// HTTP connections answered by the accept loop itself, before any task or runtime
    /// registration: their `Connection: close` request was there at accept (always with
    /// [`ServerConfig::defer_accept`]; without it, when connections waited in the listen
    /// queue).
    pub answered_at_accept: u64,
    /// `Connection: close` requests answered by the accept loop on connections that
    /// waited there (no task, no runtime registration, no timer entry: Linux): new
    /// connections that had sent nothing when accepted, and keep-alive ones parked there
    /// after a second without a request.
    pub answered_after_wait: u64,
    /// Keep-alive connections handed back to the accept loop after a second without a
    /// request (their task ended).
    pub parked: u64,
    /// TCP connections open now.
    pub active: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) http_started: AtomicU64,
    pub(crate) answered_at_accept: AtomicU64,
    pub(crate) answered_after_wait: AtomicU64,
    pub(crate) parked: AtomicU64,
    /// Connections ended plus keep-alive connections parked: memory freed in bulk.
    pub(crate) released: AtomicU64,
}

/// A whoami server: limits, counters and the shutdown phase shared by every service.
/// Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct Server {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) cfg: ServerConfig,
    pub(crate) http: HttpConfig,
    pub(crate) limit: Arc<Semaphore>,
    pub(crate) phase: watch::Sender<Phase>,
    /// Notified after every change of `phase`. A connection waiting for a request keeps
    /// one waiter here for its whole life, where `phase.changed()` would add and remove
    /// one per request.
    pub(crate) phase_changed: Notify,
    pub(crate) counters: Counters,
    /// PROXY failures are logged from connection tasks: one throttle for all of them.
    pub(crate) proxy_warn: Mutex<Throttle>,
    /// Where connection tasks park idle keep-alive connections: the HTTP accept loop's
    /// waiting set (set by that loop when it has one).
    pub(crate) park: OnceLock<mpsc::UnboundedSender<Waiter>>,
}

impl Server {
    /// A server with `cfg`. Nothing runs until [`Server::start`].
    pub fn new(cfg: ServerConfig) -> Server {
        let http = HttpConfig {
            header_timeout: cfg.header_timeout,
            idle_timeout: cfg.idle_timeout,
            ..HttpConfig::default()
        };
        let max = cfg.max_connections.clamp(1, Semaphore::MAX_PERMITS);
        let (phase, _) = watch::channel(Phase::Running);
        Server {
            inner: Arc::new(Inner {
                cfg: ServerConfig {
                    max_connections: max,
                    ..cfg
                },
                http,
                limit: Arc::new(Semaphore::new(max)),
                phase,
                phase_changed: Notify::new(),
                counters: Counters::default(),
                proxy_warn: Mutex::new(Throttle::new(WARN_INTERVAL)),
                park: OnceLock::new(),
            }),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.cfg
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        Stats {
            accepted: c.accepted.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            http_started: c.http_started.load(Ordering::Relaxed),
            answered_at_accept: c.answered_at_accept.load(Ordering::Relaxed),
            answered_after_wait: c.answered_after_wait.load(Ordering::Relaxed),
            parked: c.parked.load(Ordering::Relaxed),
            active: self.active_connections() as u64,
        }
    }

    /// Connections open now.
    pub fn active_connections(&self) -> usize {
        self.inner.cfg.max_connections - self.inner.limit.available_permits()
    }

    /// Serve each socket's service: TCP sockets (stream) for [`Service::Line`] and
    /// [`Service::Http`], UDP sockets for [`Service::Udp`]. Returns at once; the services
    /// run on the current Tokio runtime until [`Running::stop`].
    ///
    /// Stream sockets get `TCP_NODELAY`, which accepted connections inherit (one
    /// `setsockopt` per listener instead of one per connection), and HTTP ones
    /// `TCP_DEFER_ACCEPT` if [`ServerConfig::defer_accept`] asks for it.
    ///
    /// # Errors
    /// A socket that cannot be registered with the runtime, or a UDP socket that refuses
    /// pktinfo.
    pub fn start(&self, sockets: Vec<(Service, Bound)>) -> io::Result<Running> {
        let (mut line, mut http, mut udp) = (Vec::new(), Vec::new(), Vec::new());
        for (service, b) in sockets {
            match service {
                Service::Line => line.push(b),
                Service::Http => http.push(b),
                Service::Udp => udp.push(std::net::UdpSocket::from(b.socket)),
            }
        }
        let mut tasks = Vec::new();
        for (service, socks) in [(Service::Line, line), (Service::Http, http)] {
            if socks.is_empty() {
                continue;
            }
            for b in &socks {
                if let Err(e) = b.socket.set_tcp_nodelay(true) {
                    tracing::debug!(addr = %b.local, error = %e, "TCP_NODELAY refused");
                }
                if let (Service::Http, Some(wait)) = (service, self.inner.cfg.defer_accept) {
                    if let Err(e) = crate::sys::listener::set_defer_accept(&b.socket, wait) {
                        tracing::warn!(addr = %b.local, error = %e,
                            "cannot defer accepts; accepting at once");
                    }
                }
            }
            let listeners = Listeners::new(socks)?;
            tasks.push(tokio::spawn(self.clone().accept_loop(listeners, service)));
        }
        if !udp.is_empty() {
            let udp = UdpWhoami::new(udp)?
                .limits(self.inner.cfg.udp)
                .observer(self.inner.cfg.observer.clone());
            let mut phase = self.inner.phase.subscribe();
            tasks.push(tokio::spawn(async move {
                tokio::select! {
                    r = udp.run() => if let Err(e) = r {
                        tracing::error!(service = "udp", error = %e,
                            "every UDP socket failed; UDP service stopped");
                    },
                    // Dropping the UDP future stops its sockets: no state to finish.
                    _ = phase.wait_for(|p| *p != Phase::Running) => {}
                }
            }));
        }
        tasks.push(tokio::spawn(self.clone().trimmer()));
        Ok(Running {
            server: self.clone(),
            tasks,
        })
    }

    /// Once a second: after a burst of connections ended (or parked), give the freed heap
    /// pages back to the OS, so RSS does not ratchet up burst after burst.
    async fn trimmer(self) {
        let mut phase = self.inner.phase.subscribe();
        let mut tick = tokio::time::interval(TRIM_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = phase.wait_for(|p| *p != Phase::Running) => return,
            }
            let now = self.inner.counters.released.load(Ordering::Relaxed);
            if now - seen >= TRIM_AFTER {
                seen = now;
                crate::sys::alloc::trim();
            }
        }
    }

    /// Begin a graceful shutdown: stop accepting (TCP) and answering (UDP); requests that
    /// have arrived are answered with `Connection: close`, idle connections close.
    pub fn shutdown(&self) {
        let changed = self.inner.phase.send_if_modified(|p| {
            let was = *p;
            if was == Phase::Running {
                *p = Phase::Draining;
            }
            was == Phase::Running
        });
        if changed {
            self.inner.phase_changed.notify_waiters();
        }
    }

    /// End every connection now (they are dropped at their next poll).
    pub fn cut(&self) {
        self.inner.phase.send_replace(Phase::Cut);
        self.inner.phase_changed.notify_waiters();
    }

    /// Wait until every connection has ended, or `deadline` has passed. Returns how many
    /// were still open (0: clean).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn drain(&self, deadline: Duration) -> usize {
        let all = self.inner.cfg.max_connections as u32;
        match tokio::time::timeout(deadline, self.inner.limit.acquire_many(all)).await {
            Ok(_) => 0,
            Err(_) => self.active_connections(),
        }
    }
}

/// Services started by [`Server::start`].
#[derive(Debug)]
pub struct Running {
    server: Server,
    tasks: Vec<JoinHandle<()>>,
}

/// How a shutdown ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Drained {
    /// Connections cut because the deadline passed or `force` fired (0: clean).
    pub cut: usize,
    /// Whether `force` ended the drain.
    pub forced: bool,
}

impl Running {
    /// The server (limits, counters).
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Shut down gracefully: stop accepting, let the connections finish what has
    /// arrived, wait up to the shutdown timeout, then cut what is left. `force` (a second
    /// signal, say) cuts at once.
    ///
    /// # Cancel safety
    /// Not cancel safe: the shutdown has begun; call [`Server::cut`] to end it.
    pub async fn stop(self, force: impl Future<Output = ()>) -> Drained {
        let server = self.server;
        server.shutdown();
        for t in self.tasks {
            let _ = t.await;
        }
        let deadline = server.inner.cfg.shutdown_timeout;
        let (left, forced) = tokio::select! {
            n = server.drain(deadline) => (n, false),
            () = force => (server.active_connections(), true),
        };
        if left > 0 {
            server.cut();
            // The tasks drop their connections at their next poll; give them that poll.
            let _ = server.drain(Duration::from_millis(200)).await;
        }
        Drained { cut: left, forced }
    }
}
