//! `dualstack smtp`: connect, greet, (STARTTLS,) QUIT, and show every line.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use dualstack::addr::Family;
use dualstack::connect::Event;
use dualstack::smtp::{
    address_literal, local_hostname, Client, ProbeError, Report, DEFAULT_DIALOGUE_TIMEOUT,
    DEFAULT_REPLY_TIMEOUT,
};
use serde::Serialize;

use super::connect::{default_duration, ConnectOpts};
use super::{args, runtime, CliError, CliResult, Exit};

/// Talk SMTP to a server: greeting, EHLO (HELO fallback), optional STARTTLS, QUIT.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  dualstack smtp 127.0.0.1 2525
  dualstack smtp mx.example.org --starttls
  dualstack smtp ::1 2525 --ehlo-literal --json
  dualstack smtp -4 --trace localhost 2525

Exit status 0 when the whole dialogue worked (QUIT answered 221), 1 on any failure.")]
pub struct Args {
    /// Server host name or IP literal (2001:db8::1, [2001:db8::1], 192.0.2.1).
    #[arg(value_parser = args::host)]
    host: String,
    /// Server port.
    #[arg(default_value_t = 25)]
    port: u16,
    /// The EHLO name (default: this machine's host name, or the address literal if the
    /// host name is not a valid domain).
    #[arg(long, value_name = "NAME", conflicts_with = "ehlo_literal")]
    ehlo: Option<String>,
    /// Greet with the local address used, as an RFC 5321 address literal:
    /// [192.0.2.1] or [IPv6:2001:db8::1].
    #[arg(long)]
    ehlo_literal: bool,
    /// Upgrade to TLS with STARTTLS after EHLO, then EHLO again.
    #[arg(long)]
    starttls: bool,
    /// With --starttls: accept any certificate (for tests against self-signed servers).
    #[arg(long, requires = "starttls")]
    insecure: bool,
    /// Time to wait for the greeting and for each reply (RFC 5321 says 5 minutes; a
    /// test tool should not; 1ms to 1day).
    #[arg(long, value_name = "DURATION", default_value = default_duration(DEFAULT_REPLY_TIMEOUT),
          value_parser = args::timeout)]
    reply_timeout: Duration,
    /// Limit for the whole dialogue, after the connect (1ms to 1day).
    #[arg(long, value_name = "DURATION", default_value = default_duration(DEFAULT_DIALOGUE_TIMEOUT),
          value_parser = args::timeout)]
    dialogue_timeout: Duration,
    /// Longest reply line accepted, in bytes (1 to 16 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = dualstack::lines::DEFAULT_MAX_LINE,
          value_parser = args::count(args::MAX_LINE))]
    max_line: usize,
    /// How to connect (Happy Eyeballs, RFC 8305). With --json, one JSON summary is
    /// printed instead of the live transcript.
    #[command(flatten)]
    connect: ConnectOpts,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    host: &'a str,
    port: u16,
    address: SocketAddr,
    family: Family,
    local_address: SocketAddr,
    connect_ms: f64,
    connect_events: &'a [Event],
    ehlo_name: &'a str,
    ok: bool,
    error: Option<String>,
    #[serde(flatten)]
    report: &'a Report,
}

pub fn run(args: Args) -> CliResult {
    runtime()?.block_on(run_async(args))
}

