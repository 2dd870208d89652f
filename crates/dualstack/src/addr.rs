//! Address parsing, classification and conversion: pure functions, no I/O.
//!
//! - [`parse`] reads every text form people write: IPv4, IPv6 (RFC 4291 §2.2, including an
//!   embedded dotted quad), a zone (`fe80::1%lo`), brackets and an optional port.
//! - [`classify`] says what an address is: the RFC 3493 `IN6_IS_ADDR_*` tests (UNIX
//!   Network Programming §12.4), the multicast scopes, and the entry of the IANA
//!   special-purpose registries (RFC 6890) that covers it, with what it embeds (6to4,
//!   Teredo, NAT64, mapped and compatible IPv4).
//! - Networks: [`Cidr`] (`198.51.100.0/24`, `2001:db8::/32`) and sets of them
//!   ([`TrustedProxies`]).
//! - Conversions: [`unmap`], [`to_mapped`], [`reverse_name`], [`scope_id`], [`nat64_extract`],
//!   [`nat64_synthesize`].
//!
//! ```
//! use dualstack::addr::{self, Class};
//! let a = addr::parse("[2002:c000:204::1]:80").unwrap();
//! let c = addr::classify(a.ip);
//! assert!(c.classes.contains(&Class::SixToFour));
//! assert_eq!(c.embedded_ipv4.unwrap().address.to_string(), "192.0.2.4");
//! assert!(!c.globally_reachable);
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

mod cidr;
mod registry;
#[cfg(feature = "server")]
pub(crate) mod text;

pub use cidr::{Cidr, CidrError, TrustedProxies};

/// An address as written by a person: IP, optional zone (`%lo`), optional port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ParsedAddr {
    /// The IP address.
    pub ip: IpAddr,
    /// The IPv6 zone (scope) after `%`, e.g. `lo` or `2`, kept as written.
    pub zone: Option<String>,
    /// The port, when one was given (`192.0.2.1:80`, `[::1]:80`).
    pub port: Option<u16>,
}

impl fmt::Display for ParsedAddr {
    /// The canonical text: RFC 5952 for IPv6, brackets when there is a port.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let zone = self
            .zone
            .as_deref()
            .map(|z| format!("%{z}"))
            .unwrap_or_default();
        match (self.ip, self.port) {
            (IpAddr::V6(ip), Some(p)) => write!(f, "[{ip}{zone}]:{p}"),
            (ip, Some(p)) => write!(f, "{ip}:{p}"),
            (ip, None) => write!(f, "{ip}{zone}"),
        }
    }
}

