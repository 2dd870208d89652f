//! `dualstack probe`: this host's dual-stack state and what it means, in plain words.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use dualstack::addr::Family;
use dualstack::connect::Event;
use dualstack::probe::{self, Audience, Check, ProbeOptions, Report, Route};
use serde::Serialize;

use super::connect::{fmt_duration, ConnectOpts};
use super::{runtime, CliError, CliResult, Exit};

/// Report this host's dual-stack state: socket support, bindv6only, disable_ipv6, dual
/// sockets, default routes, addresses by scope, loopback, resolver configuration, and
/// what that means for servers and clients. Sends nothing off the host unless --target.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  dualstack probe
  dualstack probe --json | jq .dual_socket
  dualstack probe --target example.com 443 --trace

Without --target nothing leaves the host: only loopback connections are made.
Exit 0, or 1 when the --target connect fails.")]
pub struct Args {
    /// Also connect to HOST PORT through the Happy Eyeballs connector and report it.
    #[arg(long, num_args = 2, value_names = ["HOST", "PORT"])]
    target: Option<Vec<String>>,
    /// Connect options for --target (and --json for the whole report).
    #[command(flatten)]
    opts: ConnectOpts,
}

/// The --target connect, as reported.
#[derive(Debug, Serialize)]
struct Target {
    host: String,
    port: u16,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    family: Option<Family>,
    elapsed_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    events: Vec<Event>,
}

#[derive(Debug, Serialize)]
struct Output {
    #[serde(flatten)]
    report: Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<Target>,
}

pub fn run(args: Args) -> CliResult {
    let target = match &args.target {
        Some(v) => {
            let port: u16 = v[1]
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| CliError::usage(format!("--target: invalid port {:?}", v[1])))?;
            Some((v[0].clone(), port))
        }
        None => None,
    };
    let connector = match target {
        Some(_) => Some(args.opts.connector()?),
        None => None,
    };
    let report = probe::probe(&ProbeOptions::default());
    let target = match (target, connector) {
        (Some((host, port)), Some(connector)) => {
            let rt = runtime()?;
            let res = rt.block_on(connector.connect(&host, port));
            let t = match res {
                Ok(c) => Target {
                    host,
                    port,
                    ok: true,
                    peer: Some(c.peer),
                    local: Some(c.local),
                    family: Some(c.family()),
                    elapsed_ms: ms(c.elapsed),
                    error: None,
                    events: c.events,
                },
                Err(e) => Target {
                    host,
                    port,
                    ok: false,
                    peer: None,
                    local: None,
                    family: None,
                    elapsed_ms: ms(e.elapsed),
                    error: Some(e.to_string()),
                    events: e.events,
                },
            };
            args.opts.print_trace(&t.events);
            Some(t)
        }
        _ => None,
    };
    let exit = match &target {
        Some(t) if !t.ok => Exit::Failure,
        _ => Exit::Success,
    };
    let out = Output { report, target };
    let mut stdout = std::io::stdout().lock();
    if args.opts.json {
        serde_json::to_writer_pretty(&mut stdout, &out).map_err(std::io::Error::from)?;
        writeln!(stdout)?;
    } else {
        write_human(&mut stdout, &out)?;
    }
    stdout.flush()?;
    Ok(exit)
}

fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn yes_no(c: &Check) -> String {
    match (&c.ok, &c.error) {
        (true, _) => "yes".into(),
        (false, Some(e)) => format!("no ({e})"),
        (false, None) => "no".into(),
    }
}

fn flag(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "1",
        Some(false) => "0",
        None => "unknown",
    }
}

fn routes(out: &mut impl Write, fam: &str, rs: &Option<Vec<Route>>) -> std::io::Result<()> {
    match rs {
        None => writeln!(out, "  {fam:<5} unknown (routing table not readable)"),
        Some(v) if v.is_empty() => writeln!(out, "  {fam:<5} none"),
        Some(v) => {
            for r in v {
                match r.gateway {
                    Some(gw) => writeln!(
                        out,
                        "  {fam:<5} via {gw} dev {} metric {}",
                        r.interface, r.metric
                    )?,
                    None => writeln!(out, "  {fam:<5} dev {} metric {}", r.interface, r.metric)?,
                }
            }
            Ok(())
        }
    }
}

