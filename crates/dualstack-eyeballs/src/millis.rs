//! How a measured time is written in traces, timelines and error messages.

use std::fmt;
use std::time::Duration;

/// A measured duration for people, in milliseconds with up to three decimals:
/// `0.412 ms`, `41.3 ms`, `250 ms`, `12.50 s`. Every timeline of this project (the
/// machine's trace reasons, the library's events and errors, the CLI's summaries) writes
/// times this way, so a summary line and `--trace` read alike. Durations a person typed
/// as settings are written as typed (`250ms`, `30s`) instead.
///
/// ```
/// use std::time::Duration;
/// use dualstack_eyeballs::Millis;
/// assert_eq!(Millis(Duration::from_micros(412)).to_string(), "0.412 ms");
/// assert_eq!(Millis(Duration::from_millis(250)).to_string(), "250 ms");
/// assert_eq!(Millis(Duration::from_millis(12_500)).to_string(), "12.50 s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Millis(pub Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_secs_f64() * 1e3;
        if ms >= 10_000.0 {
            write!(f, "{:.2} s", ms / 1e3)
        } else if ms >= 100.0 {
            write!(f, "{ms:.0} ms")
        } else if ms >= 10.0 {
            write!(f, "{ms:.1} ms")
        } else {
            write!(f, "{ms:.3} ms")
        }
    }
}
