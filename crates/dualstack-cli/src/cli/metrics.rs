//! `serve --metrics ADDR`: Prometheus metrics (OpenMetrics text, `GET /metrics`) on a
//! listener of their own. The library reports events through its
//! [`Observer`](dualstack::whoami::observe::Observer) hook; this module counts them with
//! the `prometheus-client` crate and serves the registry.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dualstack::addr::Family as IpFamily;
use dualstack::whoami::observe::{Observer, Refused};
use dualstack::whoami::server::{Server, Service};
use dualstack::whoami::udp::Refusal as UdpRefusal;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// A scrape must send its request head within this time.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request head read from a scraper.
const MAX_HEAD: usize = 4096;
/// Scrapes served at once; more wait in the listen backlog.
const MAX_SCRAPES: usize = 16;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceFamily {
    service: &'static str,
    family: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceReason {
    service: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    route: &'static str,
    status: u16,
    family: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FamilyLabel {
    family: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

fn family(f: IpFamily) -> &'static str {
    match f {
        IpFamily::V4 => "ipv4",
        IpFamily::V6 => "ipv6",
    }
}

fn duration_histogram() -> Histogram {
    // 10 µs .. ~2.6 s: a whoami answer is microseconds; the top buckets catch stalls.
    Histogram::new(exponential_buckets(0.000_01, 4.0, 10))
}

/// The metrics the server's events update.
#[derive(Debug)]
struct Counters {
    connections: Family<ServiceFamily, Counter>,
    refused: Family<ServiceReason, Counter>,
    requests: Family<Request, Counter>,
    durations: Family<Route, Histogram, fn() -> Histogram>,
    udp_replies: Family<FamilyLabel, Counter>,
    udp_dropped: Family<Reason, Counter>,
}

impl Counters {
    fn new() -> Counters {
        Counters {
            connections: Family::default(),
            refused: Family::default(),
            requests: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
            udp_replies: Family::default(),
            udp_dropped: Family::default(),
        }
    }
}

impl Observer for Counters {
    fn connection(&self, service: Service, f: IpFamily) {
        let labels = ServiceFamily {
            service: service.name(),
            family: family(f),
        };
        self.connections.get_or_create(&labels).inc();
    }
    fn refused(&self, service: Service, reason: Refused) {
        let labels = ServiceReason {
            service: service.name(),
            reason: reason.name(),
        };
        self.refused.get_or_create(&labels).inc();
    }
    fn request(&self, route: &'static str, status: u16, f: IpFamily, elapsed: Duration) {
        let labels = Request {
            route,
            status,
            family: family(f),
        };
        self.requests.get_or_create(&labels).inc();
        self.durations
            .get_or_create(&Route { route })
            .observe(elapsed.as_secs_f64());
    }
    fn udp_reply(&self, f: IpFamily) {
        let labels = FamilyLabel { family: family(f) };
        self.udp_replies.get_or_create(&labels).inc();
    }
    fn udp_drop(&self, reason: UdpRefusal) {
        let labels = Reason {
            reason: reason.name(),
        };
        self.udp_dropped.get_or_create(&labels).inc();
    }
}

/// The registry, its event counters, and the listener `/metrics` is served on.
pub struct Metrics {
    listener: std::net::TcpListener,
    counters: Arc<Counters>,
    registry: Registry,
    active: Gauge,
    open_fds: Gauge,
}

impl Metrics {
    /// Bind the metrics listener (before the runtime starts, like the services).
    pub fn bind(addr: SocketAddr) -> io::Result<Metrics> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let counters = Arc::new(Counters::new());
        let active = Gauge::default();
        let open_fds = Gauge::default();
        let mut registry = Registry::default();
        let c = &counters;
        registry.register(
            "dualstack_connections",
            "TCP connections accepted, by service and the peer's address family",
            c.connections.clone(),
        );
        registry.register(
            "dualstack_refused",
            "TCP connections closed unanswered, by reason (limit, untrusted_proxy, bad_proxy_header, header_timeout)",
            c.refused.clone(),
        );
        registry.register(
            "dualstack_http_requests",
            "HTTP requests answered, by route, status and the client's family",
            c.requests.clone(),
        );
        registry.register(
            "dualstack_http_request_duration_seconds",
            "Time from a parsed HTTP request head to its response",
            c.durations.clone(),
        );
        registry.register(
            "dualstack_udp_replies",
            "UDP whoami replies, by the client's family",
            c.udp_replies.clone(),
        );
        registry.register(
            "dualstack_udp_dropped",
            "UDP datagrams dropped unanswered, by reason",
            c.udp_dropped.clone(),
        );
        registry.register(
            "dualstack_connections_active",
            "TCP connections open now",
            active.clone(),
        );
        registry.register(
            "process_open_fds",
            "Open file descriptors of this process",
            open_fds.clone(),
        );
        Ok(Metrics {
            listener,
            counters,
            registry,
            active,
            open_fds,
        })
    }

    /// The address scrapers connect to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The hook to put in `ServerConfig::observer`.
    pub fn observer(&self) -> Arc<dyn Observer> {
        self.counters.clone()
    }

    /// Serve `GET /metrics` until the runtime ends.
    ///
    /// # Errors
    /// The listener cannot be registered with the runtime.
    pub fn spawn(self, server: Server) -> io::Result<()> {
        let listener = TcpListener::from_std(self.listener)?;
        let state = Arc::new((self.registry, self.active, self.open_fds, server));
        let slots = Arc::new(Semaphore::new(MAX_SCRAPES));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (stream, peer) = match listener.accept().await {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::debug!(error = %e, "metrics accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let (registry, active, open_fds, server) = &*state;
                    let render = || {
                        active.set(server.active_connections() as i64);
                        open_fds.set(count_open_fds().unwrap_or(-1));
                        let mut text = String::new();
                        prometheus_client::encoding::text::encode(&mut text, registry)
                            .map(|()| text)
                    };
                    if let Err(e) = scrape(stream, render).await {
                        tracing::debug!(%peer, error = %e, "metrics scrape failed");
                    }
                    drop(permit);
                });
            }
        });
        Ok(())
    }
}

/// Open descriptors: the entries of /proc/self/fd (less the one reading it). `None`
/// where there is no /proc.
fn count_open_fds() -> Option<i64> {
    let n = std::fs::read_dir("/proc/self/fd").ok()?.count();
    Some(n.saturating_sub(1) as i64)
}

/// Answer one scrape: `GET /metrics` gets the exposition, anything else 404/405.
async fn scrape(
    mut stream: TcpStream,
    render: impl FnOnce() -> Result<String, std::fmt::Error>,
) -> io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let read = async {
        let mut buf = [0u8; 512];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        io::Result::Ok(())
    };
    tokio::time::timeout(SCRAPE_TIMEOUT, read)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no request head"))??;
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next().unwrap_or_default(), parts.next());
    let (status, ctype, body) = match (method, path) {
        (b"GET", Some(b"/metrics")) => match render() {
            Ok(text) => (
                "200 OK",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            ),
            Err(_) => (
                "500 Internal Server Error",
                "text/plain",
                "encoding failed\n".into(),
            ),
        },
        (_, Some(b"/metrics")) => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
        _ => ("404 Not Found", "text/plain", "try /metrics\n".into()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}
