//! What happened on earlier connects to a destination (RFC 8305 §4 lets a client use
//! "historical data" when sorting; RFC 6724 §2.1 and §7 describe the same idea for address
//! selection). The next connect to that host and port tries the family that worked first
//! and moves addresses that failed or were slow to the end of their family, so a
//! destination with black-holed IPv6 connects at once the second time.
//!
//! Bounded in size (default 1024 destinations, the oldest evicted first) and in age
//! (default 10 minutes: networks change, and a family that failed may work again). The
//! caller passes `now`; the store reads no clock and takes no lock.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::v3::history_file::DestEntry;
use crate::Family;

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
    quic_broken: bool,
}

impl Entry {
    /// An entry that knows nothing yet.
    fn empty(now: Instant) -> Entry {
        Entry {
            updated: now,
            winner: None,
            failed: Vec::new(),
            quic_broken: false,
        }
    }
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
    /// QUIC attempts were made last time and TCP won: the UDP path to this destination is
    /// broken (or slower); the next run makes no QUIC attempt.
    pub quic_broken: bool,
}

/// A bounded store of connect outcomes per destination (host name, case and trailing dot
/// ignored, and port).
#[derive(Debug, Clone)]
pub struct HistoryCache {
    capacity: usize,
    max_age: Duration,
    entries: HashMap<(String, u16), Entry>,
}

impl Default for HistoryCache {
    fn default() -> Self {
        HistoryCache::new(DEFAULT_CAPACITY, DEFAULT_MAX_AGE)
    }
}

fn key(host: &str, port: u16) -> (String, u16) {
    (host.trim_end_matches('.').to_ascii_lowercase(), port)
}

impl HistoryCache {
    /// At most `capacity` destinations (at least 1), each kept `max_age`.
    pub fn new(capacity: usize, max_age: Duration) -> HistoryCache {
        HistoryCache {
            capacity: capacity.max(1),
            max_age,
            entries: HashMap::new(),
        }
    }

    /// What is known about `host` port `port` at `now`, if younger than the maximum age
    /// (an older entry is dropped).
    pub fn get(&mut self, host: &str, port: u16, now: Instant) -> Option<History> {
        let k = key(host, port);
        let e = self.entries.get(&k)?;
        let age = now.saturating_duration_since(e.updated);
        if age > self.max_age {
            self.entries.remove(&k);
            return None;
        }
        Some(History {
            prefer: e.winner.map(|(ip, _)| Family::of(ip)),
            winner: e.winner,
            demoted: e.failed.clone(),
            age,
            quic_broken: e.quic_broken,
        })
    }

