//! Service records (SVCB/HTTPS, RFC 9460) as plain values, and the rules that need no
//! network: the name to ask (§9.1), AliasMode against ServiceMode (§2.4), the order of
//! ServiceMode records (§2.4.1), which record a list of answers stands for, and the ALPN set
//! of an endpoint (§7.1.1).
//!
//! The draft (draft-ietf-happy-happyeyeballs-v3-04 §5.2) groups endpoints by service
//! priority, lowest first, and puts addresses that belong to no service last (that is
//! [`groups`](super::groups)). RFC 9460 §2.4.1 asks clients to "apply a random shuffle
//! within a priority level": [`decide`] keeps DNS order, [`shuffle_equal_priority`] does
//! the shuffle from a seed (the machine draws one per run, tests give their own).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How many AliasMode records (and CNAMEs on the way) a lookup follows before giving up:
/// RFC 9460 §2.4.2 asks for a bounded chain, as for CNAMEs. Eight is what common stub
/// resolvers allow for CNAME chains.
pub const MAX_ALIAS_CHAIN: usize = 8;

/// Most ServiceMode records kept from one answer (the rest are dropped): a hostile zone
/// cannot make the machine hold thousands of endpoints.
pub const MAX_SERVICES: usize = 32;

/// Most TargetNames other than the host whose A/AAAA a run asks for (RFC 9460 §7.3); the
/// records of further targets are reached through their hints only.
pub const MAX_TARGETS: usize = 8;

/// Most address hints kept per family and record.
pub const MAX_HINTS: usize = 16;

/// The ALPN id an HTTPS record's endpoint supports without saying so (RFC 9460 §7.1.2:
/// "http/1.1" for the `https` scheme), unless `no-default-alpn` is set.
pub const HTTPS_DEFAULT_ALPN: &str = "http/1.1";

/// The name to ask HTTPS records for (RFC 9460 §9.1): the host itself for port 443,
/// `_PORT._https.HOST` for any other port. The host's final dot, if any, is dropped.
///
/// ```
/// use dualstack_eyeballs::v3::svcb::query_name;
/// assert_eq!(query_name("h.test", 443), "h.test");
/// assert_eq!(query_name("h.test.", 8080), "_8080._https.h.test");
/// ```
pub fn query_name(host: &str, port: u16) -> String {
    let host = host.trim_end_matches('.');
    if port == 443 {
        host.to_owned()
    } else {
        format!("_{port}._https.{host}")
    }
}

/// The origin host a port-prefixed query name stands for (`_8080._https.h.test` →
/// `h.test`); any other name unchanged. Used for a ServiceMode record whose TargetName is
/// "." (RFC 9460 §2.5.2): the port-prefixed owner name holds no addresses of its own.
pub fn origin_of(name: &str) -> &str {
    let name = name.trim_end_matches('.');
    let mut parts = name.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(port), Some("_https"), Some(host))
            if port.len() > 1
                && port.starts_with('_')
                && port[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            host
        }
        _ => name,
    }
}

/// One ServiceMode record (SvcPriority > 0), with the parameters Happy Eyeballs uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ServiceRecord {
    /// SvcPriority: lower goes first (RFC 9460 §2.4.1). Never 0 here.
    pub priority: u16,
    /// The effective TargetName (RFC 9460 §2.5.2: "." already replaced), lower case,
    /// without the final dot: the name whose A/AAAA records are this service's addresses.
    pub target: String,
    /// `port`: the port to connect to instead of the origin's (RFC 9460 §7.2).
    pub port: Option<u16>,
    /// `alpn`: the protocols offered, in the record's order (RFC 9460 §7.1).
    pub alpn: Vec<String>,
    /// `no-default-alpn`: the scheme's default protocol is not offered (RFC 9460 §7.1).
    pub no_default_alpn: bool,
    /// Whether an `ech` configuration is present (RFC 9848); the bytes are not kept.
    pub ech: bool,
    /// `ipv4hint` (RFC 9460 §7.3).
    pub ipv4hint: Vec<Ipv4Addr>,
    /// `ipv6hint` (RFC 9460 §7.3).
    pub ipv6hint: Vec<Ipv6Addr>,
}

