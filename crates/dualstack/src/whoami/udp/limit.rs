//! Reply rate limits of the UDP whoami: token buckets per source and for the whole
//! server, and the once-a-second summary of what was dropped. Pure state machines: every
//! call takes `now`, nothing reads a clock, so tests run on made-up instants.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::Refusal;

/// Default replies per second to one source ([`ReplyLimits::per_source`]).
pub const DEFAULT_SOURCE_RATE: u32 = 20;
/// Default burst to one source: replies answered at once before the rate applies.
pub const DEFAULT_SOURCE_BURST: u32 = 50;
/// Default replies per second of the whole server ([`ReplyLimits::global`]).
pub const DEFAULT_GLOBAL_RATE: u32 = 2_000;
/// Default burst of the whole server.
pub const DEFAULT_GLOBAL_BURST: u32 = 4_000;
/// Buckets in the per-source table. Sources are hashed (with a per-process random key)
/// into this many buckets; two sources that share a bucket share its budget, which only
/// errs on the side of fewer replies. Memory is fixed: about 24 bytes a bucket.
pub const SOURCE_BUCKETS: usize = 4_096;
/// Drops are logged at most this often (a summary with counts per reason).
pub const DROP_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// A token bucket: `burst` tokens, refilled at `rate` a second; one reply costs one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    rate: u32,
    burst: u32,
    /// Tokens in thousandths, so slow refills are not lost to rounding.
    milli: u64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens refilled at `rate` tokens a second.
    pub fn new(rate: u32, burst: u32) -> TokenBucket {
        TokenBucket {
            rate,
            burst,
            milli: u64::from(burst) * 1000,
            last: None,
        }
    }

    /// Take one token at `now`; `false` when the bucket is empty. A `now` earlier than
    /// the last call counts as no time passed.
    pub fn take(&mut self, now: Instant) -> bool {
        let cap = u64::from(self.burst) * 1000;
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last);
            // rate (≤ 2^32) × nanoseconds (≤ 2^64) fits u128; milli-tokens per ns = rate/1e6.
            let add = u128::from(self.rate) * elapsed.as_nanos() / 1_000_000;
            self.milli = cap.min(self.milli.saturating_add(add.min(u128::from(cap)) as u64));
        }
        if self.last.is_none_or(|l| now > l) {
            self.last = Some(now);
        }
        if self.milli >= 1000 {
            self.milli -= 1000;
            true
        } else {
            false
        }
    }
}

/// One rate limit: a sustained rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Replies per second, sustained.
    pub per_second: u32,
    /// Replies that may go out at once (the bucket's size).
    pub burst: u32,
}

/// How many replies the UDP whoami sends: per source address (an IPv4 address, an IPv6
/// /64) and in total. Defaults: [`DEFAULT_SOURCE_RATE`]/[`DEFAULT_SOURCE_BURST`] and
/// [`DEFAULT_GLOBAL_RATE`]/[`DEFAULT_GLOBAL_BURST`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyLimits {
    per_source: Rate,
    global: Rate,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        ReplyLimits {
            per_source: Rate {
                per_second: DEFAULT_SOURCE_RATE,
                burst: DEFAULT_SOURCE_BURST,
            },
            global: Rate {
                per_second: DEFAULT_GLOBAL_RATE,
                burst: DEFAULT_GLOBAL_BURST,
            },
        }
    }
}

impl ReplyLimits {
    /// Set the limit per source address (IPv4 address, IPv6 /64).
    pub fn per_source(mut self, rate: Rate) -> Self {
        self.per_source = rate;
        self
    }

    /// Set the limit of the whole server (every socket together).
    pub fn global(mut self, rate: Rate) -> Self {
        self.global = rate;
        self
    }

    /// The limit per source address.
    pub fn source_rate(&self) -> Rate {
        self.per_source
    }

    /// The limit of the whole server.
    pub fn global_rate(&self) -> Rate {
        self.global
    }
}

