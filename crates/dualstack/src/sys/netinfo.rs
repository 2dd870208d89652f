//! Read-only host network facts from Linux `/proc`: IPv6 sysctls, default routes per
//! family, IPv6 addresses with their kernel scope and flags. Pure parsers plus thin file
//! reads; a missing file (another OS, no IPv6 module, no /proc) reads as "unknown".
//!
//! `/proc/net` is a link to `/proc/self/net`, the namespace of the process's main
//! thread; we read `/proc/thread-self/net` when it exists so a thread that entered
//! another network namespace sees its own (tests do that).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Reads a `/proc/net/<name>` table for the calling thread's network namespace.
pub(crate) fn read_proc_net(name: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/thread-self/net/{name}"))
        .or_else(|_| std::fs::read_to_string(format!("/proc/net/{name}")))
        .ok()
}

/// Reads a boolean sysctl such as `net/ipv6/bindv6only` (`None`: missing or not 0/1).
pub(crate) fn sysctl_bool(path: &str) -> Option<bool> {
    let text = std::fs::read_to_string(format!("/proc/sys/{path}")).ok()?;
    match text.trim() {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

/// A default route as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DefaultRoute {
    pub interface: String,
    /// `None` for a direct (on-link) default route.
    pub gateway: Option<IpAddr>,
    pub metric: u32,
}

const RTF_UP: u32 = 0x0001;
const RTF_REJECT: u32 = 0x0200;

/// Default routes in `/proc/net/route` (IPv4): destination and mask 0, route up.
///
/// Addresses are `%08X` of the network-order word read as a native integer, so the
/// bytes come back with `to_ne_bytes`.
pub(crate) fn parse_route_v4(text: &str) -> Vec<DefaultRoute> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let hex = |s: &str| u32::from_str_radix(s, 16).ok();
            let (dest, gw, flags, metric, mask) = (
                hex(f[1])?,
                hex(f[2])?,
                hex(f[3])?,
                f[6].parse().ok()?,
                hex(f[7])?,
            );
            if dest != 0 || mask != 0 || flags & RTF_UP == 0 || flags & RTF_REJECT != 0 {
                return None;
            }
            let gateway = (gw != 0).then(|| IpAddr::V4(Ipv4Addr::from(gw.to_ne_bytes())));
            Some(DefaultRoute {
                interface: f[0].to_owned(),
                gateway,
                metric,
            })
        })
        .collect()
}

/// Default routes in `/proc/net/ipv6_route`: `::/0`, up, not a reject route (the kernel
/// lists an unreachable `::/0` on `lo` when there is no real default route).
///
/// Columns: dest, dest prefix, src, src prefix, next hop, metric, refcnt, use, flags,
/// interface; addresses are 32 hex digits in network order.
pub(crate) fn parse_route_v6(text: &str) -> Vec<DefaultRoute> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            let dest = parse_hex_v6(f[0])?;
            let plen = u8::from_str_radix(f[1], 16).ok()?;
            let next_hop = parse_hex_v6(f[4])?;
            let metric = u32::from_str_radix(f[5], 16).ok()?;
            let flags = u32::from_str_radix(f[8], 16).ok()?;
            if !dest.is_unspecified() || plen != 0 || flags & RTF_UP == 0 || flags & RTF_REJECT != 0
            {
                return None;
            }
            Some(DefaultRoute {
                interface: f[9].to_owned(),
                gateway: (!next_hop.is_unspecified()).then_some(IpAddr::V6(next_hop)),
                metric,
            })
        })
        .collect()
}

/// An IPv6 address from `/proc/net/if_inet6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Inet6Addr {
    pub address: Ipv6Addr,
    pub prefix_len: u8,
    pub interface: String,
    /// Kernel scope: `global`, `host`, `link`, `site`, or the hex value.
    pub scope: String,
    /// Address flags that matter: `tentative`, `dadfailed`, `deprecated`, `temporary`, ...
    pub flags: Vec<&'static str>,
}