fn write_human(out: &mut impl Write, o: &Output) -> std::io::Result<()> {
    let r = &o.report;
    writeln!(
        out,
        "Sockets         IPv4 {}, IPv6 {}",
        yes_no(&r.sockets.ipv4),
        yes_no(&r.sockets.ipv6)
    )?;
    let b = match r.bindv6only {
        Some(false) => "0 (a socket on [::] also takes IPv4)",
        Some(true) => "1 (a socket on [::] takes IPv6 only)",
        None => "unknown",
    };
    writeln!(out, "bindv6only      {b}")?;
    let d = &r.disable_ipv6;
    writeln!(
        out,
        "disable_ipv6    all {}, default {}, lo {}",
        flag(d.all),
        flag(d.default),
        flag(d.lo)
    )?;
    let ds = &r.dual_socket;
    if ds.accepts_ipv4 {
        let seen = if ds.ipv4_client_seen_as_mapped {
            ", seen as an IPv4-mapped address"
        } else {
            ""
        };
        let client = ds.ipv4_client.map(|c| c.to_string()).unwrap_or_default();
        writeln!(
            out,
            "Dual socket     [::] with IPV6_V6ONLY=0 accepted IPv4 client {client}{seen}"
        )?;
    } else {
        writeln!(
            out,
            "Dual socket     does not work: {}",
            ds.error.as_deref().unwrap_or("unknown error")
        )?;
    }
    writeln!(
        out,
        "Loopback        127.0.0.1 {}, ::1 {}",
        yes_no(&r.loopback.ipv4),
        yes_no(&r.loopback.ipv6)
    )?;
    writeln!(out, "Default routes")?;
    routes(out, "IPv4", &r.default_routes.ipv4)?;
    routes(out, "IPv6", &r.default_routes.ipv6)?;
    writeln!(out, "Addresses")?;
    if r.addresses.is_empty() {
        writeln!(out, "  none found")?;
    }
    let w = r
        .addresses
        .iter()
        .map(|a| a.interface.len())
        .max()
        .unwrap_or(0);
    for a in &r.addresses {
        let cidr = format!("{}/{}", a.address, a.prefix_len);
        let classes: Vec<String> = a.classes.iter().map(|c| c.name()).collect();
        let mut line = format!(
            "  {:<w$}  {:<28} {:<8} {}",
            a.interface,
            cidr,
            serde_plain(&a.scope),
            classes.join(", ")
        );
        if !a.flags.is_empty() {
            line.push_str(&format!(" [{}]", a.flags.join(", ")));
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    let res = &r.resolver;
    writeln!(out, "Resolver")?;
    if res.resolv_conf_read {
        let ns: Vec<String> = res.nameservers.iter().map(IpAddr::to_string).collect();
        writeln!(
            out,
            "  nameservers   {}",
            if ns.is_empty() {
                "none".into()
            } else {
                ns.join(", ")
            }
        )?;
        if !res.search.is_empty() {
            writeln!(out, "  search        {}", res.search.join(" "))?;
        }
        if !res.options.is_empty() {
            writeln!(out, "  options       {}", res.options.join(" "))?;
        }
    } else {
        writeln!(out, "  {} not readable", res.resolv_conf.display())?;
    }
    let lh: Vec<String> = res.localhost.iter().map(IpAddr::to_string).collect();
    writeln!(
        out,
        "  localhost     {} ({})",
        if lh.is_empty() {
            "not listed".into()
        } else {
            lh.join(", ")
        },
        res.hosts.display()
    )?;
    if let Some(t) = &o.target {
        writeln!(out, "Target {} port {}", t.host, t.port)?;
        match (&t.peer, &t.error) {
            (Some(peer), _) => writeln!(
                out,
                "  connected to {peer} ({}) in {}",
                t.family.map(|f| f.to_string()).unwrap_or_default(),
                fmt_duration(std::time::Duration::from_secs_f64(t.elapsed_ms / 1e3))
            )?,
            (None, Some(e)) => writeln!(out, "  failed: {e}")?,
            _ => {}
        }
    }
    for (audience, title) in [
        (Audience::Host, "This host"),
        (Audience::Server, "For servers"),
        (Audience::Client, "For clients"),
    ] {
        let items: Vec<&str> = r
            .conclusions
            .iter()
            .filter(|c| c.audience == audience)
            .map(|c| c.text.as_str())
            .collect();
        if items.is_empty() {
            continue;
        }
        writeln!(out, "{title}")?;
        for text in items {
            writeln!(out, "  - {text}")?;
        }
    }
    Ok(())
}

/// The serde name of a unit enum value (`global`, `link`, ...).
fn serde_plain<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
