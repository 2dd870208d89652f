//! Rate-limited warnings for events a remote peer can trigger (connection-limit
//! refusals, PROXY protocol failures): a flood of them must not become a flood of log
//! lines (issue 13: 116,531 lines in 5 s at the connection limit).
//!
//! [`Throttle`] is a pure state machine over made-up instants (no clock reads): the first
//! event of an interval is logged at once; later ones in the same interval are only
//! counted, and a summary (count, first and last time and peer) is due when the interval
//! ends. The caller logs what it returns and arms one timer at [`Throttle::flush_at`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How often a repeated warning is logged at most: once per second, like the UDP drop
/// counters (issue 13.1).
pub const WARN_INTERVAL: Duration = Duration::from_secs(1);

/// Events suppressed during one interval, reported when the interval ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suppressed {
    /// How many events were counted but not logged.
    pub count: u64,
    /// When the first suppressed event happened.
    pub first: Instant,
    /// When the last suppressed event happened.
    pub last: Instant,
    /// The peer of the first suppressed event.
    pub first_peer: SocketAddr,
    /// The peer of the last suppressed event.
    pub last_peer: SocketAddr,
}

/// Decides which occurrences of one repeated warning are logged.
#[derive(Debug, Clone)]
pub struct Throttle {
    interval: Duration,
    /// Start of the current interval (the time of the last logged event).
    window: Option<Instant>,
    pending: Option<Suppressed>,
}

impl Throttle {
    /// A throttle that logs at most one event per `interval`, plus one summary.
    pub fn new(interval: Duration) -> Throttle {
        Throttle {
            interval,
            window: None,
            pending: None,
        }
    }

    /// An event from `peer` at `now`. Returns `(log_this, summary)`: whether to log this
    /// event, and a summary of the previous interval's suppressed events that is due now
    /// (log it first).
    pub fn hit(&mut self, now: Instant, peer: SocketAddr) -> (bool, Option<Suppressed>) {
        let summary = self.flush(now);
        if summary.is_some() {
            // The interval ended: this event opens the next one and is logged after the
            // summary.
            return (true, summary);
        }
        match self.window {
            Some(start) if now < start + self.interval => {
                let p = self.pending.get_or_insert(Suppressed {
                    count: 0,
                    first: now,
                    last: now,
                    first_peer: peer,
                    last_peer: peer,
                });
                p.count += 1;
                p.last = now;
                p.last_peer = peer;
                (false, summary)
            }
            _ => {
                self.window = Some(now);
                (true, summary)
            }
        }
    }

    /// The summary of suppressed events if their interval has ended by `now`.
    pub fn flush(&mut self, now: Instant) -> Option<Suppressed> {
        let start = self.window?;
        if now < start + self.interval {
            return None;
        }
        let p = self.pending.take()?;
        // The summary itself is a logged line: the next event opens a fresh interval.
        self.window = Some(now);
        Some(p)
    }

    /// When a summary becomes due (`None`: nothing suppressed).
    pub fn flush_at(&self) -> Option<Instant> {
        self.pending.as_ref()?;
        self.window.map(|w| w + self.interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], n))
    }

    #[test]
    fn one_line_per_interval_then_a_summary() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut t = Throttle::new(WARN_INTERVAL);
        assert_eq!(t.hit(ms(0), peer(1)), (true, None));
        assert_eq!(t.flush_at(), None);
        for i in 1..=1000u16 {
            assert_eq!(t.hit(ms(i as u64 / 2), peer(i)), (false, None));
        }
        assert_eq!(t.flush_at(), Some(ms(1000)));
        assert_eq!(t.flush(ms(999)), None);
        let s = t.flush(ms(1000)).unwrap();
        assert_eq!(s.count, 1000);
        assert_eq!((s.first, s.last), (ms(0), ms(500)));
        assert_eq!((s.first_peer, s.last_peer), (peer(1), peer(1000)));
        assert_eq!(t.flush_at(), None);
        // The summary opened a new interval: the next event within it is counted.
        assert_eq!(t.hit(ms(1500), peer(7)), (false, None));
        // An event after that interval is logged, with the summary due before it.
        let (log, s) = t.hit(ms(2600), peer(8));
        assert!(log);
        assert_eq!(s.unwrap().count, 1);
    }

    #[test]
    fn sparse_events_are_all_logged() {
        let t0 = Instant::now();
        let mut t = Throttle::new(WARN_INTERVAL);
        for i in 0..10u64 {
            let (log, s) = t.hit(t0 + Duration::from_secs(2 * i), peer(1));
            assert!(log && s.is_none());
        }
        assert_eq!(t.flush_at(), None);
    }
}
