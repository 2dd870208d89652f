//! IP networks in CIDR notation (RFC 4632 §3.1, RFC 4291 §2.3) and sets of them: which
//! sources are trusted proxies. Pure, no I/O.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::unmap;

/// An IP network written as `198.51.100.0/24` or `2001:db8::/32`; a bare address is a
/// single host (`/32` or `/128`).
///
/// Host bits after the prefix are cleared (`192.0.2.7/24` is `192.0.2.0/24`), as nginx's
/// `set_real_ip_from` does. An IPv4-mapped IPv6 network (`::ffff:192.0.2.0/120`) is stored
/// as the IPv4 network it means, so it matches the IPv4 clients a dual socket reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a string is not a CIDR network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid network {input:?}: {reason} (try 198.51.100.0/24, 2001:db8::/32 or ::1)")]
pub struct CidrError {
    /// The text that failed to parse.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Cidr {
    /// The network `addr/prefix`.
    ///
    /// # Errors
    /// [`CidrError`] when `prefix` is longer than the address (32 or 128 bits).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr, CidrError> {
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if prefix >= 96 && v6.to_ipv4_mapped().is_some() => {
                (unmap(addr), prefix - 96)
            }
            _ => (addr, prefix),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(CidrError {
                input: format!("{addr}/{prefix}"),
                reason: "prefix longer than the address",
            });
        }
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from_bits(
                a.to_bits() & u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0),
            )),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from_bits(
                a.to_bits() & u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0),
            )),
        };
        Ok(Cidr { addr, prefix })
    }

    /// The network address (host bits cleared).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is inside this network. An IPv4-mapped `ip` is compared as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, unmap(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                Cidr::new(IpAddr::V4(ip), self.prefix).is_ok_and(|c| c.addr == IpAddr::V4(net))
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                Cidr::new(IpAddr::V6(ip), self.prefix).is_ok_and(|c| c.addr == IpAddr::V6(net))
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let err = |reason| CidrError {
            input: s.to_owned(),
            reason,
        };
        let (ip, prefix) = match s.trim().split_once('/') {
            Some((ip, p)) => {
                if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err("the prefix length after '/' is not a number"));
                }
                (
                    ip,
                    Some(p.parse::<u8>().map_err(|_| err("prefix too long"))?),
                )
            }
            None => (s.trim(), None),
        };
        let ip = ip
            .strip_prefix('[')
            .and_then(|i| i.strip_suffix(']'))
            .unwrap_or(ip);
        let addr: IpAddr = ip.parse().map_err(|_| err("not an IP address"))?;
        let prefix = prefix.unwrap_or(if addr.is_ipv4() { 32 } else { 128 });
        Cidr::new(addr, prefix).map_err(|e| err(e.reason))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The networks whose PROXY protocol headers are believed (nginx `set_real_ip_from`,
/// HAProxy `accept-proxy` sources). Empty by default: nobody is trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<Cidr>,
}

impl TrustedProxies {
    /// No trusted proxies.
    pub fn new() -> TrustedProxies {
        TrustedProxies::default()
    }

    /// Trust one more network.
    pub fn push(&mut self, net: Cidr) {
        self.nets.push(net);
    }

    /// The trusted networks, in the order given.
    pub fn networks(&self) -> &[Cidr] {
        &self.nets
    }

    /// Whether nobody is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether a connection from `ip` must carry a PROXY header. Mapped addresses count as
    /// IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }
}

impl FromIterator<Cidr> for TrustedProxies {
    fn from_iter<I: IntoIterator<Item = Cidr>>(iter: I) -> TrustedProxies {
        TrustedProxies {
            nets: iter.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parse_and_contains() {
        let c: Cidr = "198.51.100.7/24".parse().unwrap();
        assert_eq!(c.to_string(), "198.51.100.0/24");
        assert!(c.contains("198.51.100.200".parse().unwrap()));
        assert!(c.contains("::ffff:198.51.100.1".parse().unwrap()));
        assert!(!c.contains("198.51.101.1".parse().unwrap()));
        assert!(!c.contains("2001:db8::1".parse().unwrap()));
        let h: Cidr = "::1".parse().unwrap();
        assert_eq!(h.to_string(), "::1/128");
        assert!(h.contains("::1".parse().unwrap()));
        assert!(!h.contains("::2".parse().unwrap()));
        assert_eq!("127.0.0.1".parse::<Cidr>().unwrap().prefix(), 32);
        let m: Cidr = "::ffff:192.0.2.0/120".parse().unwrap();
        assert_eq!(m.to_string(), "192.0.2.0/24");
        assert_eq!(
            "0.0.0.0/0".parse::<Cidr>().unwrap().to_string(),
            "0.0.0.0/0"
        );
        assert!("0.0.0.0/0"
            .parse::<Cidr>()
            .unwrap()
            .contains("203.0.113.9".parse().unwrap()));
        assert!("::/0"
            .parse::<Cidr>()
            .unwrap()
            .contains("2001:db8::9".parse().unwrap()));
        assert_eq!(
            "[2001:db8::1]/32".parse::<Cidr>().unwrap().to_string(),
            "2001:db8::/32"
        );
        for bad in [
            "",
            "1.2.3.4/33",
            "::1/129",
            "1.2.3.4/",
            "x/8",
            "1.2.3.4/-1",
            "1.2.3.4/1000",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?} parsed");
        }
    }
}
