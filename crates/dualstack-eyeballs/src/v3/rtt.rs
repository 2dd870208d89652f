//! The Connection Attempt Delay from measured round-trip times.
//!
//! RFC 8305 §5 and draft-ietf-happy-happyeyeballs-v3-04 §6: the delay before the next
//! attempt should be about when the previous attempt would retransmit its first handshake
//! packet, "based on the retransmission timer", and may use "historical RTT data gathered
//! from other connections to the same host or prefix"; it MUST NOT be below 10 ms, is
//! RECOMMENDED not below 100 ms (the Minimum Connection Attempt Delay) and SHOULD NOT be
//! above 2 s. Without RTT data the draft's default is 250 ms.
//!
//! [`RttTable`] keeps a smoothed RTT per destination network, updated from completed
//! handshakes the way TCP smooths its samples (RFC 6298 §2: SRTT gains 1/8 of each new
//! sample). [`DelayPolicy`] turns the estimate of the address just tried into a delay:
//! `multiplier × SRTT`, clamped to `[floor, ceiling]`, with a [`DelayReason`] that says so
//! in words for `--trace`.
//!
//! # Why per /24 (IPv4) and /64 (IPv6)
//! The RTT that matters is the path's, and hosts behind one path share it. A /64 is one
//! IPv6 link (RFC 4291 §2.5.1, RFC 7421): servers in it sit on the same LAN behind the same
//! router. A /24 is the longest IPv4 prefix generally accepted in BGP, so addresses inside
//! one /24 are routed together from anywhere. Keying per host address would learn nothing
//! for a new address of the same service; keying per local route would lump the whole
//! Internet behind the default route together. A network-sized key also lets a name never
//! seen before use what other names in the same network taught (first contact to a new
//! name in a known data centre gets the short delay). The two families never share a key,
//! so a slow IPv6 path never shortens or lengthens the IPv4 delay.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The attempt delay without RTT data (draft-ietf-happy-happyeyeballs-v3-04 §6, RFC 8305 §8).
pub const DEFAULT_DELAY: Duration = Duration::from_millis(250);
/// The recommended Minimum Connection Attempt Delay (draft §6, RFC 8305 §5).
pub const DEFAULT_FLOOR: Duration = Duration::from_millis(100);
/// The lowest floor allowed: "MUST NOT be less than 10 milliseconds" (RFC 8305 §5).
pub const HARD_FLOOR: Duration = Duration::from_millis(10);
/// The Maximum Connection Attempt Delay (draft §6, RFC 8305 §5).
pub const CEILING: Duration = Duration::from_secs(2);
/// The delay is this many smoothed RTTs: the first retransmission of a handshake packet is
/// not due before about SRTT + 4 × RTTVAR (RFC 6298 §2), and twice the RTT leaves the
/// previous attempt a full extra round trip before the next one competes with it.
pub const DEFAULT_MULTIPLIER: u32 = 2;
/// How long an RTT estimate is trusted (networks change: a laptop moves, a route flaps).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
/// Most networks remembered (the oldest is forgotten first).
pub const DEFAULT_CAPACITY: usize = 256;
/// RTT samples above this are not kept (no handshake takes a minute; a bogus sample
/// should not turn into a 2 s delay for an hour).
pub const MAX_SAMPLE: Duration = Duration::from_secs(60);

/// A destination network: the first 24 bits of an IPv4 address or the first 64 of an IPv6
/// address (an IPv4-mapped IPv6 address counts as IPv4). See the module docs for why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    net: IpAddr,
    len: u8,
}

/// Prefix length used for IPv4 destinations.
pub const V4_PREFIX_LEN: u8 = 24;
/// Prefix length used for IPv6 destinations.
pub const V6_PREFIX_LEN: u8 = 64;

impl Prefix {
    /// The network `ip` belongs to.
    pub fn of(ip: IpAddr) -> Prefix {
        match ip.to_canonical() {
            IpAddr::V4(a) => {
                let bits = u32::from(a) & (u32::MAX << (32 - u32::from(V4_PREFIX_LEN)));
                Prefix {
                    net: IpAddr::V4(Ipv4Addr::from(bits)),
                    len: V4_PREFIX_LEN,
                }
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a) & (u128::MAX << (128 - u32::from(V6_PREFIX_LEN)));
                Prefix {
                    net: IpAddr::V6(Ipv6Addr::from(bits)),
                    len: V6_PREFIX_LEN,
                }
            }
        }
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.net
    }

    /// The prefix length in bits.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// Always false (a prefix here is never empty); present because `len` is.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.len)
    }
}

/// `198.51.100.0/24` or `2001:db8::/64`; only the lengths [`Prefix::of`] produces, with the
/// host bits zero.
impl FromStr for Prefix {
    type Err = String;