impl ServiceRecord {
    /// The endpoint's ALPN set for the `https` scheme (RFC 9460 §7.1.1): the `alpn` list,
    /// then `http/1.1` unless `no-default-alpn`.
    pub fn https_alpn(&self) -> Vec<String> {
        let mut v = self.alpn.clone();
        if !self.no_default_alpn && !v.iter().any(|a| a == HTTPS_DEFAULT_ALPN) {
            v.push(HTTPS_DEFAULT_ALPN.to_owned());
        }
        v
    }

    /// The hints, IPv6 first (RFC 8305 §3 order), at most [`MAX_HINTS`] per family.
    pub fn hints(&self) -> Vec<IpAddr> {
        self.ipv6hint
            .iter()
            .take(MAX_HINTS)
            .map(|&a| IpAddr::V6(a))
            .chain(self.ipv4hint.iter().take(MAX_HINTS).map(|&a| IpAddr::V4(a)))
            .collect()
    }

    /// The port to use: the record's, else the origin's.
    pub fn port_or(&self, origin: u16) -> u16 {
        self.port.unwrap_or(origin)
    }
}

impl fmt::Display for ServiceRecord {
    /// Zone-file-like presentation: `1 svc.h.test. alpn=h2,h3 port=8443 ipv6hint=...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}.", self.priority, self.target)?;
        if !self.alpn.is_empty() {
            write!(f, " alpn={}", self.alpn.join(","))?;
        }
        if self.no_default_alpn {
            f.write_str(" no-default-alpn")?;
        }
        if let Some(p) = self.port {
            write!(f, " port={p}")?;
        }
        if self.ech {
            f.write_str(" ech")?;
        }
        let list = |v: Vec<String>| v.join(",");
        if !self.ipv4hint.is_empty() {
            let v = self.ipv4hint.iter().map(|a| a.to_string()).collect();
            write!(f, " ipv4hint={}", list(v))?;
        }
        if !self.ipv6hint.is_empty() {
            let v = self.ipv6hint.iter().map(|a| a.to_string()).collect();
            write!(f, " ipv6hint={}", list(v))?;
        }
        Ok(())
    }
}

/// One record of an HTTPS/SVCB answer, before the AliasMode/ServiceMode decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawRecord {
    /// SvcPriority 0: go ask `target` instead ("." : no service, §2.5.1).
    Alias {
        /// The TargetName, lower case, without the final dot ("" for ".").
        target: String,
    },
    /// SvcPriority > 0, TargetName as written ("" for ".": the owner name).
    Service(ServiceRecord),
}

/// What one HTTPS/SVCB answer means (RFC 9460 §2.4.1–§2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Follow the alias: ask the same record type for this name.
    Alias(String),
    /// The services, in priority order (stable: equal priorities keep DNS order), "."
    /// targets replaced by the origin of the owner name, at most [`MAX_SERVICES`].
    Services(Vec<ServiceRecord>),
    /// No usable service: no records, an alias to ".", or only malformed ones. Connect
    /// without SVCB (§3.1 of RFC 9460 calls this "fall back").
    NoService,
}

