//! NAT64 for IPv4 literals on IPv6-only hosts: when the host has no route to an IPv4
//! address, find the network's NAT64 prefix by asking for the AAAA records of
//! `ipv4only.arpa` (RFC 7050 §3) and embed the IPv4 address in it (RFC 6052 §2.2).
//! RFC 8305 §7 asks Happy Eyeballs clients to do exactly this.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use futures_util::StreamExt;

use super::resolver::Resolve;
use crate::addr::Family;

/// The well-known name whose only A records are 192.0.0.170 and 192.0.0.171 (RFC 7050 §2).
pub const IPV4ONLY_ARPA: &str = "ipv4only.arpa.";
const WELL_KNOWN: [Ipv4Addr; 2] = [Ipv4Addr::new(192, 0, 0, 170), Ipv4Addr::new(192, 0, 0, 171)];
/// Prefix lengths allowed by RFC 6052 §2.2, tried longest first.
pub const PREFIX_LENGTHS: [u8; 6] = [96, 64, 56, 48, 40, 32];

/// Byte positions of the IPv4 address inside an IPv6 address for a prefix of `len` bits:
/// right after the prefix, skipping byte 8 (bits 64–71, the "u" octet, RFC 6052 §2.2).
fn positions(len: u8) -> Option<[usize; 4]> {
    if !PREFIX_LENGTHS.contains(&len) {
        return None;
    }
    let mut pos = usize::from(len / 8);
    let mut out = [0; 4];
    for slot in &mut out {
        if pos == 8 {
            pos += 1;
        }
        *slot = pos;
        pos += 1;
    }
    Some(out)
}

/// Embed `v4` in `prefix`/`len` (RFC 6052 §2.2). `None` for a length RFC 6052 does not allow.
pub fn synthesize(prefix: Ipv6Addr, len: u8, v4: Ipv4Addr) -> Option<Ipv6Addr> {
    let pos = positions(len)?;
    let mut o = prefix.octets();
    // Bits after the prefix are zero, including the u octet.
    for b in o.iter_mut().skip(usize::from(len / 8)) {
        *b = 0;
    }
    for (p, b) in pos.iter().zip(v4.octets()) {
        o[*p] = b;
    }
    Some(Ipv6Addr::from(o))
}

/// The IPv4 address embedded in `v6` for a prefix of `len` bits.
pub fn extract(v6: Ipv6Addr, len: u8) -> Option<Ipv4Addr> {
    let pos = positions(len)?;
    let o = v6.octets();
    Some(Ipv4Addr::new(o[pos[0]], o[pos[1]], o[pos[2]], o[pos[3]]))
}

/// The NAT64 prefixes an `ipv4only.arpa` AAAA answer reveals (RFC 7050 §3): for each
/// address, the prefix length at which one of the well-known IPv4 addresses is embedded.
pub fn prefixes_from(answers: &[Ipv6Addr]) -> Vec<(Ipv6Addr, u8)> {
    let mut out = Vec::new();
    for a in answers {
        for len in PREFIX_LENGTHS {
            if extract(*a, len).is_some_and(|v4| WELL_KNOWN.contains(&v4)) {
                let mut o = a.octets();
                for b in o.iter_mut().skip(usize::from(len / 8)) {
                    *b = 0;
                }
                let p = (Ipv6Addr::from(o), len);
                if !out.contains(&p) {
                    out.push(p);
                }
                break;
            }
        }
    }
    out
}

/// Whether the kernel has a route to `ip` (a UDP `connect(2)` picks a route and sends
/// nothing).
pub fn has_route(ip: IpAddr) -> bool {
    let bind: IpAddr = match ip {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    std::net::UdpSocket::bind((bind, 0))
        .and_then(|s| s.connect((ip, 9)))
        .is_ok()
}

/// For an IPv4 literal with no IPv4 route: the synthesized IPv6 address and the prefix
/// (`64:ff9b::/96`), when the network has NAT64. `None` otherwise.
pub(crate) async fn translate_if_needed(
    ip: IpAddr,
    resolver: &dyn Resolve,
) -> Option<(IpAddr, String)> {
    let IpAddr::V4(v4) = ip else { return None };
    if has_route(ip) {
        return None;
    }
    let lookup = async {
        let mut answers = resolver.resolve(IPV4ONLY_ARPA, &[Family::V6]);
        answers.next().await
    };
    let answer = tokio::time::timeout(Duration::from_secs(2), lookup)
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
    let (prefix, len) = *prefixes_from(&v6).first()?;
    let synth = synthesize(prefix, len, v4)?;
    Some((IpAddr::V6(synth), format!("{prefix}/{len}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// RFC 6052 §2.4, the table of examples.
    #[test]
    fn rfc6052_examples() {
        let v4 = Ipv4Addr::new(192, 0, 2, 33);
        let table = [
            ("2001:db8::", 32, "2001:db8:c000:221::"),
            ("2001:db8:100::", 40, "2001:db8:1c0:2:21::"),
            ("2001:db8:122::", 48, "2001:db8:122:c000:2:2100::"),
            ("2001:db8:122:300::", 56, "2001:db8:122:3c0:0:221::"),
            ("2001:db8:122:344::", 64, "2001:db8:122:344:c0:2:2100:0"),
            ("2001:db8:122:344::", 96, "2001:db8:122:344::192.0.2.33"),
            ("64:ff9b::", 96, "64:ff9b::192.0.2.33"),
        ];
        for (prefix, len, want) in table {
            assert_eq!(synthesize(v6(prefix), len, v4), Some(v6(want)), "/{len}");
            assert_eq!(extract(v6(want), len), Some(v4), "/{len}");
        }
        assert_eq!(synthesize(v6("64:ff9b::"), 80, v4), None);
    }

    #[test]
    fn discovers_prefix_from_ipv4only_arpa() {
        let answers = [v6("64:ff9b::192.0.0.170"), v6("64:ff9b::192.0.0.171")];
        assert_eq!(prefixes_from(&answers), vec![(v6("64:ff9b::"), 96)]);
        let answers = [v6("2001:db8:122:344:c0:0:aa00:0")];
        assert_eq!(
            prefixes_from(&answers),
            vec![(v6("2001:db8:122:344::"), 64)]
        );
        assert!(prefixes_from(&[v6("2001:db8::1")]).is_empty());
    }

    #[test]
    fn loopback_has_a_route() {
        assert!(has_route("127.0.0.1".parse().unwrap()));
    }
}
