//! Deadlines from durations a user gave: `Instant + Duration` panics when the sum does
//! not fit (`--idle-timeout 300000000000y` made every connection panic). [`Later::later`]
//! saturates at about 30 years from now instead, as tokio's own `sleep` does.

use std::time::Duration;

/// Where an overflowing deadline lands: far enough to be "never" for any program run.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `d`, at most about 30 years: for code outside our control (hyper's timers) that adds
/// a duration to an instant without checking.
pub(crate) fn capped(d: Duration) -> Duration {
    d.min(FAR_FUTURE)
}

/// An instant a duration can be added to without panicking.
pub(crate) trait Later: Copy {
    /// `self + d`, or `None` when it does not fit.
    fn checked(self, d: Duration) -> Option<Self>;

    /// `self + d`, saturated at about 30 years from `self`.
    fn later(self, d: Duration) -> Self {
        self.checked(d.min(FAR_FUTURE))
            .or_else(|| self.checked(Duration::from_secs(86_400)))
            .unwrap_or(self)
    }
}

impl Later for std::time::Instant {
    fn checked(self, d: Duration) -> Option<Self> {
        self.checked_add(d)
    }
}

impl Later for tokio::time::Instant {
    fn checked(self, d: Duration) -> Option<Self> {
        self.checked_add(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_saturate() {
        let now = std::time::Instant::now();
        assert_eq!(
            now.later(Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert_eq!(now.later(Duration::MAX), now + FAR_FUTURE);
        let t = tokio::time::Instant::now();
        assert_eq!(t.later(Duration::MAX), t + FAR_FUTURE);
        // 300000000000 years, as `serve --idle-timeout 300000000000y` once passed.
        let huge = Duration::from_secs(300_000_000_000 * 31_557_600);
        assert_eq!(now.later(huge), now + FAR_FUTURE);
    }
}