/// Why a string is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address {input:?}: {reason}")]
pub struct ParseError {
    /// The text that failed to parse.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Parse `192.0.2.1`, `2001:db8::1`, `fe80::1%lo`, `[::1]`, `[::1]:80`, `192.0.2.1:80`,
/// `[fe80::1%eth0]:22`, `::ffff:192.0.2.1` and every other RFC 4291 §2.2 text form.
/// Leading and trailing white space is ignored. Host names are not resolved.
///
/// ```
/// let a = dualstack::addr::parse("[fe80::1%lo]:80").unwrap();
/// assert_eq!(a.zone.as_deref(), Some("lo"));
/// assert_eq!(a.port, Some(80));
/// assert!(dualstack::addr::parse("1.2.3.4.5").is_err());
/// ```
///
/// # Errors
/// [`ParseError`] naming the input and what is wrong with it.
pub fn parse(input: &str) -> Result<ParsedAddr, ParseError> {
    let err = |reason| ParseError {
        input: input.to_owned(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or_else(|| err("missing ']'"))?;
        let port = match after {
            "" => None,
            p => {
                let p = p
                    .strip_prefix(':')
                    .ok_or_else(|| err("unexpected text after ']'"))?;
                Some(parse_port(p).ok_or_else(|| err("invalid port (0-65535)"))?)
            }
        };
        if inside.contains('.') && !inside.contains(':') {
            return Err(err("brackets are for IPv6 addresses"));
        }
        (inside, port)
    } else if s.matches(':').count() == 1 {
        // Exactly one colon: IPv4 with a port (an IPv6 address has at least two).
        let (h, p) = s.split_once(':').unwrap_or((s, ""));
        (
            h,
            Some(parse_port(p).ok_or_else(|| err("invalid port (0-65535)"))?),
        )
    } else {
        (s, None)
    };
    let (ip_text, zone) = match host.split_once('%') {
        Some((_, "")) => return Err(err("empty zone after '%'")),
        Some((_, z)) if !z.bytes().all(|b| b.is_ascii_graphic() && b != b'%') => {
            return Err(err("invalid zone after '%'"))
        }
        Some((ip, zone)) => (ip, Some(zone.to_owned())),
        None => (host, None),
    };
    let ip: IpAddr = ip_text.parse().map_err(|_| {
        if ip_text.contains(':') {
            err("not a valid IPv6 address")
        } else if ip_text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            err("not a valid IPv4 address (four decimal numbers 0-255, no leading zeros)")
        } else {
            err("not an IP address (host names are not resolved here; try `dualstack resolve`)")
        }
    })?;
    if zone.is_some() && ip.is_ipv4() {
        return Err(err("a zone ('%') is only valid on IPv6 addresses"));
    }
    Ok(ParsedAddr { ip, zone, port })
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

/// `::ffff:a.b.c.d` → `a.b.c.d`; every other address unchanged.
///
/// Use it on every address a dual socket reports before showing or comparing it.
///
/// ```
/// use std::net::IpAddr;
/// let ip: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
/// assert_eq!(dualstack::addr::unmap(ip).to_string(), "192.0.2.1");
/// ```
pub fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// [`unmap`] for a socket address (the port is kept, IPv6 flow info and scope dropped).
pub fn unmap_socket(sa: SocketAddr) -> SocketAddr {
    match sa {
        SocketAddr::V6(v6) if v6.ip().to_ipv4_mapped().is_some() => {
            SocketAddr::new(unmap(sa.ip()), sa.port())
        }
        other => other,
    }
}

/// The IPv6 scope id (`sin6_scope_id`) for a zone as written after `%`: a number is taken
/// as it is (`fe80::1%2`), a name is looked up as an interface (`fe80::1%eth0`,
/// `if_nametoindex(3)`, RFC 4007 §11.2). The one place that turns a zone into a scope id,
/// for listeners and connects alike; unlike the rest of this module it asks the OS.
///
/// ```
/// assert_eq!(dualstack::addr::scope_id("7").unwrap(), 7);
/// assert!(dualstack::addr::scope_id("no-such-interface0").is_err());
/// ```
///
/// # Errors
/// The OS error when no interface has that name (`ENODEV`).
pub fn scope_id(zone: &str) -> std::io::Result<u32> {
    match zone.parse::<u32>() {
        Ok(n) => Ok(n),
        Err(_) => nix::net::if_::if_nametoindex(zone).map_err(std::io::Error::from),
    }
}

/// `a.b.c.d` → `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2).
pub fn to_mapped(v4: Ipv4Addr) -> Ipv6Addr {
    v4.to_ipv6_mapped()
}

pub use dualstack_eyeballs::Family;

/// The reverse-DNS name of an address: `4.2.0.192.in-addr.arpa.` or the nibble form under
/// `ip6.arpa.` (RFC 3596 §2.5). A mapped address gets its IPv6 name; [`unmap`] first to
/// look it up as IPv4.
///
/// ```
/// let ip = "2001:db8::1".parse().unwrap();
/// assert!(dualstack::addr::reverse_name(ip).starts_with("1.0.0.0.0.0.0.0"));
/// ```
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa.")
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(73);
            for byte in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            s.push_str("ip6.arpa.");
            s
        }
    }
}

/// The IPv4 address inside an RFC 6052 IPv4-embedded IPv6 address, for a NAT64 prefix of
/// `prefix_len` bits (32, 40, 48, 56, 64 or 96). Bits 64–71 (the "u" octet) are skipped.
/// `None` for any other prefix length.
pub fn nat64_extract(ip: Ipv6Addr, prefix_len: u8) -> Option<Ipv4Addr> {
    dualstack_eyeballs::nat64::extract(ip, prefix_len)
}

