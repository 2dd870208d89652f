//! The settings of one Happy Eyeballs run, with the RFC 8305 §8 defaults.

use std::net::IpAddr;
use std::time::Duration;

use crate::Family;

/// Default Connection Attempt Delay (RFC 8305 §8).
pub const DEFAULT_ATTEMPT_DELAY: Duration = Duration::from_millis(250);
/// Smallest allowed Connection Attempt Delay (RFC 8305 §5: "MUST NOT be less than 10 ms").
pub const MIN_ATTEMPT_DELAY: Duration = Duration::from_millis(10);
/// Largest allowed Connection Attempt Delay (RFC 8305 §5: "SHOULD NOT be greater than 2 s").
pub const MAX_ATTEMPT_DELAY: Duration = Duration::from_secs(2);
/// Default floor of an RTT-based Connection Attempt Delay: the Minimum Connection Attempt
/// Delay that draft-ietf-happy-happyeyeballs-v3-04 §6 recommends.
pub const DEFAULT_MIN_ATTEMPT_DELAY: Duration = crate::v3::rtt::DEFAULT_FLOOR;
/// Default Resolution Delay (RFC 8305 §8).
pub const DEFAULT_RESOLUTION_DELAY: Duration = Duration::from_millis(50);
/// Default First Address Family Count (RFC 8305 §4).
pub const DEFAULT_FIRST_FAMILY_COUNT: usize = 1;
/// Default preferred family when history says nothing (RFC 6724 §6 prefers IPv6).
pub const DEFAULT_PREFER: Family = Family::V6;
/// Default overall timeout for one connect, DNS included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The settings of one run. Build it with [`Config::default`] and set the fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Connection Attempt Delay (RFC 8305 §5); the machine clamps it to
    /// [`MIN_ATTEMPT_DELAY`]–[`MAX_ATTEMPT_DELAY`].
    pub attempt_delay: Duration,
    /// Resolution Delay (RFC 8305 §3): how long to wait for the preferred family's answer
    /// when the other family answered first. Zero starts at once.
    pub resolution_delay: Duration,
    /// First Address Family Count (RFC 8305 §4); at least 1.
    pub first_family_count: usize,
    /// The family to try first when history says nothing.
    pub prefer: Family,
    /// Only this family (`None`: both). Only its query is sent.
    pub family: Option<Family>,
    /// The local address attempts are bound to: only destinations of its family are tried.
    pub source: Option<IpAddr>,
    /// Overall timeout, DNS included.
    pub timeout: Duration,
    /// The classic behaviour: wait for every answer, then one address at a time.
    pub serial: bool,
    /// Translate an IPv4 literal through the network's NAT64 prefix when there is no IPv4
    /// route (RFC 8305 §7).
    pub nat64: bool,
    /// Use the smoothed RTT of the destination's network, when known, for the delay after
    /// an attempt (`2 × SRTT` clamped to [`min_attempt_delay`](Self::min_attempt_delay)
    /// and 2 s; draft-ietf-happy-happyeyeballs-v3-04 §6). Without RTT data the delay is
    /// [`attempt_delay`](Self::attempt_delay).
    pub rtt_attempt_delay: bool,
    /// The floor of an RTT-based delay: the Minimum Connection Attempt Delay (100 ms
    /// recommended; kept at or above RFC 8305's 10 ms).
    pub min_attempt_delay: Duration,
    /// Ask for HTTPS records too (RFC 9460; draft-ietf-happy-happyeyeballs-v3-04 §4): the
    /// driver calls [`HappyEyeballs::with_svcb`](crate::HappyEyeballs::with_svcb) for host
    /// names. Off by default.
    pub svcb: bool,
    /// The application protocols this client's attempts speak, most preferred first, as
    /// classes of ALPN ids (draft-ietf-happy-happyeyeballs-v3-04 §5.1): with HTTPS
    /// records, endpoints are grouped by class and by service priority before the families
    /// are interleaved, and records no class accepts are not used. Default: one class that
    /// takes every record.
    pub protocols: crate::v3::groups::ProtocolPreference,
    /// The caller can make QUIC attempts ([`Protocol::Quic`](crate::Protocol::Quic)):
    /// a class of `h3` ids goes before the classes of [`protocols`](Self::protocols)
    /// (draft-ietf-happy-happyeyeballs-v3-04 §5.1), so the endpoints of a record that
    /// offers `h3` get QUIC attempts before the TCP attempts of the same priority, with one
    /// attempt delay for all. History that says QUIC is broken to the destination turns
    /// it off for the run. Off by default.
    pub quic: bool,
    /// ALPN ids the caller insists on, in preference order (empty: what the HTTPS records
    /// say). With [`quic`](Self::quic): a list with an `h3` id gives the origin's addresses
    /// QUIC attempts (then TCP ones) when no HTTPS record says otherwise, IP literals
    /// included; a list without one turns QUIC off.
    pub alpn: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            attempt_delay: DEFAULT_ATTEMPT_DELAY,
            resolution_delay: DEFAULT_RESOLUTION_DELAY,
            first_family_count: DEFAULT_FIRST_FAMILY_COUNT,
            prefer: DEFAULT_PREFER,
            family: None,
            source: None,
            timeout: DEFAULT_TIMEOUT,
            serial: false,
            nat64: true,
            rtt_attempt_delay: true,
            min_attempt_delay: DEFAULT_MIN_ATTEMPT_DELAY,
            svcb: false,
            protocols: crate::v3::groups::ProtocolPreference::default(),
            quic: false,
            alpn: Vec::new(),
        }
    }
}

impl Config {
    /// The families that may be used, AAAA first (RFC 8305 §3): both, or the one the
    /// `family` restriction or the source address allows. `None` when the two disagree:
    /// no destination can match.
    pub fn allowed_families(&self) -> Option<Vec<Family>> {
        let src = self.source.map(Family::of);
        match (self.family, src) {
            (Some(a), Some(b)) if a != b => None,
            (Some(a), _) | (None, Some(a)) => Some(vec![a]),
            (None, None) => Some(vec![Family::V6, Family::V4]),
        }
    }

    /// [`attempt_delay`](Self::attempt_delay) clamped as RFC 8305 §5 asks.
    pub fn clamped_attempt_delay(&self) -> Duration {
        self.attempt_delay
            .clamp(MIN_ATTEMPT_DELAY, MAX_ATTEMPT_DELAY)
    }
}
