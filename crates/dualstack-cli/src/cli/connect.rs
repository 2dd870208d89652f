//! `dualstack connect` and `dualstack resolve`, plus [`ConnectOpts`], the connect options
//! other subcommands (`smtp`, `probe`) flatten into theirs so every command that connects
//! takes the same flags and prints the same timeline.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dualstack::addr::Family;
use dualstack::connect::quic::Transport;
use dualstack::connect::{
    ConnectError, Connection, Connector, Event, HickoryResolver, OutcomeCache, Protocol, Resolve,
    SystemResolver, DEFAULT_ATTEMPT_DELAY, DEFAULT_FIRST_FAMILY_COUNT, DEFAULT_MIN_ATTEMPT_DELAY,
    DEFAULT_PREFER, DEFAULT_RESOLUTION_DELAY, DEFAULT_TIMEOUT,
};
use serde::Serialize;

use super::{args, runtime, CliError, CliResult, Exit};

/// Which resolver `--resolver` picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ResolverKind {
    /// hickory-resolver: AAAA and A sent concurrently, each answer used as it arrives.
    Hickory,
    /// The C library's getaddrinfo (both answers arrive together).
    System,
}

/// A library default as the CLI writes durations (`250ms`, `10s`), for clap's help.
pub(super) fn default_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// A measured time as the library's timeline writes it (`0.412 ms`, `250 ms`).
pub(super) fn fmt_duration(d: Duration) -> String {
    dualstack::connect::Millis(d).to_string()
}

fn parse_family(s: &str) -> Result<Family, String> {
    match s.to_ascii_lowercase().as_str() {
        "ipv4" | "4" | "v4" | "inet" => Ok(Family::V4),
        "ipv6" | "6" | "v6" | "inet6" => Ok(Family::V6),
        _ => Err(format!("unknown family {s:?} (use ipv4 or ipv6)")),
    }
}

fn parse_source(s: &str) -> Result<IpAddr, String> {
    let p = dualstack::addr::parse(s).map_err(|e| e.to_string())?;
    if p.port.is_some() {
        return Err(format!("{s:?}: give the source address without a port"));
    }
    Ok(p.ip)
}

/// Every option of a Happy Eyeballs connect. Flatten it into a subcommand with
/// `#[command(flatten)]`, build the connector with [`ConnectOpts::connector`] and show
/// the timeline with [`ConnectOpts::print_trace`].
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectOpts {
    /// Use IPv4 only (send only the A query).
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Use IPv6 only (send only the AAAA query).
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Family to try first when there is no history [default: ipv6].
    #[arg(long, value_name = "ipv4|ipv6", value_parser = parse_family)]
    pub prefer: Option<Family>,
    /// Connection Attempt Delay before the next address is tried (RFC 8305 §5; 10ms to 2s).
    #[arg(long, value_name = "DUR", value_parser = args::attempt_delay, default_value = default_duration(DEFAULT_ATTEMPT_DELAY))]
    pub attempt_delay: Duration,
    /// How long to wait for AAAA when A answers first (RFC 8305 §3; 0 to 2s).
    #[arg(long, value_name = "DUR", value_parser = args::resolution_delay, default_value = default_duration(DEFAULT_RESOLUTION_DELAY))]
    pub resolution_delay: Duration,
    /// Preferred-family addresses tried before the first of the other family (RFC 8305 §4;
    /// 1 to 64).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FIRST_FAMILY_COUNT, value_parser = args::count(args::FIRST_FAMILY_COUNT))]
    pub first_family_count: usize,
    /// Overall timeout, DNS included (1ms to 1day).
    #[arg(long, value_name = "DUR", value_parser = args::timeout, default_value = default_duration(DEFAULT_TIMEOUT))]
    pub timeout: Duration,
    /// Bind to this local address (only destinations of its family are tried).
    #[arg(long, value_name = "ADDR", value_parser = parse_source)]
    pub source: Option<IpAddr>,
    /// Classic behaviour for comparison: wait for both answers, then one address at a time.
    #[arg(long)]
    pub serial: bool,
    /// Resolver: hickory (concurrent AAAA/A, default) or system (getaddrinfo).
    #[arg(long, value_enum, default_value_t = ResolverKind::Hickory)]
    pub resolver: ResolverKind,
    /// Ask this DNS server (IP:PORT, repeatable) instead of /etc/resolv.conf (hickory only).
    #[arg(long, value_name = "IP:PORT")]
    pub dns_server: Vec<SocketAddr>,
    /// Do not remember outcomes between connects of this process.
    #[arg(long)]
    pub no_cache: bool,
    /// Keep the outcome cache and the RTT per network in FILE across runs (read at start,
    /// written atomically after the connect); a bad file is ignored with a warning.
    #[arg(long, value_name = "FILE", conflicts_with = "no_cache")]
    pub history: Option<std::path::PathBuf>,
    /// Floor of the attempt delay computed from a network's RTT (2 × RTT), the Minimum
    /// Connection Attempt Delay (10ms to 2s).
    #[arg(long, value_name = "DUR", value_parser = args::attempt_delay, default_value = default_duration(DEFAULT_MIN_ATTEMPT_DELAY))]
    pub min_attempt_delay: Duration,
    /// Always use --attempt-delay, never one computed from RTT history.
    #[arg(long)]
    pub no_rtt_delay: bool,
    /// Also ask for HTTPS records (RFC 9460): use their address hints and port, show
    /// their ALPN/ECH (draft-ietf-happy-happyeyeballs-v3-04).
    #[arg(long)]
    pub svcb: bool,
    /// Do not translate IPv4 literals through NAT64 when there is no IPv4 route.
    #[arg(long)]
    pub no_nat64: bool,
    /// Print the timeline of every step with millisecond offsets (stderr).
    #[arg(long)]
    pub trace: bool,
    /// Machine-readable output (JSON).
    #[arg(long)]
    pub json: bool,
}

