//! Value parsers shared by every subcommand: durations and counts, each with a
//! documented range. A value outside its range, or a zero where zero means nothing
//! useful, is a usage error (exit 2) whose message names the range. The ranges are the
//! constants below; the help text of each option repeats them.

use std::time::Duration;

use clap::builder::RangedU64ValueParser;

/// An inclusive range of durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRange {
    /// The shortest accepted value.
    pub min: Duration,
    /// The longest accepted value.
    pub max: Duration,
}

const MS: Duration = Duration::from_millis(1);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Timeouts (`--timeout`, `--idle-timeout`, `--header-timeout`, `--reverse-timeout`,
/// `--reply-timeout`, `--dialogue-timeout`): 1ms to 1 day. Zero would fail everything at
/// once; a day is longer than anything a person or a test waits for, and far from the
/// instants where `Instant + Duration` overflows.
pub const TIMEOUT: DurationRange = DurationRange { min: MS, max: DAY };
/// `serve --shutdown-timeout`: 0 (close in-flight connections at once) to 1 day.
pub const SHUTDOWN_TIMEOUT: DurationRange = DurationRange {
    min: Duration::ZERO,
    max: DAY,
};
/// `--attempt-delay`: RFC 8305 §5's bounds, 10ms to 2s.
pub const ATTEMPT_DELAY: DurationRange = DurationRange {
    min: dualstack::connect::MIN_ATTEMPT_DELAY,
    max: dualstack::connect::MAX_ATTEMPT_DELAY,
};
/// `--resolution-delay`: 0 (no wait for the preferred family) to 2s (RFC 8305 §3
/// recommends 50ms; longer waits defeat the point).
pub const RESOLUTION_DELAY: DurationRange = DurationRange {
    min: Duration::ZERO,
    max: Duration::from_secs(2),
};

/// `serve --max-connections`: 1 to 1,000,000.
pub const MAX_CONNECTIONS: (u64, u64) = (1, 1_000_000);
/// `reverse --threads`, `serve --workers`: 1 to 1,024.
pub const THREADS: (u64, u64) = (1, 1024);
/// `--first-family-count`: 1 to 64 (RFC 8305 §4).
pub const FIRST_FAMILY_COUNT: (u64, u64) = (1, 64);
/// `smtp --max-line`: 1 byte to 16 MiB.
pub const MAX_LINE: (u64, u64) = (1, 16 << 20);
/// `serve --proxy-max-header`: a v2 header with IPv6 addresses to the format's limit.
pub const PROXY_V2_HEADER: (u64, u64) = (
    dualstack::whoami::proxy::MIN_V2_HEADER_CAP as u64,
    dualstack::whoami::proxy::MAX_V2_HEADER as u64,
);
/// UDP reply rates and bursts of `serve`: 1 to 1,000,000.
pub const UDP_RATE: (u64, u64) = (1, 1_000_000);

impl DurationRange {
    /// Parse `s` (humantime syntax: `250ms`, `2s`, `1m30s`) and check it is in range.
    ///
    /// # Errors
    /// A sentence about the input and the range.
    pub fn parse(&self, s: &str) -> Result<Duration, String> {
        let d = humantime::parse_duration(s)
            .map_err(|e| format!("invalid duration {s:?}: {e} (try 250ms or 2s)"))?;
        if d < self.min || d > self.max {
            return Err(format!("out of range (give {self})"));
        }
        Ok(d)
    }
}

impl std::fmt::Display for DurationRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |d: Duration| {
            if d.is_zero() {
                "0".to_owned()
            } else {
                humantime::format_duration(d).to_string()
            }
        };
        write!(f, "{} to {}", show(self.min), show(self.max))
    }
}

/// A timeout ([`TIMEOUT`]).
pub fn timeout(s: &str) -> Result<Duration, String> {
    TIMEOUT.parse(s)
}

/// A shutdown grace period ([`SHUTDOWN_TIMEOUT`]).
pub fn shutdown_timeout(s: &str) -> Result<Duration, String> {
    SHUTDOWN_TIMEOUT.parse(s)
}

/// A Connection Attempt Delay ([`ATTEMPT_DELAY`]).
pub fn attempt_delay(s: &str) -> Result<Duration, String> {
    ATTEMPT_DELAY.parse(s)
}

/// A Resolution Delay ([`RESOLUTION_DELAY`]).
pub fn resolution_delay(s: &str) -> Result<Duration, String> {
    RESOLUTION_DELAY.parse(s)
}

/// A host as typed (name or IP literal), checked by [`dualstack::host::parse`] before
/// any I/O; kept as given (the connector reads it again).
pub fn host(s: &str) -> Result<String, String> {
    dualstack::host::parse(s)
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

/// A count in `range` (one of the `(min, max)` constants), as `usize`.
pub fn count(range: (u64, u64)) -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(range.0..=range.1)
}

/// A rate or burst in `range`, as `u32`.
pub fn rate(range: (u64, u64)) -> RangedU64ValueParser<u32> {
    RangedU64ValueParser::new().range(range.0..=range.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_and_out_of_range() {
        assert_eq!(timeout("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(timeout("1ms"), Ok(MS));
        assert_eq!(timeout("1day"), Ok(DAY));
        for bad in ["0", "0s", "25h", "300000000000y", "18446744073709551615s"] {
            let e = timeout(bad).unwrap_err();
            assert!(e.contains("1ms to 1day"), "{bad}: {e}");
        }
        assert!(timeout("soon").unwrap_err().contains("invalid duration"));
        assert_eq!(shutdown_timeout("0s"), Ok(Duration::ZERO));
        assert!(shutdown_timeout("2days").unwrap_err().contains("0 to 1day"));
        assert!(attempt_delay("5ms").unwrap_err().contains("10ms to 2s"));
        assert_eq!(resolution_delay("0ms"), Ok(Duration::ZERO));
    }
}
