//! [`ConnectError`]: one error for a whole Happy Eyeballs connect, listing every address
//! that was tried with its own cause and timing.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

use super::event::{fmt_duration, Event};
use dualstack_eyeballs::FailReason;

use crate::addr::Family;
pub use dualstack_eyeballs::FamilyAnswer;

/// Why one connection attempt to one address did not produce the connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptError {
    /// The destination.
    pub addr: SocketAddr,
    /// TCP or QUIC.
    pub protocol: dualstack_eyeballs::Protocol,
    /// When the attempt started, from the start of the connect (`None`: never started,
    /// because the overall timeout came first).
    #[serde(rename = "started_ms", serialize_with = "opt_ms")]
    pub started: Option<Duration>,
    /// When it ended, from the start of the connect.
    #[serde(rename = "ended_ms", serialize_with = "ms")]
    pub ended: Duration,
    /// The cause.
    pub cause: Cause,
}

/// The cause of a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Cause {
    /// The operating system reported an error (refused, unreachable, ...).
    Io {
        /// `std::io::ErrorKind` as text, e.g. `ConnectionRefused`.
        error_kind: String,
        /// The OS error number, when there is one.
        #[serde(skip_serializing_if = "Option::is_none")]
        errno: Option<i32>,
        /// The message, e.g. `Connection refused (os error 111)`.
        message: String,
    },
    /// Still in flight when the overall timeout ran out.
    TimedOut,
    /// Never started: the overall timeout ran out first.
    NotTried,
}

impl Cause {
    /// The cause of an I/O error.
    pub fn io(e: &io::Error) -> Cause {
        Cause::Io {
            error_kind: format!("{:?}", e.kind()),
            errno: e.raw_os_error(),
            message: e.to_string(),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Io { message, .. } => f.write_str(message),
            Cause::TimedOut => f.write_str("no answer before the overall timeout"),
            Cause::NotTried => f.write_str("not tried before the overall timeout"),
        }
    }
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quic = match self.protocol {
            dualstack_eyeballs::Protocol::Quic => ", QUIC",
            _ => "",
        };
        match self.started {
            Some(s) => write!(
                f,
                "{} ({}{quic}): {} (started at {}, gave up after {})",
                self.addr,
                Family::of(self.addr.ip()),
                self.cause,
                fmt_duration(s),
                fmt_duration(self.ended.saturating_sub(s))
            ),
            None => write!(
                f,
                "{} ({}{quic}): {}",
                self.addr,
                Family::of(self.addr.ip()),
                self.cause
            ),
        }
    }
}

/// Why the connect as a whole failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// The host is empty, or not a valid name or IP literal.
    InvalidHost {
        /// What is wrong with it (`None` when there was no host at all, as in a URI
        /// without one).
        #[serde(serialize_with = "opt_display")]
        cause: Option<crate::host::HostError>,
    },
    /// The requested family (`-4`/`-6`) and the source address's family disagree, or an IP
    /// literal is of the other family: no destination can match.
    FamilyMismatch {
        /// The family asked for with `family(...)`.
        #[serde(skip_serializing_if = "Option::is_none")]
        family: Option<Family>,
        /// The source address asked for.
        #[serde(skip_serializing_if = "Option::is_none")]
        source: Option<IpAddr>,
        /// The IP literal given as host, when there was one.
        #[serde(skip_serializing_if = "Option::is_none")]
        literal: Option<IpAddr>,
    },
    /// DNS gave no address of any allowed family.
    NoAddresses,
    /// The URI's scheme is not one the connector makes connections for: not `http`
    /// while the hyper connector enforces plain HTTP (hyper-util's `enforce_http`), or
    /// no scheme at all.
    UnsupportedScheme {
        /// The scheme, when there was one.
        #[serde(skip_serializing_if = "Option::is_none")]
        scheme: Option<String>,
    },
    /// Only one family was allowed (`-4`/`-6` or the source address's family) and DNS gave
    /// no address of it; the other family was not looked up.
    NoneOfFamily {
        /// The only family asked for.
        family: Family,
        /// The source address that restricted the family, if that was the reason.
        #[serde(skip_serializing_if = "Option::is_none")]
        source: Option<IpAddr>,
    },
    /// Every address was tried and failed.
    AllFailed,
    /// The overall timeout ran out first.
    TimedOut {
        /// The timeout.
        #[serde(rename = "timeout_ms", serialize_with = "ms")]
        timeout: Duration,
    },
    /// The blocking wrapper could not run (e.g. called from inside an async runtime).
    Runtime {
        /// What went wrong.
        message: String,
    },
}

/// A failed connect: the destination, why, every address with its own cause and time, the
/// DNS answers and the full event timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectError {
    /// The host as given.
    pub host: String,
    /// The port.
    pub port: u16,
    /// Why it failed as a whole.
    #[serde(flatten)]
    pub reason: Reason,
    /// Every address, in the order tried, with its own cause and timing.
    pub attempts: Vec<AttemptError>,
    /// The DNS answers (empty for IP literals).
    pub lookups: Vec<FamilyAnswer>,
    /// Time from the start of the connect to the failure.
    #[serde(rename = "elapsed_ms", serialize_with = "ms")]
    pub elapsed: Duration,
    /// The timeline (same as a successful connection's `events`).
    pub events: Vec<Event>,
}

