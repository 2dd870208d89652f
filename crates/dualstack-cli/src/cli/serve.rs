//! `dualstack serve`: the dual-stack whoami server (line, HTTP and UDP).

use std::net::SocketAddr;
use std::time::Duration;

use dualstack::addr::{Cidr, TrustedProxies};
use dualstack::listen::{self, BindOptions, Bound, ListenAddr, ListenMode};
use dualstack::reverse::{Backend, Reverse};
use dualstack::whoami::proxy::ProxyProtocol;
use dualstack::whoami::server::{self, Server, ServerConfig, Service};

use super::connect::default_duration;
use dualstack::listen::Type;
use dualstack::whoami::udp::{self as udp_whoami, Rate, ReplyLimits};

use super::{init_tracing, runtime_with_workers, CliError, CliResult, Exit};

const LINE_PORT: u16 = 2323;
const HTTP_PORT: u16 = 8080;
const UDP_PORT: u16 = 2323;

/// Serve whoami on TCP (line protocol and HTTP) and UDP, on IPv4 and IPv6: every client
/// learns its own address, port and family and the local address it reached.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  dualstack serve                                  # line :2323, HTTP :8080, UDP :2323, both families
  dualstack serve --http 127.0.0.1:8080 --http '[::1]:8080' --line off --udp off
  dualstack serve --listen-mode dual --max-connections 500 --idle-timeout 30s
  dualstack serve --workers 1 --http 8080 --line off --udp off   # one thread, like nginx worker_processes 1
  dualstack serve --proxy-protocol --trusted-proxy 10.0.0.0/8 --http 8080
  dualstack serve --defer-accept 5s --http 8080 --line off --udp off   # nginx: listen 8080 deferred

  curl http://127.0.0.1:8080/       -> 127.0.0.1
  curl 'http://[::1]:8080/json'     -> {\"ip\":\"::1\",\"port\":50314,\"family\":\"IPv6\",\"local\":\"[::1]:8080\"}
  nc 127.0.0.1 2323                 -> ip: 127.0.0.1 / port: ... / family: IPv4 / local: ...

ADDR|PORT: a port (every family, per --listen-mode), an address with or without port
(127.0.0.1:8080, [::1]:8080, [::ffff:0.0.0.0]:8080 = IPv4 any), a host name
(localhost:8080), or `off`. Repeat the option for several.

Under systemd socket activation (LISTEN_FDS) the passed sockets are used instead: by
FileDescriptorName= (line, http, udp), else datagram = udp, stream on port 2323 = line,
other streams = http. READY=1 and STOPPING=1 are sent to NOTIFY_SOCKET.

On SIGINT/SIGTERM: stop accepting, answer requests that have already arrived (with
Connection: close), close idle connections, wait up to --shutdown-timeout. A second
signal cuts the remaining connections at once.

Exit codes: 0 after a clean shutdown; 1 nothing could be bound, or connections were cut
at shutdown; 2 bad option.")]
pub struct Args {
    /// Line (telnet) whoami: facts as CRLF lines on connect, then close.
    #[arg(long, value_name = "ADDR|PORT", default_value = "2323")]
    line: Vec<String>,
    /// HTTP whoami: GET / (address), /ip, /family, /json.
    #[arg(long, value_name = "ADDR|PORT", default_value = "8080")]
    http: Vec<String>,
    /// UDP whoami: one reply per datagram, from the address it was sent to.
    #[arg(long, value_name = "ADDR|PORT", default_value = "2323")]
    udp: Vec<String>,
    /// UDP replies per second to one source (an IPv4 address, an IPv6 /64); 1-1000000.
    #[arg(long, default_value_t = udp_whoami::DEFAULT_SOURCE_RATE, value_name = "N",
          value_parser = super::args::rate(super::args::UDP_RATE))]
    udp_source_rate: u32,
    /// UDP replies one source may get at once before its rate applies; 1-1000000.
    #[arg(long, default_value_t = udp_whoami::DEFAULT_SOURCE_BURST, value_name = "N",
          value_parser = super::args::rate(super::args::UDP_RATE))]
    udp_source_burst: u32,
    /// UDP replies per second of the whole server; 1-1000000.
    #[arg(long, default_value_t = udp_whoami::DEFAULT_GLOBAL_RATE, value_name = "N",
          value_parser = super::args::rate(super::args::UDP_RATE))]
    udp_global_rate: u32,
    /// UDP replies the whole server may send at once before its rate applies; 1-1000000.
    #[arg(long, default_value_t = udp_whoami::DEFAULT_GLOBAL_BURST, value_name = "N",
          value_parser = super::args::rate(super::args::UDP_RATE))]
    udp_global_burst: u32,
    /// How a port becomes sockets: separate (one IPv6-only socket and one IPv4 socket),
    /// dual (one IPv6 socket, IPV6_V6ONLY=0), ipv4, ipv6.
    #[arg(long, default_value_t = ListenMode::default(), value_name = "MODE")]
    listen_mode: ListenMode,
    /// SO_REUSEPORT: several processes may serve the same port.
    #[arg(long)]
    reuse_port: bool,
    /// Most open TCP connections; more are closed at once (and logged). 1 to 1000000.
    #[arg(long, default_value_t = server::MAX_CONNECTIONS, value_name = "N",
          value_parser = super::args::count(super::args::MAX_CONNECTIONS))]
    max_connections: usize,
    /// Close a connection with no I/O for this long (1ms to 1day).
    #[arg(long, default_value = default_duration(server::IDLE_TIMEOUT), value_parser = super::args::timeout, value_name = "DUR")]
    idle_timeout: Duration,
    /// An HTTP request head must arrive within this time (also ends idle keep-alive;
    /// 1ms to 1day).
    #[arg(long, default_value = default_duration(server::HEADER_TIMEOUT), value_parser = super::args::timeout, value_name = "DUR")]
    header_timeout: Duration,
    /// Accept an HTTP connection only once the client has sent data, waiting at most
    /// about this long (Linux TCP_DEFER_ACCEPT, whole seconds, like nginx's `listen ...
    /// deferred`): clients that never send cost nothing, and `Connection: close`
    /// requests are answered straight from the accept loop. 1ms to 1day.
    #[arg(long, value_parser = super::args::timeout, value_name = "DUR")]
    defer_accept: Option<Duration>,
    /// On SIGINT/SIGTERM, wait this long for in-flight connections (0 to 1day).
    #[arg(long, default_value = default_duration(server::SHUTDOWN_TIMEOUT), value_parser = super::args::shutdown_timeout, value_name = "DUR")]
    shutdown_timeout: Duration,
    /// Expect PROXY protocol v1/v2 headers from --trusted-proxy sources (required from
    /// them, rejected from everyone else); TCP services only.
    #[arg(long, requires = "trusted_proxy")]
    proxy_protocol: bool,
    /// A network whose PROXY headers are believed (repeatable), e.g. 10.0.0.0/8, ::1.
    #[arg(long, value_name = "CIDR", requires = "proxy_protocol")]
    trusted_proxy: Vec<Cidr>,
    /// Longest PROXY v2 header accepted, TLVs included (52 to 65551 bytes, the format's
    /// limit and the default).
    #[arg(long, value_name = "BYTES", requires = "proxy_protocol",
          default_value_t = dualstack::whoami::proxy::MAX_V2_HEADER,
          value_parser = super::args::count(super::args::PROXY_V2_HEADER))]
    proxy_max_header: usize,
    /// Add the client's reverse-DNS name (PTR, with a hard timeout) to TCP replies.
    #[arg(long)]
    reverse: bool,
    /// Hard timeout of one reverse lookup (1ms to 1day).
    #[arg(long, default_value = default_duration(server::REVERSE_TIMEOUT), value_parser = super::args::timeout, value_name = "DUR")]
    reverse_timeout: Duration,
    /// Threads that serve connections (default: one per CPU). With 1, everything runs
    /// on one thread (no work-stealing scheduler, no cross-thread wakeups), as nginx
    /// with `worker_processes 1`; 1 to 1024.
    #[arg(long, value_name = "N", value_parser = super::args::count(super::args::THREADS))]
    workers: Option<usize>,
    /// Logs as JSON lines on stderr (also: --json).
    #[arg(long, alias = "json")]
    json_logs: bool,
    /// Serve Prometheus metrics (OpenMetrics text) at http://ADDR/metrics, e.g.
    /// 127.0.0.1:9100.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
}

