//! [`OutcomeCache`]: what happened on earlier connects to a destination (RFC 8305 §4 lets
//! a client use "historical data" when sorting; RFC 6724 §2.1 and §7 describe the same
//! idea for address selection). The next connect to that host and port tries the family
//! that worked first and moves addresses that failed or were slow to the end of their
//! family, so a destination with black-holed IPv6 connects at once the second time.
//!
//! Bounded in size (default 1024 destinations, the oldest evicted first) and in age
//! (default 10 minutes: networks change, and a family that failed may work again).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::addr::Family;

/// Default number of destinations remembered.
pub const DEFAULT_CAPACITY: usize = 1024;
/// Default age after which an outcome is forgotten.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);
/// Most failed addresses remembered per destination.
const MAX_FAILED: usize = 16;

#[derive(Debug, Clone)]
struct Entry {
    updated: Instant,
    winner: Option<(IpAddr, Duration)>,
    failed: Vec<IpAddr>,
}

/// What the cache knows about one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// The family of the address that won last time.
    pub prefer: Option<Family>,
    /// The address that won last time and its handshake time.
    pub winner: Option<(IpAddr, Duration)>,
    /// Addresses that failed or were slower than the winner last time.
    pub demoted: Vec<IpAddr>,
    /// How old this knowledge is.
    pub age: Duration,
}

/// A shared, bounded cache of connect outcomes, per destination (host name and port).
/// Share it between connectors with `Arc`; it is internally locked.
#[derive(Debug)]
pub struct OutcomeCache {
    capacity: usize,
    max_age: Duration,
    entries: Mutex<HashMap<(String, u16), Entry>>,
}

impl Default for OutcomeCache {
    fn default() -> Self {
        OutcomeCache::new()
    }
}

fn key(host: &str, port: u16) -> (String, u16) {
    (host.trim_end_matches('.').to_ascii_lowercase(), port)
}

impl OutcomeCache {
    /// A cache of [`DEFAULT_CAPACITY`] destinations, each kept [`DEFAULT_MAX_AGE`].
    pub fn new() -> OutcomeCache {
        OutcomeCache::with_limits(DEFAULT_CAPACITY, DEFAULT_MAX_AGE)
    }

    /// A cache of at most `capacity` destinations (at least 1), each kept `max_age`.
    pub fn with_limits(capacity: usize, max_age: Duration) -> OutcomeCache {
        OutcomeCache {
            capacity: capacity.max(1),
            max_age,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// What is known about `host` port `port`, if anything younger than the maximum age.
    pub fn get(&self, host: &str, port: u16) -> Option<History> {
        let mut entries = self.entries.lock().ok()?;
        let k = key(host, port);
        let e = entries.get(&k)?;
        let age = e.updated.elapsed();
        if age > self.max_age {
            entries.remove(&k);
            return None;
        }
        Some(History {
            prefer: e.winner.map(|(ip, _)| Family::of(ip)),
            winner: e.winner,
            demoted: e.failed.clone(),
            age,
        })
    }

    /// Remember the outcome of a connect: the winner (if any) with its handshake time, and
    /// the addresses that failed or were still pending when another won.
    pub fn record(
        &self,
        host: &str,
        port: u16,
        winner: Option<(SocketAddr, Duration)>,
        bad: &[IpAddr],
    ) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let k = key(host, port);
        if !entries.contains_key(&k) && entries.len() >= self.capacity {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.updated)
                .map(|(k, _)| k.clone());
            if let Some(o) = oldest {
                entries.remove(&o);
            }
        }
        let now = Instant::now();
        let e = entries.entry(k).or_insert(Entry {
            updated: now,
            winner: None,
            failed: Vec::new(),
        });
        e.updated = now;
        if let Some((addr, rtt)) = winner {
            e.winner = Some((addr.ip(), rtt));
            e.failed.retain(|ip| *ip != addr.ip());
        } else {
            e.winner = None;
        }
        for ip in bad {
            if !e.failed.contains(ip) && Some(*ip) != winner.map(|w| w.0.ip()) {
                e.failed.push(*ip);
            }
        }
        let excess = e.failed.len().saturating_sub(MAX_FAILED);
        e.failed.drain(..excess);
    }

    /// Destinations remembered (including ones past their age not yet pruned).
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget everything.
    pub fn clear(&self) {
        if let Ok(mut e) = self.entries.lock() {
            e.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn remembers_winner_and_failures_then_ages_out() {
        let c = OutcomeCache::with_limits(4, Duration::from_secs(60));
        let bad: IpAddr = "2001:db8::1".parse().unwrap();
        c.record(
            "Example.",
            80,
            Some((sa("192.0.2.1:80"), Duration::from_millis(3))),
            &[bad],
        );
        let h = c.get("example", 80).expect("cached");
        assert_eq!(h.prefer, Some(Family::V4));
        assert_eq!(h.demoted, vec![bad]);
        assert!(c.get("example", 81).is_none());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(c.get("example", 80).is_none());
        assert!(c.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_size_evicts_oldest() {
        let c = OutcomeCache::with_limits(2, Duration::from_secs(600));
        for (i, h) in ["a", "b", "c"].iter().enumerate() {
            c.record(h, 1, None, &[]);
            tokio::time::advance(Duration::from_secs(i as u64 + 1)).await;
        }
        assert_eq!(c.len(), 2);
        assert!(c.get("a", 1).is_none());
        assert!(c.get("c", 1).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_win_clears_the_failure() {
        let c = OutcomeCache::new();
        c.record("h", 1, None, &["2001:db8::1".parse().unwrap()]);
        c.record(
            "h",
            1,
            Some((sa("[2001:db8::1]:1"), Duration::from_millis(1))),
            &[],
        );
        let h = c.get("h", 1).unwrap();
        assert!(h.demoted.is_empty());
        assert_eq!(h.prefer, Some(Family::V6));
    }
}