fn ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

fn opt_display<T: fmt::Display, S: serde::Serializer>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

fn opt_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ms(d, s),
        None => s.serialize_none(),
    }
}

impl ConnectError {
    /// A failure before any query or attempt: no attempts, no lookups, no elapsed time.
    pub(crate) fn early(host: &str, port: u16, reason: Reason, events: Vec<Event>) -> ConnectError {
        ConnectError {
            host: host.to_owned(),
            port,
            reason,
            attempts: Vec::new(),
            lookups: Vec::new(),
            elapsed: Duration::ZERO,
            events,
        }
    }

    /// A broken promise inside the library, as an error rather than a panic.
    pub(crate) fn internal(host: &str, port: u16, what: &str, events: Vec<Event>) -> ConnectError {
        let message = format!("internal error: {what}");
        ConnectError::early(host, port, Reason::Runtime { message }, events)
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot connect to {} port {}: ", self.host, self.port)?;
        match &self.reason {
            Reason::InvalidHost { cause: Some(c) } => write!(f, "{c}")?,
            Reason::InvalidHost { cause: None } => f.write_str("the host name is not valid")?,
            Reason::UnsupportedScheme { scheme: Some(s) } => write!(
                f,
                "the URI scheme is {s}, and this connector is set to make plain http connections only \
                 (enforce_http; a TLS connector wrapping it needs enforce_http(false))"
            )?,
            Reason::UnsupportedScheme { scheme: None } => f.write_str("the URI has no scheme")?,
            Reason::FamilyMismatch {
                family,
                source,
                literal,
            } => {
                f.write_str("no destination matches")?;
                if let Some(fam) = family {
                    write!(f, " the requested family {fam}")?;
                }
                if let Some(src) = source {
                    if family.is_some() {
                        f.write_str(" and")?;
                    }
                    write!(
                        f,
                        " the source address {src} (a socket bound to an {} address reaches only {} destinations)",
                        Family::of(*src),
                        Family::of(*src)
                    )?;
                }
                if let Some(lit) = literal {
                    write!(f, ": {lit} is an {} address", Family::of(*lit))?;
                }
            }
            Reason::NoAddresses | Reason::NoneOfFamily { .. } => {
                match &self.reason {
                    Reason::NoneOfFamily {
                        family,
                        source: Some(src),
                    } => write!(
                        f,
                        "no {family} address found (the source address {src} can only reach {family} destinations, so only {family} was looked up)"
                    )?,
                    Reason::NoneOfFamily { family, .. } => write!(
                        f,
                        "no {family} address found (only {family} was requested)"
                    )?,
                    _ => f.write_str("no address found")?,
                }
                for l in &self.lookups {
                    let q = match l.family {
                        Family::V6 => "AAAA",
                        Family::V4 => "A",
                    };
                    match &l.error {
                        Some(e) => write!(f, "; {q}: {e}")?,
                        None => write!(f, "; {q}: no usable address")?,
                    }
                }
            }
            Reason::AllFailed if self.attempts.len() == 1 => write!(
                f,
                "its only address failed within {}",
                fmt_duration(self.elapsed)
            )?,
            Reason::AllFailed => write!(
                f,
                "all {} addresses failed within {}",
                self.attempts.len(),
                fmt_duration(self.elapsed)
            )?,
            Reason::TimedOut { timeout } => {
                write!(f, "timed out after {}", fmt_duration(*timeout))?;
                if self.attempts.is_empty() {
                    f.write_str(" before any address was known")?;
                }
            }
            Reason::Runtime { message } => f.write_str(message)?,
        }
        for a in &self.attempts {
            write!(f, "\n  {a}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConnectError {}

impl From<FailReason> for Reason {
    fn from(r: FailReason) -> Reason {
        match r {
            FailReason::FamilyMismatch {
                family,
                source,
                literal,
            } => Reason::FamilyMismatch {
                family,
                source,
                literal,
            },
            FailReason::NoAddresses => Reason::NoAddresses,
            FailReason::NoneOfFamily { family, source } => Reason::NoneOfFamily { family, source },
            FailReason::AllFailed => Reason::AllFailed,
            FailReason::TimedOut { timeout } => Reason::TimedOut { timeout },
            // A reason this version of the library does not know yet.
            _ => Reason::AllFailed,
        }
    }
}

impl From<ConnectError> for io::Error {
    fn from(e: ConnectError) -> io::Error {
        let kind = match e.reason {
            Reason::TimedOut { .. } => io::ErrorKind::TimedOut,
            Reason::InvalidHost { .. }
            | Reason::FamilyMismatch { .. }
            | Reason::UnsupportedScheme { .. } => io::ErrorKind::InvalidInput,
            Reason::NoAddresses | Reason::NoneOfFamily { .. } => io::ErrorKind::NotFound,
            Reason::AllFailed => e
                .attempts
                .iter()
                .find_map(|a| match &a.cause {
                    Cause::Io { errno: Some(n), .. } => {
                        Some(io::Error::from_raw_os_error(*n).kind())
                    }
                    _ => None,
                })
                .unwrap_or(io::ErrorKind::Other),
            Reason::Runtime { .. } => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}