/// The outcome cache shared by every connect of this process (on unless `--no-cache`).
fn process_cache() -> Arc<OutcomeCache> {
    static CACHE: OnceLock<Arc<OutcomeCache>> = OnceLock::new();
    CACHE.get_or_init(|| Arc::new(OutcomeCache::new())).clone()
}

impl ConnectOpts {
    /// The family restriction from `-4`/`-6`.
    pub fn family(&self) -> Option<Family> {
        match (self.ipv4, self.ipv6) {
            (true, _) => Some(Family::V4),
            (_, true) => Some(Family::V6),
            _ => None,
        }
    }

    /// Build the connector these options describe.
    ///
    /// # Errors
    /// A usage error for contradictory options (`--dns-server` with `--resolver system`).
    pub fn connector(&self) -> Result<Connector, CliError> {
        let resolver: Arc<dyn Resolve> =
            match (self.resolver, self.dns_server.is_empty()) {
                (ResolverKind::Hickory, true) => Arc::new(HickoryResolver::system()),
                (ResolverKind::Hickory, false) => Arc::new(
                    HickoryResolver::with_name_servers(&self.dns_server)
                        .hosts_file(Some("/etc/hosts".into())),
                ),
                (ResolverKind::System, true) => Arc::new(SystemResolver),
                (ResolverKind::System, false) => return Err(CliError::usage(
                    "--dns-server needs the hickory resolver (getaddrinfo reads /etc/resolv.conf)",
                )),
            };
        if self.first_family_count == 0 {
            return Err(CliError::usage("--first-family-count must be at least 1"));
        }
        // args::attempt_delay admits only RFC 8305 §5's range: the connector's clamp never
        // changes the value given.
        let c = Connector::new()
            .attempt_delay(self.attempt_delay)
            .resolution_delay(self.resolution_delay)
            .first_address_family_count(self.first_family_count)
            .prefer(self.prefer.unwrap_or(DEFAULT_PREFER))
            .family(self.family())
            .source(self.source)
            .timeout(self.timeout)
            .serial(self.serial)
            .nat64(!self.no_nat64)
            .min_attempt_delay(self.min_attempt_delay)
            .rtt_attempt_delay(!self.no_rtt_delay)
            .svcb(self.svcb)
            .resolver(resolver)
            .cache((!self.no_cache).then(process_cache));
        if let Some(path) = &self.history {
            if let Err(e) = process_cache().load(path) {
                eprintln!("dualstack: warning: {e}");
            }
        }
        Ok(c)
    }

    /// With `--history FILE`, write the process's outcome cache and RTTs to FILE
    /// (atomically); a failure is a warning.
    pub fn save_history(&self) {
        if let Some(path) = &self.history {
            if let Err(e) = process_cache().save(path) {
                eprintln!(
                    "dualstack: warning: cannot write history file {}: {e}",
                    path.display()
                );
            }
        }
    }

    /// With `--trace`, print the timeline on stderr, one step per line with its offset.
    pub fn print_trace(&self, events: &[Event]) {
        if !self.trace {
            return;
        }
        let mut err = std::io::stderr().lock();
        for e in events {
            let _ = writeln!(err, "{e}");
        }
    }
}

/// Connect to HOST PORT with Happy Eyeballs (RFC 8305), then relay stdin ↔ socket.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  dualstack connect -z --trace example.com 443     # connect, show every step, close
  printf 'HEAD / HTTP/1.0\\r\\n\\r\\n' | dualstack connect example.com 80
  dualstack connect -z --repeat 5 --json localhost 22
  dualstack connect -z --svcb --quic --trace example.com 443   # race QUIC (h3) and TCP

