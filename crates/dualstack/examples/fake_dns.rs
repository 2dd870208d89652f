//! The tests' fake DNS server as a standalone program, for benchmark scripts.
//!
//! ```text
//! cargo run --example fake_dns -- --listen 127.0.0.1:5353 \
//!     --record 'h.test AAAA 2001:db8::1 2s' --record 'h.test A 198.51.100.1'
//! ```
//!
//! Record syntax: `NAME TYPE DATA [DELAY]`, TYPE one of `A`, `AAAA`, `CNAME`, `PTR`
//! (`192.0.2.1 PTR h.test`: the owner is the address), `HTTPS` or `SVCB` (DATA is the
//! zone-file data, several words: `h.test HTTPS 1 . alpn=h2 port=8080 ipv4hint=198.51.100.10
//! 2s`; a last word that reads as a DELAY is the delay; for ports other than 443 the
//! name is `_PORT._https.HOST`, RFC 9460 §9.1), or `NAME TYPE never` /
//! `NAME TYPE servfail` / `NAME TYPE delay DELAY`. DELAY is `250ms`, `2s` or `1.5s`.
//! Prints `listening on ADDR` once both UDP and TCP are bound, then serves until
//! SIGINT/SIGTERM; with `--log`, prints each query as `+MS NAME TYPE` on stderr.

#[path = "../tests/support/dns.rs"]
mod dns;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use dns::{FakeDns, RecordType, Zone};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR};
use hickory_proto::rr::{Name, RData};

const USAGE: &str = "usage: fake_dns [--listen ADDR:PORT] [--ttl SECS] [--log] --record 'NAME TYPE DATA [DELAY]'...
  TYPE: A, AAAA, CNAME, PTR (owner is the IP), HTTPS/SVCB (DATA: zone-file data,
        e.g. 'h.test HTTPS 1 . alpn=h2 port=8080 ipv4hint=198.51.100.10 2s'),
        or NAME TYPE never|servfail|delay DELAY
  example: fake_dns --listen 127.0.0.1:5353 --record 'h.test AAAA 2001:db8::1 2s' --record 'h.test A 198.51.100.1'";

struct Args {
    listen: SocketAddr,
    zone: Zone,
    log: bool,
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("fake_dns: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let server = match FakeDns::start(args.listen, args.zone).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("fake_dns: cannot listen on {}: {e}", args.listen);
                return ExitCode::FAILURE;
            }
        };
        println!("listening on {}", server.addr());
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        let start = tokio::time::Instant::now();
        let mut printed = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
                _ = tick.tick(), if args.log => {
                    let log = server.queries();
                    for q in log.iter().skip(printed) {
                        eprintln!("+{}ms {} {}", (q.at - start).as_millis(), q.name, q.rtype);
                    }
                    printed = log.len();
                }
            }
        }
        ExitCode::SUCCESS
    })
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut args = Args {
        listen: "127.0.0.1:5353".parse().expect("literal"),
        zone: Zone::new(),
        log: false,
    };
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--listen" => {
                let v = value("--listen")?;
                args.listen = v
                    .parse()
                    .map_err(|_| format!("--listen: {v:?} is not ADDR:PORT"))?;
            }
            "--ttl" => {
                let v = value("--ttl")?;
                args.zone = args.zone.ttl(
                    v.parse()
                        .map_err(|_| format!("--ttl: {v:?} is not a number"))?,
                );
            }
            "--log" => args.log = true,
            "--record" => {
                let v = value("--record")?;
                args.zone =
                    add_record(args.zone, &v).map_err(|e| format!("--record {v:?}: {e}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(args))
}

fn add_record(zone: Zone, spec: &str) -> Result<Zone, String> {
    let words: Vec<&str> = spec.split_whitespace().collect();
    let [name, rtype, data, rest @ ..] = words.as_slice() else {
        return Err("expected NAME TYPE DATA [DELAY]".into());
    };
    let name_ok = |n: &str| Name::from_ascii(n).map_err(|e| format!("bad name {n:?}: {e}"));
    let ip_name = |n: &str| -> Result<String, String> {
        n.parse::<IpAddr>()
            .map_err(|_| format!("PTR owner {n:?} is not an IP address"))?;
        Ok(dns::reverse_name(n))
    };
    let rtype_parsed: RecordType = rtype
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| format!("unknown record type {rtype:?}"))?;
    let owner = if rtype_parsed == RecordType::PTR {
        ip_name(name)?
    } else {
        name_ok(name)?.to_ascii()
    };
    match (data.to_ascii_lowercase().as_str(), rest) {
        ("never", []) => return Ok(zone.never(&owner, rtype_parsed)),
        ("servfail", []) => return Ok(zone.servfail(&owner, rtype_parsed)),
        ("delay", [d]) => return Ok(zone.delay(&owner, rtype_parsed, parse_delay(d)?)),
        _ => {}
    }
    if matches!(rtype_parsed, RecordType::HTTPS | RecordType::SVCB) {
        // DATA is every word after TYPE; a last word that reads as a delay is the delay.
        let mut data_words = &words[2..];
        let mut delay = Duration::ZERO;
        if let [head @ .., last] = data_words {
            if !head.is_empty() {
                if let Ok(d) = parse_delay(last) {
                    delay = d;
                    data_words = head;
                }
            }
        }
        let rdata = dns::svcb_rdata(rtype_parsed, &data_words.join(" "))?;
        return Ok(zone.record(&owner, rdata, delay));
    }
    let delay = match rest {
        [] => Duration::ZERO,
        [d] => parse_delay(d)?,
        _ => return Err("too many words".into()),
    };
    let rdata = match rtype_parsed {
        RecordType::A => RData::A(A(data
            .parse()
            .map_err(|_| format!("{data:?} is not an IPv4 address"))?)),
        RecordType::AAAA => RData::AAAA(AAAA(
            data.parse()
                .map_err(|_| format!("{data:?} is not an IPv6 address"))?,
        )),
        RecordType::CNAME => RData::CNAME(CNAME(fqdn(name_ok(data)?))),
        RecordType::PTR => RData::PTR(PTR(fqdn(name_ok(data)?))),
        other => {
            return Err(format!(
                "record type {other} is not supported (A, AAAA, CNAME, PTR, HTTPS, SVCB)"
            ))
        }
    };
    Ok(zone.record(&owner, rdata, delay))
}

fn fqdn(mut n: Name) -> Name {
    n.set_fqdn(true);
    n
}

/// `250ms`, `2s`, `1.5s`, `0`.
fn parse_delay(s: &str) -> Result<Duration, String> {
    let bad = || format!("bad delay {s:?} (write 250ms or 2s)");
    let (num, unit) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if s == "0" {
        ("0", 1.0)
    } else {
        return Err(bad());
    };
    let v: f64 = num.parse().map_err(|_| bad())?;
    if !v.is_finite() || !(0.0..=3600.0).contains(&(v * unit)) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(v * unit))
}