/// Synthesize the IPv6 address for `v4` under a NAT64 `prefix` of `prefix_len` bits
/// (RFC 6052 §2.2; 32, 40, 48, 56, 64 or 96). The prefix's bits past `prefix_len` are
/// ignored; the "u" octet and the suffix are zero. `None` for any other prefix length.
///
/// ```
/// let p = "64:ff9b::".parse().unwrap();
/// let v6 = dualstack::addr::nat64_synthesize(p, 96, "192.0.2.33".parse().unwrap());
/// assert_eq!(v6.unwrap().to_string(), "64:ff9b::c000:221");
/// ```
pub fn nat64_synthesize(prefix: Ipv6Addr, prefix_len: u8, v4: Ipv4Addr) -> Option<Ipv6Addr> {
    dualstack_eyeballs::nat64::synthesize(prefix, prefix_len, v4)
}

/// One thing an address is. Serialized in kebab-case (`v4-mapped`, `multicast-link-local`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Class {
    // --- RFC 3493 IN6_IS_ADDR_* tests (UNP §12.4) ---
    /// `::` (IN6_IS_ADDR_UNSPECIFIED) or 0.0.0.0.
    Unspecified,
    /// `::1` (IN6_IS_ADDR_LOOPBACK) or 127.0.0.0/8.
    Loopback,
    /// ff00::/8 (IN6_IS_ADDR_MULTICAST) or 224.0.0.0/4.
    Multicast,
    /// fe80::/10 (IN6_IS_ADDR_LINKLOCAL) or 169.254.0.0/16 (RFC 3927).
    LinkLocal,
    /// fec0::/10 (IN6_IS_ADDR_SITELOCAL), deprecated by RFC 3879.
    SiteLocal,
    /// ::ffff:0:0/96 (IN6_IS_ADDR_V4MAPPED, RFC 4291 §2.5.5.2).
    V4Mapped,
    /// ::/96 but `::` and `::1` (IN6_IS_ADDR_V4COMPAT), deprecated by RFC 4291 §2.5.5.1.
    V4Compatible,
    /// ff01::/16 and ff11::/16 (IN6_IS_ADDR_MC_NODELOCAL; RFC 4291 calls it interface-local).
    MulticastInterfaceLocal,
    /// ffx2::/16 (IN6_IS_ADDR_MC_LINKLOCAL), or 224.0.0.0/24 (local network control).
    MulticastLinkLocal,
    /// ffx3::/16 realm-local (RFC 7346).
    MulticastRealmLocal,
    /// ffx4::/16 admin-local (RFC 7346).
    MulticastAdminLocal,
    /// ffx5::/16 (IN6_IS_ADDR_MC_SITELOCAL).
    MulticastSiteLocal,
    /// ffx8::/16 (IN6_IS_ADDR_MC_ORGLOCAL), or 239.0.0.0/8 (administratively scoped, RFC 2365).
    MulticastOrgLocal,
    /// ffxe::/16 (IN6_IS_ADDR_MC_GLOBAL).
    MulticastGlobal,
    // --- IANA IPv6 special-purpose registry ---
    /// fc00::/7 unique local addresses (RFC 4193).
    UniqueLocal,
    /// 2001:db8::/32 (RFC 3849) and 3fff::/20 (RFC 9637); for IPv4 the three TEST-NETs
    /// 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 (RFC 5737).
    Documentation,
    /// 2002::/16 6to4 (RFC 3056), with the IPv4 address in bits 16–47.
    SixToFour,
    /// 2001::/32 Teredo (RFC 4380), with the server and the obfuscated client inside.
    Teredo,
    /// 64:ff9b::/96 well-known NAT64 prefix (RFC 6052).
    Nat64,
    /// 64:ff9b:1::/48 local-use NAT64 prefix (RFC 8215).
    Nat64LocalUse,
    /// 2001:2::/48 (RFC 5180) or 198.18.0.0/15 (RFC 2544).
    Benchmarking,
    /// 100::/64 discard-only (RFC 6666).
    DiscardOnly,
    /// 2001:10::/28 ORCHID, deprecated (RFC 4843).
    Orchid,
    /// 2001:20::/28 ORCHIDv2 (RFC 7343).
    OrchidV2,
    /// 2001::/23 IETF protocol assignments (RFC 2928), or 192.0.0.0/24 (RFC 6890).
    IetfProtocolAssignment,
    /// 5f00::/16 SRv6 SIDs (RFC 9602).
    Srv6Sid,
    /// 2000::/3 global unicast (RFC 4291 §2.4), outside every special-purpose block.
    GlobalUnicast,
    // --- IPv4 ---
    /// 0.0.0.0/8 "this network" (RFC 791, RFC 1122 §3.2.1.3).
    ThisNetwork,
    /// 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918).
    Private,
    /// 100.64.0.0/10 shared address space for carrier-grade NAT (RFC 6598).
    Shared,
    /// 255.255.255.255 limited broadcast (RFC 919).
    Broadcast,
    /// 240.0.0.0/4 reserved for future use (RFC 1112); for IPv6, space outside every
    /// allocation and special block ("Reserved by IETF", e.g. 4000::/2).
    Reserved,
    /// 192.88.99.0/24 6to4 relay anycast, deprecated (RFC 7526).
    SixToFourRelay,
    /// 192.0.0.0/29 DS-Lite (RFC 6333).
    DsLite,
    /// An address in no special block: ordinary public unicast.
    Public,
}