The winner, its family and the connect time go to stderr; with -z and --json a JSON
report goes to stdout. Exit 0 connected, 1 every address failed, 2 bad input.")]
pub struct Args {
    /// Host name or IP literal (2001:db8::1, [2001:db8::1], fe80::1%eth0, 192.0.2.1).
    #[arg(value_parser = args::host)]
    pub host: String,
    /// TCP port.
    #[arg(value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// Only connect and report, then close (exit 0 on success, 1 on failure).
    #[arg(short = 'z', long)]
    pub probe: bool,
    /// Connect this many times in this process, one after another (implies -z), and report
    /// each time: shows what the outcome cache does for repeated connects.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub repeat: u32,
    #[command(flatten)]
    pub opts: ConnectOpts,
    #[command(flatten)]
    pub quic: super::quic::QuicOpts,
}

/// Look up HOST like `connect` would: A and AAAA with response times, and the try order.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  dualstack resolve example.com
  dualstack resolve --json --resolver system localhost")]
pub struct ResolveArgs {
    /// Host name or IP literal.
    #[arg(value_parser = args::host)]
    pub host: String,
    /// The port a connect would use: its history (outcome cache) applies.
    #[arg(value_parser = clap::value_parser!(u16))]
    pub port: Option<u16>,
    #[command(flatten)]
    pub opts: ConnectOpts,
}

#[derive(Serialize)]
struct Report<'a> {
    host: &'a str,
    port: u16,
    peer: SocketAddr,
    local: SocketAddr,
    family: Family,
    protocol: Protocol,
    #[serde(skip_serializing_if = "Option::is_none")]
    alpn: Option<&'a str>,
    #[serde(rename = "elapsed_ms")]
    elapsed_ms: f64,
    events: &'a [Event],
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a dualstack::connect::svcb::ServiceRecord>,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn report_json(host: &str, port: u16, c: &Connection<Transport>) -> String {
    serde_json::to_string(&Report {
        host,
        port,
        peer: c.peer,
        local: c.local,
        family: c.family(),
        protocol: c.protocol,
        alpn: c.stream.alpn(),
        elapsed_ms: ms(c.elapsed),
        events: &c.events,
        service: c.service.as_ref(),
    })
    .expect("report serializes")
}

fn human_line(c: &Connection<Transport>) -> String {
    let mut line = format!(
        "connected to {} ({}) in {} from {} over {}",
        c.peer,
        c.family(),
        fmt_duration(c.elapsed),
        c.local,
        c.stream
    );
    if let Some(s) = &c.service {
        line.push_str(&format!(
            " (HTTPS record: ALPN {}",
            s.https_alpn().join(",")
        ));
        line.push_str(if s.ech { ", ECH offered)" } else { ")" });
    }
    line
}

fn fail(opts: &ConnectOpts, e: ConnectError, json_to_stdout: bool) -> CliError {
    opts.print_trace(&e.events);
    if opts.json && json_to_stdout {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{}",
            serde_json::json!({ "error": e.to_string(), "details": e })
        );
    }
    CliError::failure(e)
}

/// `dualstack connect`.
pub fn run(args: Args) -> CliResult {
    args.quic.check()?;
    let connector = args.opts.connector()?.alpn(args.quic.alpn.clone());
    let tls = match args.quic.racing() {
        true => Some(args.quic.tls()?),
        false => None,
    };
    let rt = runtime()?;
    let probe = args.probe || args.repeat > 1;
    let result = rt.block_on(async {
        let dial = Dial {
            args: &args,
            connector: &connector,
            tls,
        };
        if probe {
            probe_run(&dial).await
        } else {
            relay_run(&dial).await
        }
    });
    // stdin is read on a blocking thread that may still wait for input: do not wait for it.
    rt.shutdown_background();
    args.opts.save_history();
    result
}

/// One connect as the flags ask: TCP only, or QUIC raced against TCP.
struct Dial<'a> {
    args: &'a Args,
    connector: &'a Connector,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Dial<'_> {
    async fn connect(&self) -> Result<Connection<Transport>, ConnectError> {
        let (host, port) = (&self.args.host, self.args.port);
        match &self.tls {
            Some(tls) => self.connector.connect_racing(host, port, tls.clone()).await,
            None => Ok(self
                .connector
                .connect(host, port)
                .await?
                .map(Transport::Tcp)),
        }
    }
}

