//! Reading what people write: a listen address (`8080`, `[::1]:80`, `localhost:25`) and a
//! [`ListenMode`].

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// How a port-only address ([`ListenAddr::Port`]) becomes sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListenMode {
    /// One socket per family: `0.0.0.0` and `[::]` with `IPV6_V6ONLY=1` (nginx, sshd).
    /// The default: each family fails and is reported on its own.
    #[default]
    Separate,
    /// One AF_INET6 socket `[::]` with `IPV6_V6ONLY=0`: IPv4 clients arrive as mapped
    /// addresses (`::ffff:a.b.c.d`), which this module unmaps. Falls back to `0.0.0.0`
    /// on a host without IPv6.
    Dual,
    /// IPv4 only: `0.0.0.0`.
    Ipv4,
    /// IPv6 only: `[::]` with `IPV6_V6ONLY=1`.
    Ipv6,
}

/// A listen mode name that is not one of `separate`, `dual`, `ipv4` (`4`), `ipv6` (`6`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid listen mode {input:?}: use separate, dual, ipv4 or ipv6")]
pub struct ListenModeError {
    /// The text that is not a mode.
    pub input: String,
}

impl FromStr for ListenMode {
    type Err = ListenModeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "separate" => Ok(ListenMode::Separate),
            "dual" => Ok(ListenMode::Dual),
            "ipv4" | "4" => Ok(ListenMode::Ipv4),
            "ipv6" | "6" => Ok(ListenMode::Ipv6),
            _ => Err(ListenModeError {
                input: s.to_owned(),
            }),
        }
    }
}

impl fmt::Display for ListenMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ListenMode::Separate => "separate",
            ListenMode::Dual => "dual",
            ListenMode::Ipv4 => "ipv4",
            ListenMode::Ipv6 => "ipv6",
        })
    }
}

/// What to listen on, as a person writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// Every passive address for this port, per the [`ListenMode`].
    Port(u16),
    /// Exactly this address. `[::ffff:0.0.0.0]:P` means IPv4 any (`0.0.0.0:P`), any other
    /// mapped address its IPv4 address. `[::]:P` is a dual socket in [`ListenMode::Dual`],
    /// IPv6-only otherwise.
    Addr(SocketAddr),
    /// Every address a host name resolves to (system resolver, `/etc/hosts`), e.g.
    /// `localhost:8080`.
    Host(String, u16),
}

/// Why a listen address does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid listen address {input:?}: {reason}")]
pub struct ListenAddrError {
    /// The text that failed to parse.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ListenAddr {
    /// Parse `8080`, `127.0.0.1:8080`, `[::1]:8080`, `[fe80::1%eth0]:8080`,
    /// `localhost:8080`; an address without a port (`127.0.0.1`, `::1`, `[::1]`) gets
    /// `default_port`.
    ///
    /// # Errors
    /// [`ListenAddrError`] naming the input and the problem.
    pub fn parse(input: &str, default_port: u16) -> Result<ListenAddr, ListenAddrError> {
        let err = |reason: String| ListenAddrError {
            input: input.to_owned(),
            reason,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(err("empty".into()));
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse()
                .map(ListenAddr::Port)
                .map_err(|_| err("port out of range (0-65535)".into()));
        }
        match crate::addr::parse(s) {
            Ok(p) => {
                let port = p.port.unwrap_or(default_port);
                let sa = match (p.ip, p.zone) {
                    (IpAddr::V6(v6), Some(zone)) => {
                        let scope = crate::addr::scope_id(&zone)
                            .map_err(|e| err(format!("unknown interface {zone:?}: {e}")))?;
                        SocketAddr::V6(std::net::SocketAddrV6::new(v6, port, 0, scope))
                    }
                    (ip, _) => SocketAddr::new(ip, port),
                };
                Ok(ListenAddr::Addr(sa))
            }
            Err(e) => {
                // Not an IP address: a host name, with an optional port.
                let (host, port) = match s.rsplit_once(':') {
                    Some((h, p)) => (
                        h,
                        p.parse::<u16>()
                            .map_err(|_| err(format!("invalid port {p:?}")))?,
                    ),
                    None => (s, default_port),
                };
                let name_ok = !host.is_empty()
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
                if !name_ok || host.contains(':') {
                    return Err(err(e.reason.to_owned()));
                }
                Ok(ListenAddr::Host(host.to_owned(), port))
            }
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Port(p) => write!(f, "port {p}"),
            ListenAddr::Addr(a) => write!(f, "{a}"),
            ListenAddr::Host(h, p) => write!(f, "{h}:{p}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_listen_addrs() {
        assert_eq!(ListenAddr::parse("8080", 1), Ok(ListenAddr::Port(8080)));
        assert_eq!(
            ListenAddr::parse("127.0.0.1", 2323),
            Ok(ListenAddr::Addr(sa("127.0.0.1:2323")))
        );
        assert_eq!(
            ListenAddr::parse("[::1]:80", 1),
            Ok(ListenAddr::Addr(sa("[::1]:80")))
        );
        assert_eq!(
            ListenAddr::parse("::1", 7),
            Ok(ListenAddr::Addr(sa("[::1]:7")))
        );
        assert_eq!(
            ListenAddr::parse("localhost:80", 1),
            Ok(ListenAddr::Host("localhost".into(), 80))
        );
        assert!(ListenAddr::parse("99999", 1).is_err());
        assert!(ListenAddr::parse("", 1).is_err());
        assert!(ListenAddr::parse("bad host:1", 1).is_err());
        assert!(ListenAddr::parse("1.2.3.4:x", 1).is_err());
    }

    #[test]
    fn zones_become_scope_ids() {
        let scope = |s| match ListenAddr::parse(s, 1) {
            Ok(ListenAddr::Addr(SocketAddr::V6(v6))) => v6.scope_id(),
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(scope("[fe80::1%7]:80"), 7);
        assert_eq!(
            scope("[fe80::1%lo]:80"),
            crate::addr::scope_id("lo").unwrap()
        );
        let e = ListenAddr::parse("[fe80::1%no-such-if0]:80", 1).unwrap_err();
        assert!(
            e.reason.starts_with("unknown interface \"no-such-if0\""),
            "{e}"
        );
    }
}