    fn from_str(s: &str) -> Result<Prefix, String> {
        let (net, len) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not NETWORK/LENGTH"))?;
        let ip: IpAddr = net
            .parse()
            .map_err(|_| format!("{net:?} is not an IP address"))?;
        let p = Prefix::of(ip);
        if len != p.len.to_string() || p.net != ip {
            return Err(format!(
                "{s:?} is not a /{V4_PREFIX_LEN} or /{V6_PREFIX_LEN} network"
            ));
        }
        Ok(p)
    }
}

/// What the table knows about one network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttEstimate {
    /// The network.
    pub prefix: Prefix,
    /// Smoothed RTT (RFC 6298 SRTT).
    pub srtt: Duration,
    /// RTT variation (RFC 6298 RTTVAR).
    pub rttvar: Duration,
    /// Samples taken (saturating).
    pub samples: u32,
    /// Time since the last sample.
    pub age: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    srtt: Duration,
    rttvar: Duration,
    samples: u32,
    updated: Instant,
}

/// Smoothed RTTs per destination network, bounded in size and age. The caller passes
/// `now`; no clock is read.
#[derive(Debug, Clone)]
pub struct RttTable {
    capacity: usize,
    max_age: Duration,
    entries: HashMap<Prefix, Entry>,
}

impl Default for RttTable {
    fn default() -> Self {
        RttTable::new(DEFAULT_CAPACITY, DEFAULT_MAX_AGE)
    }
}

impl RttTable {
    /// At most `capacity` networks (at least 1), each trusted for `max_age`.
    pub fn new(capacity: usize, max_age: Duration) -> RttTable {
        RttTable {
            capacity: capacity.max(1),
            max_age,
            entries: HashMap::new(),
        }
    }

    /// Take one handshake time to `ip` measured at `now` (RFC 6298 §2.2–§2.3 smoothing).
    /// Samples above [`MAX_SAMPLE`] are ignored.
    pub fn observe(&mut self, now: Instant, ip: IpAddr, rtt: Duration) {
        if rtt > MAX_SAMPLE {
            return;
        }
        let prefix = Prefix::of(ip);
        let fresh = self
            .entries
            .get(&prefix)
            .filter(|e| now.saturating_duration_since(e.updated) <= self.max_age)
            .copied();
        let e = match fresh {
            None => Entry {
                srtt: rtt,
                rttvar: rtt / 2,
                samples: 1,
                updated: now,
            },
            Some(e) => {
                let diff = e.srtt.abs_diff(rtt);
                Entry {
                    rttvar: e.rttvar * 3 / 4 + diff / 4,
                    srtt: e.srtt * 7 / 8 + rtt / 8,
                    samples: e.samples.saturating_add(1),
                    updated: now,
                }
            }
        };
        self.insert(prefix, e);
    }

    fn insert(&mut self, prefix: Prefix, e: Entry) {
        if !self.entries.contains_key(&prefix) && self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.updated)
                .map(|(p, _)| *p);
            if let Some(o) = oldest {
                self.entries.remove(&o);
            }
        }
        self.entries.insert(prefix, e);
    }

    /// The estimate for the network of `ip` at `now`, if younger than the maximum age.
    pub fn get(&self, now: Instant, ip: IpAddr) -> Option<RttEstimate> {
        let prefix = Prefix::of(ip);
        let e = self.entries.get(&prefix)?;
        let age = now.saturating_duration_since(e.updated);
        (age <= self.max_age).then_some(RttEstimate {
            prefix,
            srtt: e.srtt,
            rttvar: e.rttvar,
            samples: e.samples,
            age,
        })
    }

    /// Every estimate younger than the maximum age, youngest first (for saving).
    pub fn export(&self, now: Instant) -> Vec<RttEstimate> {
        let mut v: Vec<RttEstimate> = self
            .entries
            .keys()
            .filter_map(|p| self.get(now, p.net))
            .collect();
        v.sort_by_key(|e| (e.age, e.prefix));
        v
    }

    /// Put back estimates saved earlier ([`export`](Self::export), a history file); an
    /// estimate whose age is over the maximum, or whose SRTT is over [`MAX_SAMPLE`], is
    /// skipped. A network already known keeps the younger of the two.
    pub fn import(&mut self, now: Instant, estimates: &[RttEstimate]) {
        for est in estimates {
            if est.age > self.max_age || est.srtt > MAX_SAMPLE || est.rttvar > MAX_SAMPLE {
                continue;
            }
            let Some(updated) = now.checked_sub(est.age) else {
                continue;
            };
            let newer = self
                .entries
                .get(&est.prefix)
                .is_some_and(|e| e.updated >= updated);
            if !newer {
                self.insert(
                    est.prefix,
                    Entry {
                        srtt: est.srtt,
                        rttvar: est.rttvar,
                        samples: est.samples.max(1),
                        updated,
                    },
                );
            }
        }
    }

    /// Networks remembered (including ones past their age not yet replaced).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// How to turn an RTT estimate into a Connection Attempt Delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelayPolicy {
    multiplier: u32,
    floor: Duration,
    default: Duration,
}

