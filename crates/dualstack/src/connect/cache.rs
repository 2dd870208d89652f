//! [`OutcomeCache`]: the history of earlier connects (RFC 8305 §4), shared between
//! connectors. The decisions and the storage (age, size) are
//! [`dualstack_eyeballs::HistoryCache`]; this is the lock around it and the clock.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dualstack_eyeballs::{History, HistoryCache};

pub use dualstack_eyeballs::{DEFAULT_CAPACITY, DEFAULT_MAX_AGE};

/// A shared, bounded cache of connect outcomes, per destination (host name and port):
/// the family that won goes first next time, addresses that failed or were slow go last.
/// Bounded to [`DEFAULT_CAPACITY`] destinations kept [`DEFAULT_MAX_AGE`] unless set
/// otherwise. Share it between connectors with `Arc`; it is internally locked.
#[derive(Debug, Default)]
pub struct OutcomeCache {
    inner: Mutex<HistoryCache>,
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
        self.lock().record(host, port, winner, bad, now());
    }

    /// Destinations remembered (including ones past their age not yet pruned).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forget everything.
    pub fn clear(&self) {
        self.lock().clear();
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