/// The reply budget: a fixed table of per-source buckets and one global bucket.
#[derive(Debug)]
pub struct Limiter {
    limits: ReplyLimits,
    hasher: RandomState,
    sources: Vec<TokenBucket>,
    global: TokenBucket,
}

impl Limiter {
    /// Full buckets for `limits`.
    pub fn new(limits: ReplyLimits) -> Limiter {
        let s = limits.per_source;
        Limiter {
            limits,
            hasher: RandomState::new(),
            sources: vec![TokenBucket::new(s.per_second, s.burst); SOURCE_BUCKETS],
            global: TokenBucket::new(limits.global.per_second, limits.global.burst),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> ReplyLimits {
        self.limits
    }

    /// Whether a reply to `source` may go out at `now`; takes a token from its bucket and
    /// the global one when it may. A source over its own limit costs no global token.
    ///
    /// # Errors
    /// [`Refusal::SourceRate`] or [`Refusal::GlobalRate`].
    pub fn admit(&mut self, source: IpAddr, now: Instant) -> Result<(), Refusal> {
        let i = (self.hasher.hash_one(source_key(source)) % self.sources.len() as u64) as usize;
        if !self.sources[i].take(now) {
            return Err(Refusal::SourceRate);
        }
        if !self.global.take(now) {
            return Err(Refusal::GlobalRate);
        }
        Ok(())
    }
}

/// The part of an address one sender controls: an IPv4 address, an IPv6 /64 (a host
/// usually owns a whole /64, so per-address buckets would be free to multiply).
fn source_key(ip: IpAddr) -> u128 {
    match crate::addr::unmap(ip) {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => (u128::from(v6) >> 64) | (1 << 127),
    }
}

/// Counts of dropped datagrams by reason, logged at most once per [`DROP_LOG_INTERVAL`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DropLog {
    pending: [u64; Refusal::COUNT],
    total: [u64; Refusal::COUNT],
    last_log: Option<Instant>,
}

impl DropLog {
    /// Count one drop at `now`. Returns the counts to log (drops since the last summary,
    /// by reason, this one included) when the last summary is at least
    /// [`DROP_LOG_INTERVAL`] old, or this is the first drop.
    pub fn note(&mut self, reason: Refusal, now: Instant) -> Option<Vec<(Refusal, u64)>> {
        self.pending[reason as usize] += 1;
        self.total[reason as usize] += 1;
        if self
            .last_log
            .is_some_and(|l| now.saturating_duration_since(l) < DROP_LOG_INTERVAL)
        {
            return None;
        }
        self.last_log = Some(now);
        let out = Refusal::ALL
            .iter()
            .filter(|r| self.pending[**r as usize] > 0)
            .map(|r| (*r, self.pending[*r as usize]))
            .collect();
        self.pending = [0; Refusal::COUNT];
        Some(out)
    }

    /// Every drop counted so far, by reason.
    pub fn totals(&self) -> Vec<(Refusal, u64)> {
        Refusal::ALL
            .iter()
            .map(|r| (*r, self.total[*r as usize]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn bucket_burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 3);
        assert!(b.take(t0) && b.take(t0) && b.take(t0));
        assert!(!b.take(t0), "burst of 3");
        assert!(!b.take(ms(t0, 99)), "one token takes 100 ms at 10/s");
        assert!(b.take(ms(t0, 100)));
        assert!(!b.take(ms(t0, 100)));
        // A long pause refills to the burst, not beyond.
        let later = ms(t0, 3_600_000);
        assert!(b.take(later) && b.take(later) && b.take(later));
        assert!(!b.take(later));
        // Time going backwards refills nothing.
        assert!(!b.take(t0));
    }

    #[test]
    fn bucket_slow_rates_accumulate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1, 1);
        assert!(b.take(t0));
        for i in 1..10 {
            assert!(!b.take(ms(t0, i * 100)), "{i}");
        }
        assert!(b.take(ms(t0, 1000)));
    }

