//! `dualstack reverse`: address → name, concurrently, never longer than the timeout.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use dualstack::addr;
use dualstack::reverse::{Backend, Reverse, ReverseError};

use super::connect::fmt_duration;
use super::{CliError, CliResult, Exit};

/// Reverse DNS (PTR) lookups with a hard timeout. Each address prints on one line:
/// the address, then its name — or the numeric address again when there is no name,
/// with the reason.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  dualstack reverse 192.0.2.1 2001:db8::1 ::ffff:198.51.100.7
  dualstack reverse --verify --timeout 500ms --dns-server 127.0.0.1:5353 192.0.2.1
  dualstack reverse --resolver system --name-required --json 127.0.0.1

Output columns: address, name (or the address again), note.
Exit codes: 0 printed (names or numeric addresses); 1 with --name-required when an
address got no (confirmed) name; 2 bad address or option.")]
pub struct Args {
    /// Addresses to look up (IPv4, IPv6, mapped; brackets, zone and port are ignored).
    #[arg(required = true, value_name = "ADDR")]
    addrs: Vec<String>,
    /// Hard timeout per address, forward confirmation included (1ms to 1day).
    #[arg(long, default_value = super::connect::default_duration(dualstack::reverse::DEFAULT_TIMEOUT),
          value_parser = super::args::timeout, value_name = "DUR")]
    timeout: Duration,
    /// Forward-confirm each name: its A/AAAA records must contain the address.
    #[arg(long)]
    verify: bool,
    /// Exit 1 (with the reason on stderr) if any address gets no (confirmed) name.
    #[arg(long)]
    name_required: bool,
    /// hickory: our own DNS queries (default); system: getnameinfo(3) on a bounded
    /// thread pool (honours /etc/hosts and nsswitch.conf).
    #[arg(long, default_value = "hickory", value_name = "hickory|system")]
    resolver: Backend,
    /// Ask this DNS server instead of /etc/resolv.conf's (repeatable; port defaults
    /// to 53). Only with the hickory resolver.
    #[arg(long, visible_alias = "nameserver", value_name = "IP[:PORT]")]
    dns_server: Vec<String>,
    /// For --resolver system: the most blocking threads at once (abandoned ones included;
    /// 1 to 1024).
    #[arg(long, default_value_t = dualstack::reverse::DEFAULT_SYSTEM_THREADS, value_name = "N",
          value_parser = super::args::count(super::args::THREADS))]
    threads: usize,
    /// One JSON object per address, one per line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, serde::Serialize)]
struct Report<'a> {
    input: &'a str,
    address: IpAddr,
    /// The name, or null when there is none (or it was not confirmed).
    name: Option<&'a str>,
    /// What is printed for this address: the name or the numeric address.
    display: String,
    /// `Some(true)` when --verify confirmed the name.
    #[serde(skip_serializing_if = "Option::is_none")]
    verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_kind: Option<&'static str>,
    /// The PTR name that failed forward confirmation.
    #[serde(skip_serializing_if = "Option::is_none")]
    unconfirmed_name: Option<&'a str>,
    elapsed_ms: f64,
    resolver: Backend,
}

pub fn run(args: Args) -> CliResult {
    let mut ips = Vec::with_capacity(args.addrs.len());
    for input in &args.addrs {
        let parsed = addr::parse(input).map_err(CliError::usage)?;
        ips.push(parsed.ip);
    }
    let servers = args
        .dns_server
        .iter()
        .map(|s| parse_server(s))
        .collect::<Result<Vec<_>, _>>()?;
    if !servers.is_empty() && args.resolver == Backend::System {
        return Err(CliError::usage(
            "--dns-server needs --resolver hickory (the system resolver uses /etc/resolv.conf)",
        ));
    }
    if args.threads == 0 {
        return Err(CliError::usage("--threads must be at least 1"));
    }

    let rt = super::runtime()?;
    let results = rt.block_on(async {
        let reverse = if servers.is_empty() {
            Reverse::new(args.resolver)
        } else {
            Reverse::with_name_servers(&servers)
        }
        .map_err(CliError::failure)?
        .timeout(args.timeout)
        .verify(args.verify)
        .system_threads(args.threads);
        let timed = ips.iter().map(|&ip| {
            let reverse = &reverse;
            async move {
                let start = Instant::now();
                let res = reverse.lookup(ip).await;
                (res, start.elapsed())
            }
        });
        Ok::<_, CliError>(futures_util::future::join_all(timed).await)
    })?;
    // Abandoned getnameinfo threads must not keep the process alive: the runtime is
    // dropped without waiting, and `main` returning ends the process.
    rt.shutdown_background();

    let mut out = std::io::stdout().lock();
    let mut exit = Exit::Success;
    for ((input, &ip), (res, elapsed)) in args.addrs.iter().zip(&ips).zip(&results) {
        let ip = addr::unmap(ip);
        let report = report(input, ip, res, *elapsed, args.verify, args.resolver);
        if let Err(e) = res {
            if args.name_required {
                super::warn(e);
                exit = Exit::Failure;
            }
        }
        if args.json {
            serde_json::to_writer(&mut out, &report).map_err(std::io::Error::from)?;
            writeln!(out)?;
        } else {
            let note = match (res, args.verify) {
                (Ok(_), true) => "  forward-confirmed".to_string(),
                (Ok(_), false) => String::new(),
                (Err(e), _) => format!("  {}", note(e)),
            };
            writeln!(out, "{ip}  {}{note}", report.display)?;
        }
    }
    Ok(exit)
}

fn report<'a>(
    input: &'a str,
    ip: IpAddr,
    res: &'a Result<String, ReverseError>,
    elapsed: Duration,
    verify: bool,
    resolver: Backend,
) -> Report<'a> {
    let (name, error) = match res {
        Ok(n) => (Some(n.as_str()), None),
        Err(e) => (None, Some(e)),
    };
    Report {
        input,
        address: ip,
        name,
        display: name.map_or_else(|| ip.to_string(), str::to_owned),
        verified: match (verify, res) {
            (false, _) => None,
            (true, Ok(_)) => Some(true),
            (true, Err(ReverseError::NotConfirmed { .. })) => Some(false),
            (true, Err(_)) => None,
        },
        error: error.map(|e| e.to_string()),
        error_kind: error.map(ReverseError::kind),
        unconfirmed_name: match error {
            Some(ReverseError::NotConfirmed { name, .. }) => Some(name.as_str()),
            _ => None,
        },
        elapsed_ms: (elapsed.as_secs_f64() * 1e6).round() / 1e3,
        resolver,
    }
}

/// The short human note after a numeric fallback.
fn note(e: &ReverseError) -> String {
    match e {
        ReverseError::NotFound { nxdomain: true, .. } => "no name (NXDOMAIN)".into(),
        ReverseError::NotFound { .. } => "no name (no PTR record)".into(),
        ReverseError::Timeout { timeout, .. } => {
            format!("no name (timed out after {})", fmt_duration(*timeout))
        }
        ReverseError::NotConfirmed { name, .. } => {
            format!("not confirmed: {name} does not resolve back")
        }
        other => format!("no name ({other})"),
    }
}

fn parse_server(s: &str) -> Result<SocketAddr, CliError> {
    let parsed = addr::parse(s).map_err(CliError::usage)?;
    Ok(SocketAddr::new(parsed.ip, parsed.port.unwrap_or(53)))
}