impl Class {
    /// The kebab-case name used in `--json` and human output.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// How an IPv4 address sits inside an IPv6 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Embedding {
    /// ::ffff:a.b.c.d
    V4Mapped,
    /// ::a.b.c.d
    V4Compatible,
    /// 2002:AABB:CCDD::/48
    SixToFour,
    /// NAT64 (RFC 6052), well-known or local-use prefix.
    Nat64,
}

/// An IPv4 address found inside an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Embedded {
    /// The IPv4 address.
    pub address: Ipv4Addr,
    /// How it is embedded.
    pub how: Embedding,
}

/// The parts of a Teredo address (RFC 4380 §4): `2001:0:SSSS:SSSS:FLAG:PORT:CLNT:CLNT`,
/// with the client port and address stored bit-inverted ("obfuscated").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Teredo {
    /// The Teredo server's IPv4 address.
    pub server: Ipv4Addr,
    /// The client's public (NAT-mapped) IPv4 address, de-obfuscated.
    pub client: Ipv4Addr,
    /// The client's public UDP port, de-obfuscated.
    pub port: u16,
    /// The flags field.
    pub flags: u16,
}

/// What [`classify`] found out about an address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Classification {
    /// The address in canonical text (RFC 5952 for IPv6).
    pub address: IpAddr,
    /// The family of the address as written (a mapped address is IPv6 here).
    pub family: Family,
    /// Every class that applies, the RFC 3493 tests first, then the registry entry.
    pub classes: Vec<Class>,
    /// The name of the IANA special-purpose registry entry covering it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<&'static str>,
    /// The RFC that defines that entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rfc: Option<&'static str>,
    /// Whether packets to it can cross the public Internet ("Globally Reachable" in the
    /// IANA registries; multicast: only global scope).
    pub globally_reachable: bool,
    /// The IPv4 address embedded in an IPv6 one (mapped, compatible, 6to4, NAT64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedded_ipv4: Option<Embedded>,
    /// The parts of a Teredo address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teredo: Option<Teredo>,
    /// For an IPv4 address, its IPv4-mapped IPv6 form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapped: Option<Ipv6Addr>,
    /// The reverse-DNS name (`in-addr.arpa.` / `ip6.arpa.`).
    pub reverse_name: String,
}

/// Classify an address: RFC 3493 tests, multicast scope, IANA registry entry, embedded
/// IPv4, Teredo parts, global reachability and the reverse-DNS name. Pure; never fails.
pub fn classify(ip: IpAddr) -> Classification {
    match ip {
        IpAddr::V4(a) => classify_v4(a),
        IpAddr::V6(a) => classify_v6(a),
    }
}

fn push(classes: &mut Vec<Class>, c: Class) {
    if !classes.contains(&c) {
        classes.push(c);
    }
}