    /// Remember the outcome of a connect at `now`: the winner (if any) with its handshake
    /// time, and the addresses that failed or were still pending when another won.
    pub fn record(
        &mut self,
        host: &str,
        port: u16,
        winner: Option<(SocketAddr, Duration)>,
        bad: &[IpAddr],
        now: Instant,
    ) {
        let k = key(host, port);
        if !self.entries.contains_key(&k) && self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.updated)
                .map(|(k, _)| k.clone());
            if let Some(o) = oldest {
                self.entries.remove(&o);
            }
        }
        let e = self.entries.entry(k).or_insert_with(|| Entry::empty(now));
        e.updated = now;
        let won = winner.map(|(addr, _)| addr.ip());
        e.winner = winner.map(|(addr, rtt)| (addr.ip(), rtt));
        if let Some(w) = won {
            e.failed.retain(|ip| *ip != w);
        }
        for ip in bad {
            if !e.failed.contains(ip) && Some(*ip) != won {
                e.failed.push(*ip);
            }
        }
        let excess = e.failed.len().saturating_sub(MAX_FAILED);
        e.failed.drain(..excess);
    }

    /// Remember at `now` whether QUIC worked to `host` port `port` (`false`: QUIC attempts
    /// were made and TCP won). While an entry says QUIC is broken, runs with this history
    /// make no QUIC attempt; the entry ages out like the rest.
    pub fn record_quic(&mut self, host: &str, port: u16, works: bool, now: Instant) {
        let k = key(host, port);
        if !self.entries.contains_key(&k) && self.entries.len() >= self.capacity {
            return;
        }
        let e = self.entries.entry(k).or_insert_with(|| Entry::empty(now));
        e.updated = now;
        e.quic_broken = !works;
    }

    /// Destinations remembered (including ones past their age not yet pruned).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forget everything.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Every destination younger than the maximum age at `now`, youngest first, as
    /// history-file entries (for saving across runs).
    pub fn export(&self, now: Instant) -> Vec<DestEntry> {
        let mut v: Vec<DestEntry> = self
            .entries
            .iter()
            .filter_map(|((host, port), e)| {
                let age = now.saturating_duration_since(e.updated);
                (age <= self.max_age).then(|| DestEntry {
                    host: host.clone(),
                    port: *port,
                    age,
                    winner: e.winner,
                    demoted: e.failed.clone(),
                    quic_broken: e.quic_broken,
                })
            })
            .collect();
        v.sort_by(|a, b| a.age.cmp(&b.age).then_with(|| a.host.cmp(&b.host)));
        v
    }

    /// Put back destinations saved earlier: entries over the maximum age are skipped, and
    /// a destination already known keeps the younger of the two.
    pub fn import(&mut self, now: Instant, entries: &[DestEntry]) {
        for d in entries {
            if d.age > self.max_age {
                continue;
            }
            let Some(updated) = now.checked_sub(d.age) else {
                continue;
            };
            let k = key(&d.host, d.port);
            if self.entries.get(&k).is_some_and(|e| e.updated >= updated) {
                continue;
            }
            if !self.entries.contains_key(&k) && self.entries.len() >= self.capacity {
                continue;
            }
            let mut failed = d.demoted.clone();
            failed.truncate(MAX_FAILED);
            self.entries.insert(
                k,
                Entry {
                    updated,
                    winner: d.winner,
                    failed,
                    quic_broken: d.quic_broken,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn remembers_winner_and_failures_then_ages_out() {
        let t0 = Instant::now();
        let mut c = HistoryCache::new(4, Duration::from_secs(60));
        let bad: IpAddr = "2001:db8::1".parse().unwrap();
        c.record(
            "Example.",
            80,
            Some((sa("192.0.2.1:80"), Duration::from_millis(3))),
            &[bad],
            t0,
        );
        let h = c
            .get("example", 80, t0 + Duration::from_secs(5))
            .expect("cached");
        assert_eq!(h.prefer, Some(Family::V4));
        assert_eq!(h.demoted, vec![bad]);
        assert_eq!(h.age, Duration::from_secs(5));
        assert!(c.get("example", 81, t0).is_none());
        assert!(c.get("example", 80, t0 + Duration::from_secs(61)).is_none());
        assert!(c.is_empty());
    }

    #[test]
    fn bounded_size_evicts_oldest() {
        let t0 = Instant::now();
        let mut c = HistoryCache::new(2, Duration::from_secs(600));
        for (i, h) in ["a", "b", "c"].iter().enumerate() {
            c.record(h, 1, None, &[], t0 + Duration::from_secs(i as u64));
        }
        let t = t0 + Duration::from_secs(3);
        assert_eq!(c.len(), 2);
        assert!(c.get("a", 1, t).is_none());
        assert!(c.get("c", 1, t).is_some());
    }

    #[test]
    fn a_later_win_clears_the_failure_and_failures_are_bounded() {
        let t0 = Instant::now();
        let mut c = HistoryCache::default();
        c.record("h", 1, None, &["2001:db8::1".parse().unwrap()], t0);
        c.record(
            "h",
            1,
            Some((sa("[2001:db8::1]:1"), Duration::from_millis(1))),
            &[],
            t0,
        );
        let h = c.get("h", 1, t0).unwrap();
        assert!(h.demoted.is_empty());
        assert_eq!(h.prefer, Some(Family::V6));
        let many: Vec<IpAddr> = (0..40u8).map(|n| IpAddr::from([192, 0, 2, n])).collect();
        c.record("h", 1, None, &many, t0);
        let h = c.get("h", 1, t0).unwrap();
        assert_eq!(h.demoted.len(), MAX_FAILED);
        assert_eq!(h.demoted[MAX_FAILED - 1], many[39], "the newest are kept");
        assert_eq!(h.prefer, None);
    }

    #[test]
    fn quic_broken_is_remembered_cleared_and_aged_out() {
        let t0 = Instant::now();
        let mut c = HistoryCache::new(4, Duration::from_secs(60));
        let tcp = Some((sa("192.0.2.1:443"), Duration::from_millis(3)));
        c.record("h", 443, tcp, &[], t0);
        assert!(!c.get("h", 443, t0).unwrap().quic_broken);
        c.record_quic("h", 443, false, t0);
        assert!(c.get("h", 443, t0).unwrap().quic_broken);
        assert!(!c.get("h", 80, t0).is_some_and(|h| h.quic_broken));
        // A TCP-only outcome later keeps the mark; a QUIC win clears it.
        c.record("h", 443, tcp, &[], t0);
        assert!(c.get("h", 443, t0).unwrap().quic_broken);
        c.record_quic("h", 443, true, t0);
        assert!(!c.get("h", 443, t0).unwrap().quic_broken);
        c.record_quic("h", 443, false, t0);
        assert!(c.get("h", 443, t0 + Duration::from_secs(61)).is_none());
    }
}