/// Parses `/proc/net/if_inet6`: address, ifindex, prefix length, scope, flags, name.
pub(crate) fn parse_if_inet6(text: &str) -> Vec<Inet6Addr> {
    const FLAGS: [(u32, &str); 7] = [
        (0x01, "temporary"),
        (0x02, "nodad"),
        (0x04, "optimistic"),
        (0x08, "dadfailed"),
        (0x20, "deprecated"),
        (0x40, "tentative"),
        (0x80, "permanent"),
    ];
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 {
                return None;
            }
            let scope = match u32::from_str_radix(f[3], 16).ok()? {
                0x00 => "global".to_owned(),
                0x10 => "host".to_owned(),
                0x20 => "link".to_owned(),
                0x40 => "site".to_owned(),
                other => format!("{other:#04x}"),
            };
            let flag_bits = u32::from_str_radix(f[4], 16).ok()?;
            Some(Inet6Addr {
                address: parse_hex_v6(f[0])?,
                prefix_len: u8::from_str_radix(f[2], 16).ok()?,
                interface: f[5].to_owned(),
                scope,
                flags: FLAGS
                    .iter()
                    .filter(|(bit, _)| flag_bits & bit != 0)
                    .map(|(_, name)| *name)
                    .collect(),
            })
        })
        .collect()
}

fn parse_hex_v6(s: &str) -> Option<Ipv6Addr> {
    if s.len() != 32 {
        return None;
    }
    u128::from_str_radix(s, 16).ok().map(Ipv6Addr::from)
}

/// IPv4 addresses per interface with their prefix length, from `getifaddrs(3)`.
pub(crate) fn ipv4_addresses() -> Vec<(String, Ipv4Addr, u8)> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter_map(|ifa| {
            let ip = ifa.address?.as_sockaddr_in()?.ip();
            let prefix = ifa
                .netmask
                .and_then(|m| {
                    m.as_sockaddr_in()
                        .map(|m| u32::from(m.ip()).count_ones() as u8)
                })
                .unwrap_or(32);
            Some((ifa.interface_name, ip, prefix))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_v4_default_and_others() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t0002A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
wg0\t00000000\t00000000\t0001\t0\t0\t50\t00000000\t0\t0\t0
";
        let r = parse_route_v4(text);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].interface, "eth0");
        let gw = u32::from_str_radix("0102A8C0", 16).unwrap().to_ne_bytes();
        assert_eq!(r[0].gateway, Some(IpAddr::V4(Ipv4Addr::from(gw))));
        if cfg!(target_endian = "little") {
            assert_eq!(r[0].gateway, Some("192.168.2.1".parse().unwrap()));
        }
        assert_eq!(r[0].metric, 100);
        assert_eq!(r[1].gateway, None);
        assert!(parse_route_v4("Iface\n").is_empty());
        assert!(parse_route_v4("garbage line\n\n zz zz").is_empty());
    }

    #[test]
    fn route_v6_default_skips_the_reject_entry() {
        let text = "\
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth0
20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo
";
        let r = parse_route_v6(text);
        assert_eq!(
            r,
            vec![DefaultRoute {
                interface: "eth0".into(),
                gateway: Some("fe80::1".parse().unwrap()),
                metric: 0x400,
            }]
        );
        assert!(parse_route_v6(text.lines().nth(2).unwrap()).is_empty());
    }

    #[test]
    fn if_inet6_scope_and_flags() {
        let text = "\
00000000000000000000000000000001 01 80 10 80       lo
20010db8000000000000000000000010 01 80 00 c2       lo
fe800000000000000000000000000001 02 40 20 80     eth0
";
        let a = parse_if_inet6(text);
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].address, Ipv6Addr::LOCALHOST);
        assert_eq!(a[0].scope, "host");
        assert_eq!(a[0].prefix_len, 128);
        assert_eq!(a[1].flags, ["nodad", "tentative", "permanent"]);
        assert_eq!(a[1].scope, "global");
        assert_eq!(a[2].interface, "eth0");
        assert_eq!(a[2].scope, "link");
        assert_eq!(a[2].prefix_len, 64);
        assert!(parse_if_inet6("short line\n0000 01 80 10 80 lo").is_empty());
    }
}
