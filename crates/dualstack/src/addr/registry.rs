//! The IANA special-purpose address registries (RFC 6890) as tables: IPv6 and IPv4 blocks
//! with their name, RFC and "Globally Reachable" column, plus the multicast, reserved and
//! private space [`classify`](super::classify) also names. Longest match wins.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::Class;

/// One row of an IANA special-purpose registry.
pub(super) struct Block {
    net: u128,
    len: u8,
    /// What the block is.
    pub(super) class: Class,
    /// The registry's name for it.
    pub(super) name: &'static str,
    /// The RFC that defines it.
    pub(super) rfc: &'static str,
    /// The registry's "Globally Reachable" column.
    pub(super) global: bool,
}

/// A registry row for an IPv6 prefix written as eight 16-bit groups.
const fn v6(
    segs: [u16; 8],
    len: u8,
    class: Class,
    name: &'static str,
    rfc: &'static str,
    global: bool,
) -> Block {
    let mut net = 0u128;
    let mut i = 0;
    while i < 8 {
        net = (net << 16) | segs[i] as u128;
        i += 1;
    }
    Block {
        net,
        len,
        class,
        name,
        rfc,
        global,
    }
}

/// A registry row for an IPv4 prefix, kept in the low 32 bits.
const fn v4(
    o: [u8; 4],
    len: u8,
    class: Class,
    name: &'static str,
    rfc: &'static str,
    global: bool,
) -> Block {
    let hi = (o[0] as u16) << 8 | o[1] as u16;
    let lo = (o[2] as u16) << 8 | o[3] as u16;
    v6([0, 0, 0, 0, 0, 0, hi, lo], len, class, name, rfc, global)
}