async fn run_async(args: Args) -> CliResult {
    if let Some(name) = &args.ehlo {
        if name.is_empty()
            || name
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(CliError::usage(format!(
                "invalid --ehlo name {name:?}: no spaces or control characters"
            )));
        }
    }
    let opts = &args.connect;
    let connector = opts.connector()?;
    let start = tokio::time::Instant::now();
    let conn = match connector.connect(&args.host, args.port).await {
        Ok(conn) => conn,
        Err(e) => {
            opts.print_trace(&e.events);
            if opts.json {
                let mut out = std::io::stdout().lock();
                let json = serde_json::json!({
                    "host": args.host, "port": args.port, "ok": false,
                    "error": e.to_string(), "connect": e,
                });
                writeln!(out, "{json}")?;
            }
            return Err(CliError::failure(e));
        }
    };
    opts.print_trace(&conn.events);
    let (peer, local, family, connect_time) = (conn.peer, conn.local, conn.family(), conn.elapsed);
    let stream = conn.stream;

    let ehlo_name = match (&args.ehlo, args.ehlo_literal) {
        (Some(name), _) => name.clone(),
        (None, true) => address_literal(local.ip()),
        (None, false) => local_hostname().unwrap_or_else(|| address_literal(local.ip())),
    };

    let mut client = Client::new(ehlo_name.clone())
        .greeting_timeout(args.reply_timeout)
        .reply_timeout(args.reply_timeout)
        .dialogue_timeout(args.dialogue_timeout)
        .max_line_length(args.max_line)
        .started_at(start);
    if args.starttls {
        client = client.starttls(if args.insecure {
            dualstack::smtp::StartTls::insecure()
        } else {
            // An IP literal (maybe in brackets) is verified as an IP address.
            let name = dualstack::addr::parse(&args.host)
                .map(|p| p.ip.to_string())
                .unwrap_or_else(|_| args.host.clone());
            dualstack::smtp::StartTls::webpki(&name).map_err(|e| {
                CliError::usage(format!(
                    "cannot use {:?} as a TLS server name: {e}",
                    args.host
                ))
            })?
        });
    }
    if !opts.json {
        println!(
            "connected to {peer} ({family}) from {local} in {:.1} ms",
            connect_time.as_secs_f64() * 1000.0
        );
        client = client.observer(|entry| {
            // A closed stdout is noticed at the end; the dialogue goes on either way.
            let _ = writeln!(std::io::stdout().lock(), "{entry}");
        });
    }

    let (report, error) = match client.probe(stream).await {
        Ok(report) => (report, None),
        Err(ProbeError { error, report }) => (*report, Some(error)),
    };

    if opts.json {
        let out = JsonOut {
            host: &args.host,
            port: args.port,
            address: peer,
            family,
            local_address: local,
            connect_ms: (connect_time.as_secs_f64() * 1e6).round() / 1e3,
            connect_events: &conn.events,
            ehlo_name: &ehlo_name,
            ok: error.is_none(),
            error: error.as_ref().map(|e| e_to_string(e)),
            report: &report,
        };
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer(&mut stdout, &out).map_err(std::io::Error::from)?;
        writeln!(stdout)?;
    } else {
        let mut stdout = std::io::stdout().lock();
        if let Some(caps) = &report.capabilities {
            let mut list = Vec::new();
            if let Some(size) = caps.size {
                list.push(format!("SIZE {size}"));
            }
            for (on, name) in [
                (caps.starttls, "STARTTLS"),
                (caps.pipelining, "PIPELINING"),
                (caps.eight_bit_mime, "8BITMIME"),
                (caps.smtputf8, "SMTPUTF8"),
            ] {
                if on {
                    list.push(name.to_string());
                }
            }
            if !caps.auth.is_empty() {
                list.push(format!("AUTH {}", caps.auth.join(" ")));
            }
            list.extend(caps.other.iter().cloned());
            writeln!(stdout, "capabilities: {}", list.join(", "))?;
        } else if let Some(hello) = &report.hello {
            writeln!(stdout, "capabilities: none ({} only)", hello.command)?;
        }
        if let Some(tls) = &report.tls {
            writeln!(
                stdout,
                "tls: {} {}{}",
                tls.version,
                tls.cipher,
                if tls.verified {
                    ""
                } else {
                    " (certificate not verified: --insecure)"
                }
            )?;
        }
        if let Some(total) = report.timings.total {
            writeln!(
                stdout,
                "{} in {:.1} ms",
                if error.is_none() {
                    "dialogue complete"
                } else {
                    "dialogue failed"
                },
                total.as_secs_f64() * 1000.0
            )?;
        }
    }

    match error {
        None => Ok(Exit::Success),
        Some(e) => {
            let mut msg = e_to_string(&e);
            // The error names the reply when a reply was the problem; otherwise show the
            // last one so the user sees where the dialogue stood.
            if !matches!(e, dualstack::smtp::SmtpError::Unexpected { .. }) {
                if let Some(last) = &report.last_reply {
                    msg.push_str(&format!(" (last reply: {last})"));
                }
            }
            Err(CliError::failure(msg))
        }
    }
}

/// The error and its causes, joined with ": ".
fn e_to_string(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}