/// Decide what an answer for `owner` means. An AliasMode record wins over any ServiceMode
/// record in the same set (§2.4.1: "the recipient MUST ignore any ServiceMode records").
///
/// ```
/// use dualstack_eyeballs::v3::svcb::{decide, RawRecord, ServiceRecord, Step};
/// let r = |p, t: &str| RawRecord::Service(ServiceRecord { priority: p, target: t.into(), ..Default::default() });
/// let Step::Services(s) = decide("_8080._https.h.test", vec![r(2, "b.test"), r(1, "")]) else { panic!() };
/// assert_eq!((s[0].priority, s[0].target.as_str()), (1, "h.test"));
/// assert_eq!(s[1].target, "b.test");
/// ```
pub fn decide(owner: &str, records: Vec<RawRecord>) -> Step {
    let owner = owner.trim_end_matches('.').to_ascii_lowercase();
    let mut services = Vec::new();
    for r in records {
        match r {
            RawRecord::Alias { target } => {
                let t = target.trim_end_matches('.').to_ascii_lowercase();
                return if t.is_empty() {
                    Step::NoService
                } else {
                    Step::Alias(t)
                };
            }
            RawRecord::Service(mut s) => {
                if s.priority == 0 {
                    continue;
                }
                // RFC 9460 §7.1.1: no-default-alpn without alpn leaves an empty ALPN set.
                if s.no_default_alpn && s.alpn.is_empty() {
                    continue;
                }
                let t = s.target.trim_end_matches('.').to_ascii_lowercase();
                s.target = if t.is_empty() {
                    origin_of(&owner).to_owned()
                } else {
                    t
                };
                s.ipv4hint.truncate(MAX_HINTS);
                s.ipv6hint.truncate(MAX_HINTS);
                services.push(s);
            }
        }
    }
    if services.is_empty() {
        return Step::NoService;
    }
    services.sort_by_key(|s| s.priority);
    services.truncate(MAX_SERVICES);
    Step::Services(services)
}

/// Shuffle records of equal priority (RFC 9460 §2.4.1: "clients SHOULD apply a random
/// shuffle within a priority level ... to ensure uniform load-balancing"); the records end
/// sorted by priority (stable), and records of different priorities are never reordered
/// against each other. `seed` drives a small xorshift generator: one seed, one order.
///
/// ```
/// use dualstack_eyeballs::v3::svcb::{shuffle_equal_priority, ServiceRecord};
/// let r = |p, t: &str| ServiceRecord { priority: p, target: t.into(), ..Default::default() };
/// let mut seen = Vec::new();
/// for seed in 0..32 {
///     let mut v = vec![r(2, "c"), r(1, "a"), r(1, "b")];
///     shuffle_equal_priority(&mut v, seed);
///     assert_eq!(v[2].target, "c");
///     seen.push(v[0].target.clone());
/// }
/// assert!(seen.iter().any(|t| t == "a") && seen.iter().any(|t| t == "b"));
/// ```
pub fn shuffle_equal_priority(records: &mut [ServiceRecord], seed: u64) {
    records.sort_by_key(|r| r.priority);
    let mut rng = XorShift::new(seed);
    let mut start = 0;
    while start < records.len() {
        let p = records[start].priority;
        let len = records[start..]
            .iter()
            .take_while(|r| r.priority == p)
            .count();
        // Fisher-Yates over the run of equal priority.
        let run = &mut records[start..start + len];
        for i in (1..run.len()).rev() {
            run.swap(i, rng.below(i + 1));
        }
        start += len;
    }
}