impl Default for DelayPolicy {
    fn default() -> Self {
        DelayPolicy {
            multiplier: DEFAULT_MULTIPLIER,
            floor: DEFAULT_FLOOR,
            default: DEFAULT_DELAY,
        }
    }
}

impl DelayPolicy {
    /// `multiplier × SRTT` (at least 1×), clamped to `[floor, 2 s]`; `floor` is itself
    /// kept within [`HARD_FLOOR`]–[`CEILING`]. Without an estimate: `default`, kept within
    /// [`HARD_FLOOR`]–[`CEILING`] (a configured fixed delay below the floor stays).
    pub fn new(multiplier: u32, floor: Duration, default: Duration) -> DelayPolicy {
        let floor = floor.clamp(HARD_FLOOR, CEILING);
        DelayPolicy {
            multiplier: multiplier.max(1),
            floor,
            default: default.clamp(HARD_FLOOR, CEILING),
        }
    }

    /// The floor in use.
    pub fn floor(&self) -> Duration {
        self.floor
    }

    /// The multiplier in use.
    pub fn multiplier(&self) -> u32 {
        self.multiplier
    }

    /// The delay after starting an attempt to an address of `prefix` whose network has
    /// the estimate `est` (`None`: no history).
    pub fn delay(&self, prefix: Prefix, est: Option<&RttEstimate>) -> AttemptDelay {
        let Some(est) = est else {
            return AttemptDelay {
                delay: self.default,
                reason: DelayReason::NoHistory {
                    prefix,
                    default: self.default,
                },
            };
        };
        let raw = est.srtt.saturating_mul(self.multiplier);
        let (delay, bound) = if raw < self.floor {
            (self.floor, Some(Bound::Floor(self.floor)))
        } else if raw > CEILING {
            (CEILING, Some(Bound::Ceiling(CEILING)))
        } else {
            (raw, None)
        };
        AttemptDelay {
            delay,
            reason: DelayReason::Rtt {
                multiplier: self.multiplier,
                srtt: est.srtt,
                prefix: est.prefix,
                bound,
            },
        }
    }
}

/// A Connection Attempt Delay and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptDelay {
    /// The delay.
    pub delay: Duration,
    /// Why this delay.
    pub reason: DelayReason,
}

/// Which bound clamped the delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The floor (the Minimum Connection Attempt Delay).
    Floor(Duration),
    /// The ceiling (the Maximum Connection Attempt Delay).
    Ceiling(Duration),
}

/// Why an attempt delay was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelayReason {
    /// No RTT known for the network: the default.
    NoHistory {
        /// The network of the address just tried.
        prefix: Prefix,
        /// The default delay.
        default: Duration,
    },
    /// From the smoothed RTT of the network.
    Rtt {
        /// The multiplier.
        multiplier: u32,
        /// The smoothed RTT.
        srtt: Duration,
        /// The network.
        prefix: Prefix,
        /// The bound that clamped the product, if any.
        bound: Option<Bound>,
    },
}

