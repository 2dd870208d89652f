//! Address parsing, classification and conversion: pure functions, no I/O.
//!
//! (Work in progress: parsing and unmapping first; classification follows.)

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// An address as written by a person: IP, optional zone (`%lo`), optional port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ParsedAddr {
    /// The IP address.
    pub ip: IpAddr,
    /// The IPv6 zone (scope) after `%`, e.g. `lo` or `2`, kept as written.
    pub zone: Option<String>,
    /// The port, when one was given (`192.0.2.1:80`, `[::1]:80`).
    pub port: Option<u16>,
}

/// Why a string is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address {input:?}: {reason}")]
pub struct ParseError {
    /// The text that failed to parse.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Parse `192.0.2.1`, `2001:db8::1`, `fe80::1%lo`, `[::1]`, `[::1]:80`, `192.0.2.1:80`,
/// `::ffff:192.0.2.1` and every other RFC 4291 §2.2 text form.
///
/// # Errors
/// [`ParseError`] naming the input and what is wrong with it.
pub fn parse(input: &str) -> Result<ParsedAddr, ParseError> {
    let err = |reason| ParseError {
        input: input.to_owned(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or_else(|| err("missing ']'"))?;
        let port = match after {
            "" => None,
            p => Some(
                parse_port(p.strip_prefix(':').ok_or_else(|| err("junk after ']'"))?)
                    .ok_or_else(|| err("invalid port"))?,
            ),
        };
        (inside, port)
    } else if s.matches(':').count() == 1 {
        // Exactly one colon: IPv4 with a port (an IPv6 address has at least two).
        let (h, p) = s.split_once(':').expect("one colon");
        (h, Some(parse_port(p).ok_or_else(|| err("invalid port"))?))
    } else {
        (s, None)
    };
    let (ip_text, zone) = match host.split_once('%') {
        Some((ip, zone)) if !zone.is_empty() => (ip, Some(zone.to_owned())),
        Some(_) => return Err(err("empty zone after '%'")),
        None => (host, None),
    };
    let ip: IpAddr = ip_text
        .parse()
        .map_err(|_| err("not an IPv4 or IPv6 address"))?;
    if zone.is_some() && ip.is_ipv4() {
        return Err(err("a zone ('%') is only valid on IPv6 addresses"));
    }
    if port.is_some() && ip.is_ipv6() && !s.starts_with('[') {
        return Err(err("write an IPv6 address with a port as [addr]:port"));
    }
    Ok(ParsedAddr { ip, zone, port })
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

/// `::ffff:a.b.c.d` → `a.b.c.d`; every other address unchanged.
///
/// Use it on every address a dual socket reports before showing or comparing it.
pub fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// [`unmap`] for a socket address (the port is kept, IPv6 flow info and scope dropped).
pub fn unmap_socket(sa: SocketAddr) -> SocketAddr {
    SocketAddr::new(unmap(sa.ip()), sa.port())
}

/// `a.b.c.d` → `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2).
pub fn to_mapped(v4: Ipv4Addr) -> Ipv6Addr {
    v4.to_ipv6_mapped()
}

/// The address family as people name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Family {
    /// IPv4 (AF_INET).
    #[serde(rename = "IPv4")]
    V4,
    /// IPv6 (AF_INET6).
    #[serde(rename = "IPv6")]
    V6,
}

impl Family {
    /// The family of `ip`, after [`unmap`]: a mapped address is IPv4 traffic.
    pub fn of(ip: IpAddr) -> Family {
        match unmap(ip) {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}