fn classify_v4(a: Ipv4Addr) -> Classification {
    let mut classes = Vec::new();
    let block = registry::lookup_v4(a);
    let mut global = block.is_none_or(|b| b.global);
    if a.is_multicast() {
        push(&mut classes, Class::Multicast);
        let o = a.octets();
        if o[..3] == [224, 0, 0] {
            push(&mut classes, Class::MulticastLinkLocal);
            global = false;
        } else if o[0] == 239 {
            push(&mut classes, Class::MulticastOrgLocal);
            global = false;
        } else {
            push(&mut classes, Class::MulticastGlobal);
        }
    }
    if let Some(b) = block {
        push(&mut classes, b.class);
    } else {
        push(&mut classes, Class::Public);
    }
    Classification {
        address: IpAddr::V4(a),
        family: Family::V4,
        classes,
        registry: block.map(|b| b.name),
        rfc: block.map(|b| b.rfc),
        globally_reachable: global,
        embedded_ipv4: None,
        teredo: None,
        mapped: Some(a.to_ipv6_mapped()),
        reverse_name: reverse_name(IpAddr::V4(a)),
    }
}

fn classify_v6(a: Ipv6Addr) -> Classification {
    let seg = a.segments();
    let mut classes = Vec::new();
    let block = registry::lookup_v6(a);
    let mut global = match block {
        Some(b) => b.global,
        // Outside every special block: only 2000::/3 is allocated global unicast.
        None => seg[0] & 0xe000 == 0x2000,
    };
    if a.is_multicast() {
        push(&mut classes, Class::Multicast);
        let scope = match seg[0] & 0x000f {
            0x1 => Some(Class::MulticastInterfaceLocal),
            0x2 => Some(Class::MulticastLinkLocal),
            0x3 => Some(Class::MulticastRealmLocal),
            0x4 => Some(Class::MulticastAdminLocal),
            0x5 => Some(Class::MulticastSiteLocal),
            0x8 => Some(Class::MulticastOrgLocal),
            0xe => Some(Class::MulticastGlobal),
            _ => None,
        };
        global = scope == Some(Class::MulticastGlobal);
        if let Some(s) = scope {
            push(&mut classes, s);
        }
    }
    if let Some(b) = block {
        push(&mut classes, b.class);
    }
    if block.is_none() && seg[0] & 0xe000 == 0x2000 {
        push(&mut classes, Class::GlobalUnicast);
    }
    if classes.is_empty() {
        // Outside 2000::/3, fc00::/7, fe80::/10, ff00::/8 and every special block: the
        // IANA IPv6 Address Space registry says "Reserved by IETF".
        classes.push(Class::Reserved);
    }
    let embedded_ipv4 = match block.map(|b| b.class) {
        Some(Class::V4Mapped) => Some((nat64_extract(a, 96), Embedding::V4Mapped)),
        Some(Class::V4Compatible) => Some((nat64_extract(a, 96), Embedding::V4Compatible)),
        Some(Class::Nat64) => Some((nat64_extract(a, 96), Embedding::Nat64)),
        Some(Class::Nat64LocalUse) => Some((nat64_extract(a, 48), Embedding::Nat64)),
        Some(Class::SixToFour) => {
            let o = a.octets();
            Some((
                Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])),
                Embedding::SixToFour,
            ))
        }
        _ => None,
    }
    .and_then(|(v4, how)| v4.map(|address| Embedded { address, how }));
    let teredo = (block.map(|b| b.class) == Some(Class::Teredo)).then(|| Teredo {
        server: Ipv4Addr::from((u32::from(seg[2]) << 16) | u32::from(seg[3])),
        flags: seg[4],
        port: !seg[5],
        client: Ipv4Addr::from(!((u32::from(seg[6]) << 16) | u32::from(seg[7]))),
    });
    Classification {
        address: IpAddr::V6(a),
        family: Family::V6,
        classes,
        registry: block.map(|b| b.name),
        rfc: block.map(|b| b.rfc),
        globally_reachable: global,
        embedded_ipv4,
        teredo,
        mapped: None,
        reverse_name: reverse_name(IpAddr::V6(a)),
    }
}