/// IANA IPv6 Special-Purpose Address Registry (plus the RFC 4291 blocks the RFC 3493
/// tests cover). Longest match wins.
const V6_BLOCKS: &[Block] = &[
    v6(
        [0, 0, 0, 0, 0, 0, 0, 0],
        128,
        Class::Unspecified,
        "Unspecified Address",
        "RFC 4291",
        false,
    ),
    v6(
        [0, 0, 0, 0, 0, 0, 0, 1],
        128,
        Class::Loopback,
        "Loopback Address",
        "RFC 4291",
        false,
    ),
    v6(
        [0, 0, 0, 0, 0, 0xffff, 0, 0],
        96,
        Class::V4Mapped,
        "IPv4-mapped Address",
        "RFC 4291",
        false,
    ),
    v6(
        [0, 0, 0, 0, 0, 0, 0, 0],
        96,
        Class::V4Compatible,
        "IPv4-compatible Address (deprecated)",
        "RFC 4291",
        false,
    ),
    v6(
        [0x64, 0xff9b, 0, 0, 0, 0, 0, 0],
        96,
        Class::Nat64,
        "IPv4-IPv6 Translat.",
        "RFC 6052",
        true,
    ),
    v6(
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        Class::Nat64LocalUse,
        "IPv4-IPv6 Translat. (local-use)",
        "RFC 8215",
        false,
    ),
    v6(
        [0x100, 0, 0, 0, 0, 0, 0, 0],
        64,
        Class::DiscardOnly,
        "Discard-Only Address Block",
        "RFC 6666",
        false,
    ),
    v6(
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        Class::IetfProtocolAssignment,
        "IETF Protocol Assignments",
        "RFC 2928",
        false,
    ),
    v6(
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        32,
        Class::Teredo,
        "TEREDO",
        "RFC 4380",
        false,
    ),
    v6(
        [0x2001, 1, 0, 0, 0, 0, 0, 1],
        128,
        Class::IetfProtocolAssignment,
        "Port Control Protocol Anycast",
        "RFC 7723",
        true,
    ),
    v6(
        [0x2001, 1, 0, 0, 0, 0, 0, 2],
        128,
        Class::IetfProtocolAssignment,
        "Traversal Using Relays around NAT Anycast",
        "RFC 8155",
        true,
    ),
    v6(
        [0x2001, 1, 0, 0, 0, 0, 0, 3],
        128,
        Class::IetfProtocolAssignment,
        "DNS-SD Service Registration Protocol Anycast",
        "RFC 9665",
        true,
    ),
    v6(
        [0x2001, 2, 0, 0, 0, 0, 0, 0],
        48,
        Class::Benchmarking,
        "Benchmarking",
        "RFC 5180",
        false,
    ),
    v6(
        [0x2001, 3, 0, 0, 0, 0, 0, 0],
        32,
        Class::IetfProtocolAssignment,
        "AMT",
        "RFC 7450",
        true,
    ),
    v6(
        [0x2001, 4, 0x112, 0, 0, 0, 0, 0],
        48,
        Class::IetfProtocolAssignment,
        "AS112-v6",
        "RFC 7535",
        true,
    ),
    v6(
        [0x2001, 0x10, 0, 0, 0, 0, 0, 0],
        28,
        Class::Orchid,
        "ORCHID (deprecated)",
        "RFC 4843",
        false,
    ),
    v6(
        [0x2001, 0x20, 0, 0, 0, 0, 0, 0],
        28,
        Class::OrchidV2,
        "ORCHIDv2",
        "RFC 7343",
        true,
    ),
    v6(
        [0x2001, 0x30, 0, 0, 0, 0, 0, 0],
        28,
        Class::IetfProtocolAssignment,
        "Drone Remote ID Protocol Entity Tags (DETs) Prefix",
        "RFC 9374",
        true,
    ),
    v6(
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        Class::Documentation,
        "Documentation",
        "RFC 3849",
        false,
    ),
    v6(
        [0x2002, 0, 0, 0, 0, 0, 0, 0],
        16,
        Class::SixToFour,
        "6to4",
        "RFC 3056",
        false,
    ),
    v6(
        [0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0],
        48,
        Class::GlobalUnicast,
        "Direct Delegation AS112 Service",
        "RFC 7534",
        true,
    ),
    v6(
        [0x3fff, 0, 0, 0, 0, 0, 0, 0],
        20,
        Class::Documentation,
        "Documentation",
        "RFC 9637",
        false,
    ),
    v6(
        [0x5f00, 0, 0, 0, 0, 0, 0, 0],
        16,
        Class::Srv6Sid,
        "Segment Routing (SRv6) SIDs",
        "RFC 9602",
        false,
    ),
    v6(
        [0xfc00, 0, 0, 0, 0, 0, 0, 0],
        7,
        Class::UniqueLocal,
        "Unique-Local",
        "RFC 4193",
        false,
    ),
    v6(
        [0xfe80, 0, 0, 0, 0, 0, 0, 0],
        10,
        Class::LinkLocal,
        "Link-Local Unicast",
        "RFC 4291",
        false,
    ),
    v6(
        [0xfec0, 0, 0, 0, 0, 0, 0, 0],
        10,
        Class::SiteLocal,
        "Site-Local Unicast (deprecated)",
        "RFC 3879",
        false,
    ),
];

