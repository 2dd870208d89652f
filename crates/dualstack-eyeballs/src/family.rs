//! The address family.

use std::fmt;
use std::net::IpAddr;

/// The address family as people name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Family {
    /// IPv4 (AF_INET).
    #[cfg_attr(feature = "serde", serde(rename = "IPv4"))]
    V4,
    /// IPv6 (AF_INET6).
    #[cfg_attr(feature = "serde", serde(rename = "IPv6"))]
    V6,
}

impl Family {
    /// The family of `ip`; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291
    /// §2.5.5.2) is IPv4 traffic.
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The other family.
    pub fn other(self) -> Family {
        match self {
            Family::V4 => Family::V6,
            Family::V6 => Family::V4,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_is_v4() {
        assert_eq!(Family::of("::ffff:192.0.2.1".parse().unwrap()), Family::V4);
        assert_eq!(Family::of("192.0.2.1".parse().unwrap()), Family::V4);
        assert_eq!(Family::of("2001:db8::1".parse().unwrap()), Family::V6);
        assert_eq!(Family::V4.other(), Family::V6);
        assert_eq!(Family::V6.to_string(), "IPv6");
    }
}
