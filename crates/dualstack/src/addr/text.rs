//! IP addresses written as text straight into a byte buffer, the same text as their
//! `Display` (RFC 5952 for IPv6), without `core::fmt`: formatting an IPv4 address with
//! `format!` was ~1,800 instructions of each whoami request (callgrind), this is ~100.

use std::net::{IpAddr, Ipv4Addr};

/// Append `ip` as its `Display` writes it.
pub(crate) fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    let v6 = match ip {
        IpAddr::V4(v4) => return push_v4(out, v4),
        IpAddr::V6(v6) => v6,
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        out.extend_from_slice(b"::ffff:");
        return push_v4(out, v4);
    }
    let groups = v6.segments();
    // The longest run of zero groups (the first of equal ones) becomes `::`, if it is
    // longer than one group.
    let (mut start, mut len) = (0, 0);
    let mut run = 0;
    for (i, &g) in groups.iter().enumerate() {
        run = if g == 0 { run + 1 } else { 0 };
        if run > len {
            (start, len) = (i + 1 - run, run);
        }
    }
    if len > 1 {
        push_groups(out, &groups[..start]);
        out.extend_from_slice(b"::");
        push_groups(out, &groups[start + len..]);
    } else {
        push_groups(out, &groups);
    }
}

fn push_v4(out: &mut Vec<u8>, ip: Ipv4Addr) {
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        if octet >= 100 {
            out.push(b'0' + octet / 100);
        }
        if octet >= 10 {
            out.push(b'0' + octet / 10 % 10);
        }
        out.push(b'0' + octet % 10);
    }
}

/// Groups in lowercase hex without leading zeros, `:` between them.
fn push_groups(out: &mut Vec<u8>, groups: &[u16]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, &g) in groups.iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        let digits = (16 - g.leading_zeros() as usize).div_ceil(4).max(1);
        for d in (0..digits).rev() {
            out.push(HEX[usize::from(g >> (4 * d)) & 0xf]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv6Addr;

    fn text(ip: IpAddr) -> String {
        let mut b = Vec::new();
        push_ip(&mut b, ip);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn as_display_writes_them() {
        for s in [
            "0.0.0.0",
            "127.0.0.1",
            "198.51.100.255",
            "10.0.9.99",
            "::",
            "::1",
            "1::",
            "2001:db8::1",
            "2001:db8:0:1:0:0:0:1",
            "2001:0:0:1:0:0:0:1",
            "2001:db8:0:1:1:1:1:1",
            "::ffff:192.0.2.1",
            "::192.0.2.1",
            "fe80::abcd:ef01",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "1:0:1:0:1:0:1:0",
        ] {
            let ip: IpAddr = s.parse().unwrap();
            assert_eq!(text(ip), ip.to_string(), "{s}");
        }
    }

    proptest! {
        #[test]
        fn any_address_as_display_writes_it(v4 in any::<u32>(), v6 in any::<u128>(),
                                           zeros in any::<u8>()) {
            let v4 = IpAddr::V4(Ipv4Addr::from(v4));
            prop_assert_eq!(text(v4), v4.to_string());
            // Clear some groups so runs of zeros of every length occur.
            let mut g = Ipv6Addr::from(v6).segments();
            for (i, s) in g.iter_mut().enumerate() {
                if zeros & (1 << i) != 0 {
                    *s = 0;
                }
            }
            let v6 = IpAddr::V6(Ipv6Addr::from(g));
            prop_assert_eq!(text(v6), v6.to_string());
        }
    }
}