/// IANA IPv4 Special-Purpose Address Registry plus multicast, reserved and private space.
const V4_BLOCKS: &[Block] = &[
    v4(
        [0, 0, 0, 0],
        8,
        Class::ThisNetwork,
        "\"This network\"",
        "RFC 791",
        false,
    ),
    v4(
        [0, 0, 0, 0],
        32,
        Class::Unspecified,
        "\"This host on this network\"",
        "RFC 1122",
        false,
    ),
    v4(
        [10, 0, 0, 0],
        8,
        Class::Private,
        "Private-Use",
        "RFC 1918",
        false,
    ),
    v4(
        [100, 64, 0, 0],
        10,
        Class::Shared,
        "Shared Address Space",
        "RFC 6598",
        false,
    ),
    v4(
        [127, 0, 0, 0],
        8,
        Class::Loopback,
        "Loopback",
        "RFC 1122",
        false,
    ),
    v4(
        [169, 254, 0, 0],
        16,
        Class::LinkLocal,
        "Link Local",
        "RFC 3927",
        false,
    ),
    v4(
        [172, 16, 0, 0],
        12,
        Class::Private,
        "Private-Use",
        "RFC 1918",
        false,
    ),
    v4(
        [192, 0, 0, 0],
        24,
        Class::IetfProtocolAssignment,
        "IETF Protocol Assignments",
        "RFC 6890",
        false,
    ),
    v4(
        [192, 0, 0, 0],
        29,
        Class::DsLite,
        "IPv4 Service Continuity Prefix",
        "RFC 7335",
        false,
    ),
    v4(
        [192, 0, 0, 8],
        32,
        Class::IetfProtocolAssignment,
        "IPv4 dummy address",
        "RFC 7600",
        false,
    ),
    v4(
        [192, 0, 0, 9],
        32,
        Class::IetfProtocolAssignment,
        "Port Control Protocol Anycast",
        "RFC 7723",
        true,
    ),
    v4(
        [192, 0, 0, 10],
        32,
        Class::IetfProtocolAssignment,
        "Traversal Using Relays around NAT Anycast",
        "RFC 8155",
        true,
    ),
    v4(
        [192, 0, 0, 170],
        32,
        Class::IetfProtocolAssignment,
        "NAT64/DNS64 Discovery",
        "RFC 7050",
        false,
    ),
    v4(
        [192, 0, 0, 171],
        32,
        Class::IetfProtocolAssignment,
        "NAT64/DNS64 Discovery",
        "RFC 7050",
        false,
    ),
    v4(
        [192, 0, 2, 0],
        24,
        Class::Documentation,
        "Documentation (TEST-NET-1)",
        "RFC 5737",
        false,
    ),
    v4(
        [192, 31, 196, 0],
        24,
        Class::Public,
        "AS112-v4",
        "RFC 7535",
        true,
    ),
    v4(
        [192, 52, 193, 0],
        24,
        Class::Public,
        "AMT",
        "RFC 7450",
        true,
    ),
    v4(
        [192, 88, 99, 0],
        24,
        Class::SixToFourRelay,
        "Deprecated (6to4 Relay Anycast)",
        "RFC 7526",
        false,
    ),
    v4(
        [192, 168, 0, 0],
        16,
        Class::Private,
        "Private-Use",
        "RFC 1918",
        false,
    ),
    v4(
        [192, 175, 48, 0],
        24,
        Class::Public,
        "Direct Delegation AS112 Service",
        "RFC 7534",
        true,
    ),
    v4(
        [198, 18, 0, 0],
        15,
        Class::Benchmarking,
        "Benchmarking",
        "RFC 2544",
        false,
    ),
    v4(
        [198, 51, 100, 0],
        24,
        Class::Documentation,
        "Documentation (TEST-NET-2)",
        "RFC 5737",
        false,
    ),
    v4(
        [203, 0, 113, 0],
        24,
        Class::Documentation,
        "Documentation (TEST-NET-3)",
        "RFC 5737",
        false,
    ),
    v4(
        [224, 0, 0, 0],
        4,
        Class::Multicast,
        "Multicast",
        "RFC 5771",
        true,
    ),
    v4(
        [240, 0, 0, 0],
        4,
        Class::Reserved,
        "Reserved",
        "RFC 1112",
        false,
    ),
    v4(
        [255, 255, 255, 255],
        32,
        Class::Broadcast,
        "Limited Broadcast",
        "RFC 919",
        false,
    ),
];

fn longest_match(blocks: &'static [Block], addr: u128, bits: u8) -> Option<&'static Block> {
    blocks
        .iter()
        .filter(|b| {
            let shift = u32::from(bits - b.len);
            // A /0 never occurs; checked_shr keeps a full-width shift from overflowing.
            addr.checked_shr(shift).unwrap_or(0) == b.net.checked_shr(shift).unwrap_or(0)
        })
        .max_by_key(|b| b.len)
}

/// The most specific IPv4 registry row that covers `a`.
pub(super) fn lookup_v4(a: Ipv4Addr) -> Option<&'static Block> {
    longest_match(V4_BLOCKS, u128::from(u32::from(a)), 32)
}

/// The most specific IPv6 registry row that covers `a`.
pub(super) fn lookup_v6(a: Ipv6Addr) -> Option<&'static Block> {
    longest_match(V6_BLOCKS, u128::from(a), 128)
}
