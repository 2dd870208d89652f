//! NAT64 discovery for IPv4 literals on IPv6-only hosts (RFC 8305 §7): whether the host
//! has an IPv4 route, and if not, the network's NAT64 prefix from the AAAA records of
//! `ipv4only.arpa` (RFC 7050 §3). This is the I/O half; the address arithmetic (RFC 6052)
//! is in [`dualstack_eyeballs::nat64`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use dualstack_eyeballs::nat64::{prefixes_from, IPV4ONLY_ARPA};
use futures_util::StreamExt;

use super::resolver::Resolve;
use crate::addr::Family;

/// How long the `ipv4only.arpa` query may take.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the kernel has a route to `ip` (a UDP `connect(2)` picks a route and sends
/// nothing).
fn has_route(ip: IpAddr) -> bool {
    let bind: IpAddr = match ip {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    std::net::UdpSocket::bind((bind, 0))
        .and_then(|s| s.connect((ip, 9)))
        .is_ok()
}

/// For an IPv4 literal with no IPv4 route: the network's NAT64 prefix and its length.
/// `None` when there is a route, or no NAT64.
pub(crate) async fn discover(ip: Ipv4Addr, resolver: &dyn Resolve) -> Option<(Ipv6Addr, u8)> {
    if has_route(IpAddr::V4(ip)) {
        return None;
    }
    let lookup = async {
        let mut answers = resolver.resolve(IPV4ONLY_ARPA, &[Family::V6]);
        answers.next().await
    };
    let answer = tokio::time::timeout(DISCOVERY_TIMEOUT, lookup)
        .await
        .ok()??;
    let v6: Vec<Ipv6Addr> = answer
        .result
        .ok()?
        .into_iter()
        .filter_map(|a| match a {
            IpAddr::V6(v) => Some(v),
            IpAddr::V4(_) => None,
        })
        .collect();
    prefixes_from(&v6).first().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_has_a_route() {
        assert!(has_route("127.0.0.1".parse().unwrap()));
    }
}
