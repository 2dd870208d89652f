//! [`OutcomeCache`]: the history of earlier connects (RFC 8305 §4), shared between
//! connectors. The decisions and the storage (age, size) are
//! [`dualstack_eyeballs::HistoryCache`]; this is the lock around it and the clock.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use std::io;
use std::path::Path;
use std::time::SystemTime;

use dualstack_eyeballs::v3::history_file::Snapshot;
use dualstack_eyeballs::v3::rtt::{RttEstimate, RttTable};
use dualstack_eyeballs::{History, HistoryCache};

use super::history_file::{self, LoadError};

/// The oldest entry a history file may give: the longest any table keeps its entries
/// (each table applies its own, shorter, limit on import).
const LOAD_MAX_AGE: Duration = dualstack_eyeballs::v3::rtt::DEFAULT_MAX_AGE;

pub use dualstack_eyeballs::{DEFAULT_CAPACITY, DEFAULT_MAX_AGE};

/// A shared, bounded cache of connect outcomes, per destination (host name and port):
/// the family that won goes first next time, addresses that failed or were slow go last.
/// Bounded to [`DEFAULT_CAPACITY`] destinations kept [`DEFAULT_MAX_AGE`] unless set
/// otherwise. Share it between connectors with `Arc`; it is internally locked.
///
/// It also keeps the smoothed handshake RTT per destination network
/// ([`RttTable`]), which sets the Connection Attempt Delay of later connects
/// (draft-ietf-happy-happyeyeballs-v3-04 §6), and both can be kept across runs in a file
/// ([`load`](Self::load), [`save`](Self::save)).
#[derive(Debug, Default)]
pub struct OutcomeCache {
    inner: Mutex<HistoryCache>,
    rtt: Mutex<RttTable>,
}

/// Tokio's clock, so that a paused test clock ages entries in virtual time.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl OutcomeCache {
    /// A cache of [`DEFAULT_CAPACITY`] destinations, each kept [`DEFAULT_MAX_AGE`].
    pub fn new() -> OutcomeCache {
        OutcomeCache::default()
    }

    /// A cache of at most `capacity` destinations (at least 1), each kept `max_age`.
    pub fn with_limits(capacity: usize, max_age: Duration) -> OutcomeCache {
        OutcomeCache {
            inner: Mutex::new(HistoryCache::new(capacity, max_age)),
            rtt: Mutex::new(RttTable::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HistoryCache> {
        // The store has no invariant a panic elsewhere could break: keep using it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What is known about `host` port `port`, if anything younger than the maximum age.
    pub fn get(&self, host: &str, port: u16) -> Option<History> {
        self.lock().get(host, port, now())
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
        let now = now();
        self.lock().record(host, port, winner, bad, now);
        if let Some((addr, rtt)) = winner {
            self.rtt_lock().observe(now, addr.ip(), rtt);
        }
    }

    /// Remember that `winner` won for `host` port `port` after `took`, without taking
    /// `took` as a handshake RTT (it may include DNS or TLS, as from a client that does
    /// its own connecting): the family goes first next time, the RTT table is unchanged.
    pub fn record_winner(&self, host: &str, port: u16, winner: SocketAddr, took: Duration) {
        self.lock()
            .record(host, port, Some((winner, took)), &[], now());
    }

    /// [`record`](Self::record) without an RTT sample: a QUIC handshake's time includes
    /// TLS (and, in a debug build, slow crypto), so it would inflate the attempt delay of
    /// every later connect to that network.
    pub(crate) fn record_without_rtt(
        &self,
        host: &str,
        port: u16,
        winner: Option<(SocketAddr, Duration)>,
        bad: &[IpAddr],
    ) {
        self.lock().record(host, port, winner, bad, now());
    }

    /// Remember whether QUIC worked to `host` port `port` (`false`: QUIC attempts were made
    /// and TCP won). While the cache says QUIC is broken, connects to that destination make
    /// no QUIC attempt (draft-ietf-happy-happyeyeballs-v3-04: a client may remember that a
    /// protocol failed on a network).
    pub fn record_quic(&self, host: &str, port: u16, works: bool) {
        self.lock().record_quic(host, port, works, now());
    }

    fn rtt_lock(&self) -> MutexGuard<'_, RttTable> {
        self.rtt.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The smoothed RTT of every network known (for the attempt delay).
    pub fn rtt_estimates(&self) -> Vec<RttEstimate> {
        self.rtt_lock().export(now())
    }

    /// Add the history kept in the file at `path` (a missing file adds nothing). Entries
    /// older than the cache's limits are skipped.
    ///
    /// # Errors
    /// The file cannot be read, or is not a valid history file: the cache is unchanged
    /// and the caller should warn and go on.
    pub fn load(&self, path: &Path) -> Result<(), LoadError> {
        let snap = history_file::load(path, SystemTime::now(), LOAD_MAX_AGE)?;
        let now = now();
        self.lock().import(now, &snap.dests);
        self.rtt_lock().import(now, &snap.rtts);
        Ok(())
    }

    /// Write the history to `path` atomically (temporary file + rename).
    ///
    /// # Errors
    /// The I/O error.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let now = now();
        let snap = Snapshot {
            dests: self.lock().export(now),
            rtts: self.rtt_lock().export(now),
        };
        history_file::save(path, &snap, SystemTime::now())
    }

    /// Destinations remembered (including ones past their age not yet pruned).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forget everything (outcomes and RTTs).
    pub fn clear(&self) {
        self.lock().clear();
        *self.rtt_lock() = RttTable::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ages_on_the_tokio_clock() {
        let c = OutcomeCache::with_limits(4, Duration::from_secs(60));
        c.record("h", 1, None, &["2001:db8::1".parse().unwrap()]);
        assert!(c.get("H.", 1).is_some());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(c.get("h", 1).is_none());
        assert!(c.is_empty());
    }
}