impl fmt::Display for AttemptDelay {
    /// `attempt delay 100 ms: 2 × RTT 0.400 ms to 198.51.100.0/24, floor 100 ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt delay {}: ", crate::Millis(self.delay))?;
        match self.reason {
            DelayReason::NoHistory { prefix, .. } => {
                write!(f, "no RTT history for {prefix}, default")
            }
            DelayReason::Rtt {
                multiplier,
                srtt,
                prefix,
                bound,
            } => {
                write!(f, "{multiplier} × RTT {} to {prefix}", crate::Millis(srtt))?;
                match bound {
                    Some(Bound::Floor(d)) => write!(f, ", floor {}", crate::Millis(d)),
                    Some(Bound::Ceiling(d)) => write!(f, ", ceiling {}", crate::Millis(d)),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn prefixes_are_slash24_and_slash64() {
        assert_eq!(
            Prefix::of(ip("198.51.100.77")).to_string(),
            "198.51.100.0/24"
        );
        assert_eq!(
            Prefix::of(ip("2001:db8:1:2:3:4:5:6")).to_string(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            Prefix::of(ip("::ffff:198.51.100.9")),
            Prefix::of(ip("198.51.100.1"))
        );
        for s in ["198.51.100.0/24", "2001:db8::/64"] {
            assert_eq!(s.parse::<Prefix>().unwrap().to_string(), s);
        }
        for bad in [
            "198.51.100.1/24",
            "198.51.100.0/16",
            "x/24",
            "2001:db8::",
            "",
        ] {
            assert!(bad.parse::<Prefix>().is_err(), "{bad}");
        }
    }

    #[test]
    fn smoothing_follows_rfc6298() {
        let t0 = Instant::now();
        let mut t = RttTable::default();
        t.observe(t0, ip("198.51.100.1"), ms(80));
        let e = t.get(t0, ip("198.51.100.200")).unwrap();
        assert_eq!((e.srtt, e.rttvar, e.samples), (ms(80), ms(40), 1));
        t.observe(t0, ip("198.51.100.2"), ms(160));
        let e = t.get(t0, ip("198.51.100.3")).unwrap();
        // SRTT = 7/8·80 + 1/8·160 = 90; RTTVAR = 3/4·40 + 1/4·80 = 50
        assert_eq!((e.srtt, e.rttvar, e.samples), (ms(90), ms(50), 2));
        assert!(t.get(t0, ip("198.51.101.1")).is_none());
        assert!(t.get(t0, ip("2001:db8::1")).is_none());
    }

    #[test]
    fn estimates_age_out_and_table_is_bounded() {
        let t0 = Instant::now();
        let mut t = RttTable::new(2, Duration::from_secs(10));
        t.observe(t0, ip("192.0.2.1"), ms(5));
        t.observe(t0 + ms(1), ip("198.51.100.1"), ms(5));
        t.observe(t0 + ms(2), ip("203.0.113.1"), ms(5));
        assert_eq!(t.len(), 2);
        assert!(
            t.get(t0 + ms(2), ip("192.0.2.1")).is_none(),
            "oldest evicted"
        );
        let later = t0 + Duration::from_secs(11);
        assert!(t.get(later, ip("203.0.113.1")).is_none(), "aged out");
        // A sample on a stale entry starts afresh instead of smoothing with old data.
        t.observe(later, ip("203.0.113.1"), ms(50));
        assert_eq!(t.get(later, ip("203.0.113.1")).unwrap().srtt, ms(50));
        t.observe(later, ip("203.0.113.1"), Duration::from_secs(61));
        assert_eq!(t.get(later, ip("203.0.113.1")).unwrap().samples, 1);
    }

    #[test]
    fn delay_is_clamped_with_reasons() {
        let t0 = Instant::now();
        let mut t = RttTable::default();
        let p = DelayPolicy::default();
        let v4 = ip("198.51.100.10");
        let d = p.delay(Prefix::of(v4), t.get(t0, v4).as_ref());
        assert_eq!(d.delay, ms(250));
        assert_eq!(
            d.to_string(),
            "attempt delay 250 ms: no RTT history for 198.51.100.0/24, default"
        );
        t.observe(t0, v4, Duration::from_micros(400));
        let d = p.delay(Prefix::of(v4), t.get(t0, v4).as_ref());
        assert_eq!(d.delay, ms(100));
        assert_eq!(
            d.to_string(),
            "attempt delay 100 ms: 2 × RTT 0.400 ms to 198.51.100.0/24, floor 100 ms"
        );
        let low = DelayPolicy::new(2, ms(1), ms(250));
        assert_eq!(low.floor(), HARD_FLOOR);
        let d = low.delay(Prefix::of(v4), t.get(t0, v4).as_ref());
        assert_eq!(d.delay, ms(10));
        let v6 = ip("2001:db8::10");
        t.observe(t0, v6, ms(60));
        let d = p.delay(Prefix::of(v6), t.get(t0, v6).as_ref());
        assert_eq!(d.delay, ms(120));
        assert_eq!(
            d.to_string(),
            "attempt delay 120 ms: 2 × RTT 60.0 ms to 2001:db8::/64"
        );
        t.observe(t0, ip("192.0.2.1"), Duration::from_millis(1500));
        let d = p.delay(
            Prefix::of(ip("192.0.2.1")),
            t.get(t0, ip("192.0.2.1")).as_ref(),
        );
        assert_eq!(
            d.to_string(),
            "attempt delay 2000 ms: 2 × RTT 1500 ms to 192.0.2.0/24, ceiling 2000 ms"
        );
    }

    #[test]
    fn export_import_round_trip_keeps_age() {
        let t0 = Instant::now();
        let mut t = RttTable::default();
        t.observe(t0, ip("198.51.100.1"), ms(3));
        let saved = t.export(t0 + ms(500));
        assert_eq!(saved.len(), 1);
        assert_eq!(saved[0].age, ms(500));
        let t1 = t0 + Duration::from_secs(5);
        let mut u = RttTable::default();
        u.import(t1, &saved);
        let e = u.get(t1, ip("198.51.100.9")).unwrap();
        assert_eq!((e.srtt, e.age), (ms(3), ms(500)));
        let mut stale = saved.clone();
        stale[0].age = DEFAULT_MAX_AGE + ms(1);
        let mut w = RttTable::default();
        w.import(t1, &stale);
        assert!(w.is_empty());
    }
}