/// xorshift64* (Vigna 2016), seeded through splitmix64 so that any seed (0 too) gives a
/// good state. Load balancing needs no cryptographic quality.
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        XorShift((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` ≥ 1; the bias of the modulo is below 2^-50 for n ≤ 32).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(p: u16, t: &str) -> RawRecord {
        RawRecord::Service(ServiceRecord {
            priority: p,
            target: t.into(),
            ..Default::default()
        })
    }

    #[test]
    fn query_names_follow_rfc9460_9_1() {
        assert_eq!(query_name("H.test", 443), "H.test");
        assert_eq!(query_name("h.test", 80), "_80._https.h.test");
        assert_eq!(origin_of("_8080._https.h.test."), "h.test");
        assert_eq!(origin_of("_x._https.h.test"), "_x._https.h.test");
        assert_eq!(origin_of("_._https.h.test"), "_._https.h.test");
        assert_eq!(origin_of("h.test"), "h.test");
    }

    #[test]
    fn alias_wins_and_dot_alias_means_no_service() {
        let a = RawRecord::Alias {
            target: "Svc.Example.".into(),
        };
        assert_eq!(
            decide("h.test", vec![svc(1, ""), a]),
            Step::Alias("svc.example".into())
        );
        let dot = RawRecord::Alias { target: "".into() };
        assert_eq!(decide("h.test", vec![dot]), Step::NoService);
        assert_eq!(decide("h.test", vec![]), Step::NoService);
    }

    #[test]
    fn services_sorted_stably_and_bounded() {
        let recs = (0..40)
            .map(|i| svc(40 - (i % 3), &format!("s{i}")))
            .collect();
        let Step::Services(s) = decide("h.test", recs) else {
            panic!("services expected")
        };
        assert_eq!(s.len(), MAX_SERVICES);
        assert!(s.windows(2).all(|w| w[0].priority <= w[1].priority));
        assert_eq!(s[0].target, "s2"); // first priority-38 record in DNS order
        assert_eq!(s[1].target, "s5");
    }

    #[test]
    fn malformed_alpn_dropped_and_default_alpn_added() {
        let bad = RawRecord::Service(ServiceRecord {
            priority: 1,
            no_default_alpn: true,
            ..Default::default()
        });
        assert_eq!(decide("h.test", vec![bad]), Step::NoService);
        let r = ServiceRecord {
            priority: 1,
            alpn: vec!["h2".into()],
            ..Default::default()
        };
        assert_eq!(r.https_alpn(), ["h2", "http/1.1"]);
        let r = ServiceRecord {
            no_default_alpn: true,
            ..r
        };
        assert_eq!(r.https_alpn(), ["h2"]);
    }

    #[test]
    fn shuffle_reaches_every_order_and_keeps_priorities() {
        let mk = |p: u16, t: &str| ServiceRecord {
            priority: p,
            target: t.into(),
            ..Default::default()
        };
        let mut orders: Vec<Vec<String>> = Vec::new();
        for seed in 0..200u64 {
            let mut v = vec![mk(3, "z"), mk(1, "a"), mk(1, "b"), mk(1, "c"), mk(2, "y")];
            shuffle_equal_priority(&mut v, seed);
            let prio: Vec<u16> = v.iter().map(|r| r.priority).collect();
            assert_eq!(prio, [1, 1, 1, 2, 3], "seed {seed}");
            let first: Vec<String> = v[..3].iter().map(|r| r.target.clone()).collect();
            if !orders.contains(&first) {
                orders.push(first);
            }
            // The same seed gives the same order.
            let mut w = vec![mk(3, "z"), mk(1, "a"), mk(1, "b"), mk(1, "c"), mk(2, "y")];
            shuffle_equal_priority(&mut w, seed);
            assert_eq!(v, w);
        }
        assert_eq!(
            orders.len(),
            6,
            "all 3! orders of the priority-1 run: {orders:?}"
        );
        let mut one = vec![mk(1, "a")];
        shuffle_equal_priority(&mut one, 7);
        shuffle_equal_priority(&mut [], 7);
        assert_eq!(one[0].target, "a");
    }

    #[test]
    fn display_reads_like_a_zone_file() {
        let r = ServiceRecord {
            priority: 1,
            target: "h.test".into(),
            port: Some(8443),
            alpn: vec!["h2".into(), "h3".into()],
            ech: true,
            ipv4hint: vec!["198.51.100.10".parse().unwrap()],
            ipv6hint: vec!["2001:db8::10".parse().unwrap()],
            ..Default::default()
        };
        assert_eq!(
            r.to_string(),
            "1 h.test. alpn=h2,h3 port=8443 ech ipv4hint=198.51.100.10 ipv6hint=2001:db8::10"
        );
        assert_eq!(
            r.hints(),
            [
                "2001:db8::10".parse::<IpAddr>().unwrap(),
                "198.51.100.10".parse().unwrap()
            ]
        );
        assert_eq!(r.port_or(443), 8443);
    }
}