    #[test]
    fn bucket_extreme_values_do_not_overflow() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(u32::MAX, u32::MAX);
        assert!(b.take(t0));
        assert!(b.take(t0 + Duration::from_secs(u32::MAX as u64)));
        let mut z = TokenBucket::new(0, 0);
        assert!(!z.take(t0));
        assert!(!z.take(t0 + Duration::from_secs(1000)));
    }

    #[test]
    fn per_source_and_global_limits() {
        let t0 = Instant::now();
        let limits = ReplyLimits::default()
            .per_source(Rate {
                per_second: 1,
                burst: 2,
            })
            .global(Rate {
                per_second: 1,
                burst: 5,
            });
        let mut l = Limiter::new(limits);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(l.admit(a, t0), Ok(()));
        assert_eq!(l.admit(a, t0), Ok(()));
        assert_eq!(l.admit(a, t0), Err(Refusal::SourceRate));
        // The same host through a dual socket (mapped) shares the bucket.
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(l.admit(mapped, t0), Err(Refusal::SourceRate));
        // Other sources are not affected, until the global budget (5) is spent. Source
        // buckets are hashed: pick sources that do not share a with `a`.
        let mut admitted = 2;
        let mut n = 2u8;
        while admitted < 5 {
            let s = IpAddr::from([198, 51, 100, n]);
            n += 1;
            if l.admit(s, t0).is_ok() {
                admitted += 1;
            }
        }
        assert_eq!(
            l.admit(IpAddr::from([203, 0, 113, 7]), t0),
            Err(Refusal::GlobalRate)
        );
        // One second later one more global token.
        assert_eq!(
            l.admit(IpAddr::from([203, 0, 113, 8]), ms(t0, 1000)),
            Ok(())
        );
    }

    #[test]
    fn ipv6_sources_are_counted_per_64() {
        let t0 = Instant::now();
        let mut l = Limiter::new(ReplyLimits::default().per_source(Rate {
            per_second: 1,
            burst: 1,
        }));
        assert_eq!(l.admit("2001:db8:1:2::1".parse().unwrap(), t0), Ok(()));
        assert_eq!(
            l.admit("2001:db8:1:2:ffff::9".parse().unwrap(), t0),
            Err(Refusal::SourceRate),
            "same /64"
        );
        assert_eq!(
            source_key("2001:db8:1:2::1".parse().unwrap()),
            source_key("2001:db8:1:2:ffff::9".parse().unwrap())
        );
        assert_ne!(
            source_key("2001:db8:1:3::1".parse().unwrap()),
            source_key("2001:db8:1:2::1".parse().unwrap())
        );
        assert_ne!(
            source_key("0.0.0.1".parse().unwrap()),
            source_key("::1".parse().unwrap())
        );
    }

    #[test]
    fn drops_are_summarised_at_most_once_a_second() {
        let t0 = Instant::now();
        let mut log = DropLog::default();
        assert_eq!(
            log.note(Refusal::OurReply, t0),
            Some(vec![(Refusal::OurReply, 1)])
        );
        for i in 1..1000 {
            assert_eq!(log.note(Refusal::OurReply, ms(t0, i)), None);
        }
        assert_eq!(log.note(Refusal::SourceRate, ms(t0, 999)), None);
        assert_eq!(
            log.note(Refusal::OwnPort, ms(t0, 1000)),
            Some(vec![
                (Refusal::OurReply, 999),
                (Refusal::OwnPort, 1),
                (Refusal::SourceRate, 1),
            ])
        );
        assert_eq!(log.note(Refusal::OwnPort, ms(t0, 1500)), None);
        let totals = log.totals();
        assert!(totals.contains(&(Refusal::OurReply, 1000)));
        assert!(totals.contains(&(Refusal::OwnPort, 2)));
    }
}