/// Parse one service's `--line/--http/--udp` values; `None` when turned off.
fn parse_specs(
    what: &str,
    values: &[String],
    default_port: u16,
) -> Result<Option<Vec<ListenAddr>>, CliError> {
    if values.iter().any(|v| v.eq_ignore_ascii_case("off")) {
        if values.len() > 1 {
            return Err(CliError::usage(format!(
                "--{what} off cannot be combined with addresses"
            )));
        }
        return Ok(None);
    }
    values
        .iter()
        .map(|v| ListenAddr::parse(v, default_port).map_err(CliError::usage))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Which service an adopted (socket-activated) socket belongs to.
fn activated_service(name: &str, b: &Bound) -> Service {
    if let Some(s) = Service::from_name(name) {
        return s;
    }
    if b.socket.r#type().ok() == Some(Type::DGRAM) {
        Service::Udp
    } else if b.local.port() == LINE_PORT {
        Service::Line
    } else {
        Service::Http
    }
}

fn log_bound(service: Service, b: &Bound, origin: &str) {
    let service = service.name();
    match b.v6only {
        Some(v6only) => tracing::info!(service, addr = %b.local, v6only, origin, "listening"),
        None => tracing::info!(service, addr = %b.local, origin, "listening"),
    }
}

pub fn run(args: Args) -> CliResult {
    init_tracing("info", args.json_logs);
    let line = parse_specs("line", &args.line, LINE_PORT)?;
    let http = parse_specs("http", &args.http, HTTP_PORT)?;
    let udp = parse_specs("udp", &args.udp, UDP_PORT)?;
    // Before the runtime starts threads: the LISTEN_* variables are removed.
    let activated = listen::from_systemd()
        .map_err(|e| CliError::failure(format!("cannot adopt socket-activated fds: {e}")))?;

    let proxy = args.proxy_protocol.then(|| {
        ProxyProtocol::new(
            args.trusted_proxy
                .iter()
                .copied()
                .collect::<TrustedProxies>(),
        )
        .with_max_v2_header(args.proxy_max_header)
    });
    let reverse = if args.reverse {
        Some(
            Reverse::new(Backend::Hickory)
                .map_err(CliError::failure)?
                .timeout(args.reverse_timeout),
        )
    } else {
        None
    };
    let cfg = ServerConfig {
        max_connections: args.max_connections,
        idle_timeout: args.idle_timeout,
        header_timeout: args.header_timeout,
        shutdown_timeout: args.shutdown_timeout,
        defer_accept: args.defer_accept,
        proxy,
        reverse,
        udp: ReplyLimits::default()
            .per_source(Rate {
                per_second: args.udp_source_rate,
                burst: args.udp_source_burst,
            })
            .global(Rate {
                per_second: args.udp_global_rate,
                burst: args.udp_global_burst,
            }),
        observer: None,
    };
    let metrics = args
        .metrics
        .map(|addr| {
            super::metrics::Metrics::bind(addr)
                .map_err(|e| CliError::failure(format!("cannot bind --metrics {addr}: {e}")))
        })
        .transpose()?;
    let cfg = ServerConfig {
        observer: metrics.as_ref().map(|m| m.observer()),
        ..cfg
    };
    let opts = BindOptions {
        mode: args.listen_mode,
        reuse_port: args.reuse_port,
        ..BindOptions::default()
    };

    // Bind everything (or adopt systemd's sockets) before the runtime: errors exit early.
    let mut sockets: Vec<(Service, Bound)> = Vec::new();
    let origin = if activated.is_empty() {
        "bind"
    } else {
        "systemd"
    };
    if !activated.is_empty() {
        for (name, b) in activated {
            sockets.push((activated_service(&name, &b), b));
        }
    } else {
        for (service, specs, ty) in [
            (Service::Line, &line, Type::STREAM),
            (Service::Http, &http, Type::STREAM),
            (Service::Udp, &udp, Type::DGRAM),
        ] {
            let Some(specs) = specs else { continue };
            let bound = listen::bind(specs, ty, &opts).map_err(CliError::failure)?;
            for b in bound.sockets {
                sockets.push((service, b));
            }
        }
    }
    if sockets.is_empty() {
        return Err(CliError::usage("every service is off: nothing to serve"));
    }

    let rt = runtime_with_workers(args.workers)?;
    rt.block_on(serve(cfg, sockets, origin, metrics))
}

