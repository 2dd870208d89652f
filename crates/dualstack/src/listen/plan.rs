//! The sockets to create for a set of listen addresses, without creating any
//! (getaddrinfo(3) `AI_PASSIVE` semantics).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use super::{ListenAddr, ListenError, ListenMode};
use crate::addr::unmap_socket;

/// One socket to create: its address and whether it is IPv6-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// The address to bind (unmapped for IPv4).
    pub addr: SocketAddr,
    /// `IPV6_V6ONLY` for an AF_INET6 socket; `None` for AF_INET.
    pub v6only: Option<bool>,
    /// Index of the [`ListenAddr`] this came from (port 0 is shared within one).
    pub group: usize,
    /// Where to go instead when this family is missing (dual → `0.0.0.0`).
    pub fallback: Option<SocketAddr>,
}

/// List the sockets to create for `addrs` in `mode`, without creating any: the passive
/// addresses of getaddrinfo(3) with `AI_PASSIVE`, IPv6 first.
///
/// # Errors
/// A host name that does not resolve.
pub fn plan(addrs: &[ListenAddr], mode: ListenMode) -> Result<Vec<Planned>, ListenError> {
    let any4 = |p| SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), p);
    let any6 = |p| SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), p);
    let mut out = Vec::new();
    for (group, a) in addrs.iter().enumerate() {
        let p = |addr, v6only, fallback| Planned {
            addr,
            v6only,
            group,
            fallback,
        };
        match a {
            ListenAddr::Port(port) => match mode {
                ListenMode::Separate => {
                    out.push(p(any6(*port), Some(true), None));
                    out.push(p(any4(*port), None, None));
                }
                ListenMode::Dual => out.push(p(any6(*port), Some(false), Some(any4(*port)))),
                ListenMode::Ipv4 => out.push(p(any4(*port), None, None)),
                ListenMode::Ipv6 => out.push(p(any6(*port), Some(true), None)),
            },
            ListenAddr::Addr(sa) => out.push(explicit(*sa, mode, group)),
            ListenAddr::Host(host, port) => {
                let resolved =
                    (host.as_str(), *port)
                        .to_socket_addrs()
                        .map_err(|e| ListenError::Resolve {
                            host: host.clone(),
                            source: e,
                        })?;
                let mut seen = Vec::new();
                for sa in resolved {
                    if !seen.contains(&sa) {
                        seen.push(sa);
                        out.push(explicit(sa, mode, group));
                    }
                }
            }
        }
    }
    Ok(out)
}

fn explicit(sa: SocketAddr, mode: ListenMode, group: usize) -> Planned {
    let unmapped = unmap_socket(sa);
    let (addr, v6only) = match unmapped {
        // `::ffff:0.0.0.0` and every other mapped address: an IPv4 socket.
        SocketAddr::V4(_) => (unmapped, None),
        // Keep the scope id of a link-local address.
        SocketAddr::V6(v6) => (
            SocketAddr::V6(v6),
            Some(!(mode == ListenMode::Dual && v6.ip().is_unspecified())),
        ),
    };
    Planned {
        addr,
        v6only,
        group,
        fallback: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn plans_each_mode() {
        let port = [ListenAddr::Port(80)];
        let addrs = |m| {
            plan(&port, m)
                .unwrap()
                .into_iter()
                .map(|p| (p.addr, p.v6only))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            addrs(ListenMode::Separate),
            vec![(sa("[::]:80"), Some(true)), (sa("0.0.0.0:80"), None)]
        );
        assert_eq!(addrs(ListenMode::Dual), vec![(sa("[::]:80"), Some(false))]);
        assert_eq!(addrs(ListenMode::Ipv4), vec![(sa("0.0.0.0:80"), None)]);
        assert_eq!(addrs(ListenMode::Ipv6), vec![(sa("[::]:80"), Some(true))]);
        let mapped_any = [ListenAddr::Addr(sa("[::ffff:0.0.0.0]:80"))];
        let p = plan(&mapped_any, ListenMode::Dual).unwrap();
        assert_eq!((p[0].addr, p[0].v6only), (sa("0.0.0.0:80"), None));
        let any6 = [ListenAddr::Addr(sa("[::]:80"))];
        assert_eq!(
            plan(&any6, ListenMode::Dual).unwrap()[0].v6only,
            Some(false)
        );
        assert_eq!(
            plan(&any6, ListenMode::Separate).unwrap()[0].v6only,
            Some(true)
        );
    }
}