async fn probe_run(dial: &Dial<'_>) -> CliResult {
    let args = dial.args;
    let mut times = Vec::new();
    for i in 0..args.repeat {
        let conn = match dial.connect().await {
            Ok(c) => c,
            Err(e) => return Err(fail(&args.opts, e, true)),
        };
        args.opts.print_trace(&conn.events);
        if args.opts.json {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", report_json(&args.host, args.port, &conn))?;
        }
        if args.repeat > 1 {
            eprintln!("#{:<4} {}", i + 1, human_line(&conn));
        } else {
            eprintln!("{}", human_line(&conn));
        }
        times.push(conn.elapsed);
    }
    if times.len() > 1 {
        let first = times[0];
        times.sort();
        let median = times[times.len() / 2];
        eprintln!(
            "{} connects: first {}, min {}, median {}, max {}",
            times.len(),
            fmt_duration(first),
            fmt_duration(times[0]),
            fmt_duration(median),
            fmt_duration(times[times.len() - 1])
        );
    }
    Ok(Exit::Success)
}

async fn relay_run(dial: &Dial<'_>) -> CliResult {
    use tokio::io::AsyncWriteExt;
    let args = dial.args;
    let conn = match dial.connect().await {
        Ok(c) => c,
        Err(e) => return Err(fail(&args.opts, e, false)),
    };
    // The relay may run long: keep what this connect taught before it starts.
    args.opts.save_history();
    args.opts.print_trace(&conn.events);
    if args.opts.json {
        // stdout carries the relayed data: the report goes to stderr.
        eprintln!("{}", report_json(&args.host, args.port, &conn));
    } else {
        eprintln!("{}", human_line(&conn));
    }
    let stream = match conn.stream {
        Transport::Tcp(s) => s,
        Transport::Quic(q) => return super::quic::relay(q).await,
    };
    let (mut rd, mut wr) = stream.into_split();
    let upload = tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let r = tokio::io::copy(&mut stdin, &mut wr).await;
        // Half-close: the peer sees EOF and can finish its answer.
        let _ = wr.shutdown().await;
        r
    });
    let mut stdout = tokio::io::stdout();
    let copied = tokio::io::copy(&mut rd, &mut stdout).await;
    let flushed = stdout.flush().await;
    upload.abort();
    copied?;
    flushed?;
    Ok(Exit::Success)
}

#[derive(Serialize)]
struct ResolveReport<'a> {
    #[serde(flatten)]
    resolution: &'a dualstack::connect::Resolution,
}

/// `dualstack resolve`.
pub fn run_resolve(args: ResolveArgs) -> CliResult {
    let connector = args.opts.connector()?;
    let rt = runtime()?;
    // HTTPS records are named per port (RFC 9460 §9.1): without one, ask as for 443.
    let default_port = if args.opts.svcb { 443 } else { 0 };
    let res = rt.block_on(connector.resolve_all(&args.host, args.port.unwrap_or(default_port)));
    rt.shutdown_background();
    args.opts.save_history();
    let res = match res {
        Ok(r) => r,
        Err(e) => return Err(fail(&args.opts, e, true)),
    };
    args.opts.print_trace(&res.events);
    let mut out = std::io::stdout().lock();
    if args.opts.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string(&ResolveReport { resolution: &res }).expect("serializes")
        )?;
    } else if res.literal {
        writeln!(out, "{}: IP literal, no DNS", res.host)?;
        writeln!(out, "  try order: {}", res.order[0])?;
    } else {
        writeln!(out, "{}", res.host)?;
        for a in &res.answers {
            let q = match a.family {
                Family::V6 => "AAAA",
                Family::V4 => "A",
            };
            let time = a
                .elapsed
                .map(fmt_duration)
                .unwrap_or_else(|| "no answer".into());
            let what = match &a.error {
                Some(e) => e.clone(),
                None => a
                    .addrs
                    .iter()
                    .map(|ip| ip.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            writeln!(out, "  {q:<4} {time:>10}  {what}")?;
        }
        if let Some(h) = &res.https {
            let time = fmt_duration(h.elapsed);
            let what = match (&h.error, h.services.is_empty()) {
                (Some(e), _) => e.clone(),
                (None, true) => "no service".into(),
                (None, false) => String::new(),
            };
            writeln!(out, "  HTTPS {time:>9}  {} {what}", h.chain.join(" -> "))?;
            for s in &h.services {
                writeln!(out, "                    {s}")?;
            }
        }
        let order: Vec<String> = res.order.iter().map(|ip| ip.to_string()).collect();
        if order.is_empty() {
            writeln!(out, "  try order: (none)")?;
        } else {
            writeln!(out, "  try order: {}", order.join(", "))?;
        }
    }
    Ok(if res.order.is_empty() {
        Exit::Failure
    } else {
        Exit::Success
    })
}