async fn serve(
    cfg: ServerConfig,
    sockets: Vec<(Service, Bound)>,
    origin: &str,
    metrics: Option<super::metrics::Metrics>,
) -> CliResult {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| CliError::failure(format!("cannot handle SIGTERM: {e}")))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| CliError::failure(format!("cannot handle SIGINT: {e}")))?;
    for (service, b) in &sockets {
        log_bound(*service, b, origin);
    }
    let server = Server::new(cfg);
    let running = server
        .start(sockets)
        .map_err(|e| CliError::failure(format!("cannot start serving: {e}")))?;
    if let Some(m) = metrics {
        let addr = m.local_addr()?;
        m.spawn(server.clone())?;
        tracing::info!(service = "metrics", %addr, "listening");
    }

    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    tracing::info!(
        max_connections = server.config().max_connections,
        "ready; SIGINT or SIGTERM stops"
    );
    tokio::select! {
        _ = term.recv() => tracing::info!(signal = "SIGTERM", "signal received"),
        _ = int.recv() => tracing::info!(signal = "SIGINT", "signal received"),
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    tracing::info!(
        active = server.active_connections(),
        deadline = ?server.config().shutdown_timeout,
        "shutting down: no new connections, finishing in-flight ones (a second signal cuts them)"
    );
    let second = async {
        tokio::select! {
            _ = term.recv() => tracing::warn!(signal = "SIGTERM", "second signal: cutting connections"),
            _ = int.recv() => tracing::warn!(signal = "SIGINT", "second signal: cutting connections"),
        }
    };
    let drained = running.stop(second).await;
    if drained.cut > 0 {
        tracing::warn!(
            cut = drained.cut,
            forced = drained.forced,
            "connections cut before they finished"
        );
        return Ok(Exit::Failure);
    }
    tracing::info!("all connections finished; bye");
    Ok(Exit::Success)
}
