//! `dualstack addr`: classify and convert addresses.

use std::io::Write;

use dualstack::addr::{self, Classification};

use super::{CliResult, Exit};

/// Classify and convert IPv4/IPv6 addresses: RFC 3493 tests, IANA special-purpose
/// registry entry, embedded IPv4 (mapped, 6to4, NAT64, Teredo), global reachability,
/// reverse-DNS name.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  dualstack addr ::ffff:192.0.2.1 2001:db8::1 '[fe80::1%lo]:80'
  dualstack addr --json 2001:0:4136:e378:8000:63bf:3fff:fdd2

Bad addresses are reported on stderr; the others are still printed; exit code 2.")]
pub struct Args {
    /// Addresses: IPv4, IPv6, with optional zone (fe80::1%lo), brackets and port.
    #[arg(required = true, value_name = "ADDR")]
    addrs: Vec<String>,
    /// One JSON object per address, one per line.
    #[arg(long)]
    json: bool,
}

/// One address as reported: what was typed, how it reads canonically, and its class.
#[derive(Debug, serde::Serialize)]
struct Report<'a> {
    input: &'a str,
    canonical: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    zone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(flatten)]
    class: Classification,
}

pub fn run(args: Args) -> CliResult {
    let mut out = std::io::stdout().lock();
    let mut exit = Exit::Success;
    for input in &args.addrs {
        let parsed = match addr::parse(input) {
            Ok(p) => p,
            Err(e) => {
                super::warn(e);
                exit = Exit::Usage;
                continue;
            }
        };
        let report = Report {
            input,
            canonical: parsed.to_string(),
            zone: parsed.zone.as_deref(),
            port: parsed.port,
            class: addr::classify(parsed.ip),
        };
        if args.json {
            serde_json::to_writer(&mut out, &report).map_err(std::io::Error::from)?;
            writeln!(out)?;
        } else {
            write_human(&mut out, &report)?;
        }
    }
    out.flush()?;
    Ok(exit)
}

fn write_human(out: &mut impl Write, r: &Report<'_>) -> std::io::Result<()> {
    let c = &r.class;
    writeln!(out, "{}", r.canonical)?;
    let classes: Vec<String> = c.classes.iter().map(|k| k.name()).collect();
    writeln!(out, "  family      {}", c.family)?;
    writeln!(out, "  classes     {}", classes.join(", "))?;
    if let (Some(name), Some(rfc)) = (c.registry, c.rfc) {
        writeln!(out, "  registry    {name} ({rfc})")?;
    }
    let reach = if c.globally_reachable { "yes" } else { "no" };
    writeln!(out, "  global      {reach}")?;
    if let Some(e) = &c.embedded_ipv4 {
        let how = serde_json::to_value(e.how).ok();
        let how = how.as_ref().and_then(|v| v.as_str()).unwrap_or("");
        writeln!(out, "  ipv4        {} ({how})", e.address)?;
    }
    if let Some(t) = &c.teredo {
        writeln!(
            out,
            "  teredo      server {}, client {} port {}, flags {:#06x}",
            t.server, t.client, t.port, t.flags
        )?;
    }
    if let Some(m) = &c.mapped {
        writeln!(out, "  mapped      {m}")?;
    }
    writeln!(out, "  reverse     {}", c.reverse_name)
}
