//! RFC 6052 address translation for NAT64 (the arithmetic only): embedding an IPv4
//! address in a NAT64 prefix, extracting it again, and reading the prefix out of an
//! `ipv4only.arpa` AAAA answer (RFC 7050 §3). Sending that query and checking for an IPv4
//! route is I/O and belongs to the driver.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The well-known name whose only A records are 192.0.0.170 and 192.0.0.171 (RFC 7050 §2).
pub const IPV4ONLY_ARPA: &str = "ipv4only.arpa.";
/// The A records of [`IPV4ONLY_ARPA`] (RFC 7050 §2).
pub const IPV4ONLY_ADDRS: [Ipv4Addr; 2] =
    [Ipv4Addr::new(192, 0, 0, 170), Ipv4Addr::new(192, 0, 0, 171)];
/// Prefix lengths allowed by RFC 6052 §2.2, longest first.
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

/// Embed `v4` in `prefix`/`len` (RFC 6052 §2.2). `None` for a length RFC 6052 does not
/// allow.
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

/// The IPv4 address embedded in `v6` for a prefix of `len` bits (RFC 6052 §2.2). `None`
/// for a length RFC 6052 does not allow.
pub fn extract(v6: Ipv6Addr, len: u8) -> Option<Ipv4Addr> {
    let pos = positions(len)?;
    let o = v6.octets();
    Some(Ipv4Addr::new(o[pos[0]], o[pos[1]], o[pos[2]], o[pos[3]]))
}

/// The NAT64 prefixes an `ipv4only.arpa` AAAA answer reveals (RFC 7050 §3): for each
/// address, the longest prefix length at which one of [`IPV4ONLY_ADDRS`] is embedded.
pub fn prefixes_from(answers: &[Ipv6Addr]) -> Vec<(Ipv6Addr, u8)> {
    let mut out = Vec::new();
    for a in answers {
        for len in PREFIX_LENGTHS {
            if extract(*a, len).is_some_and(|v4| IPV4ONLY_ADDRS.contains(&v4)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        assert_eq!(extract(v6("64:ff9b::"), 80), None);
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

    proptest! {
        /// Extract undoes synthesize for every allowed prefix length.
        #[test]
        fn round_trip(prefix in any::<u128>(), v4 in any::<u32>(), i in 0usize..6) {
            let len = PREFIX_LENGTHS[i];
            let v4 = Ipv4Addr::from(v4);
            let s = synthesize(Ipv6Addr::from(prefix), len, v4).unwrap();
            prop_assert_eq!(extract(s, len), Some(v4));
            if len <= 64 {
                prop_assert_eq!(s.octets()[8], 0, "the u octet is zero");
            }
        }
    }
}
