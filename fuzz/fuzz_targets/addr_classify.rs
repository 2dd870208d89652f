//! `addr::classify` on every IPv4 and IPv6 address the fuzzer can reach: never panics,
//! and what it reports is consistent with the address.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dualstack::addr::{self, Family};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // 16 bytes or more: IPv6; 4 to 15: IPv4.
    let ip = if let Some(o) = data.first_chunk::<16>() {
        IpAddr::V6(Ipv6Addr::from(*o))
    } else if let Some(o) = data.first_chunk::<4>() {
        IpAddr::V4(Ipv4Addr::from(*o))
    } else {
        return;
    };
    let c = addr::classify(ip);
    assert_eq!(c.address, ip);
    assert_eq!(c.family, if ip.is_ipv4() { Family::V4 } else { Family::V6 });
    assert!(!c.classes.is_empty(), "{ip}: no class");
    assert_eq!(c.reverse_name, addr::reverse_name(ip));
    if c.embedded_ipv4.is_some() {
        assert!(ip.is_ipv6(), "{ip}: an IPv4 address cannot embed one");
    }
    if let IpAddr::V4(v4) = ip {
        assert_eq!(c.mapped, Some(addr::to_mapped(v4)));
        // The mapped form classifies as mapped and unmaps back.
        assert_eq!(addr::unmap(IpAddr::V6(addr::to_mapped(v4))), ip);
    }
    // Every class has a non-empty kebab-case name (the CLI's --json and text use it).
    for class in &c.classes {
        let n = class.name();
        assert!(
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{n:?}"
        );
    }
});
