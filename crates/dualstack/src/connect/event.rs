//! What happened during one connect, step by step: the timeline behind `--trace` and
//! `--json`. Every event is also emitted as a `tracing` event (target `dualstack::connect`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use dualstack_eyeballs::{CancelReason, Protocol, TraceKind};
use serde::{Serialize, Serializer};

use crate::addr::Family;

/// One step of a connect, with its offset from the start of the connect.
///
/// The offset comes from Tokio's clock, so on a paused test clock it is virtual time and
/// exact; otherwise it is real (monotonic) time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Time since the connect started (serialized as `at_ms`, a float in milliseconds).
    #[serde(rename = "at_ms", serialize_with = "as_ms")]
    pub at: Duration,
    /// What happened (serialized flattened, with an `event` tag).
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The kinds of [`Event`]. Serialized with an `event` tag in `snake_case`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// The host is an IP literal: no DNS query is sent.
    Literal {
        /// The address.
        ip: IpAddr,
    },
    /// An IPv4 literal was translated for a NAT64 network (RFC 6052, prefix found per RFC 7050).
    Nat64 {
        /// The IPv4 address asked for.
        ip: IpAddr,
        /// The IPv6 address actually used.
        synthesized: IpAddr,
        /// The NAT64 prefix, e.g. `64:ff9b::/96`.
        prefix: String,
    },
    /// The outcome cache knew this destination (RFC 8305 §4, "history").
    CacheHit {
        /// The family that worked last time; it goes first.
        prefer: Family,
        /// How old the remembered outcome is.
        #[serde(rename = "age_ms", serialize_with = "as_ms")]
        age: Duration,
        /// Addresses that failed or were slow last time; they go last in their family.
        demoted: Vec<IpAddr>,
        /// QUIC lost to TCP last time (draft-ietf-happy-happyeyeballs-v3-04): no QUIC
        /// attempt this time. Only said when QUIC could have been raced.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        quic_broken: bool,
    },
    /// A DNS query was sent (`AAAA` for IPv6, `A` for IPv4).
    QuerySent {
        /// The family asked for.
        family: Family,
    },
    /// A DNS answer arrived (possibly empty or failed).
    Answer {
        /// The family answered.
        family: Family,
        /// The addresses, in DNS order.
        addrs: Vec<IpAddr>,
        /// Why there are no addresses, when there are none.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The other family answered first: wait this long for the preferred one (RFC 8305 §3).
    ResolutionDelay {
        /// The family still awaited.
        waiting_for: Family,
        /// The Resolution Delay.
        #[serde(rename = "delay_ms", serialize_with = "as_ms")]
        delay: Duration,
    },
    /// The resolution delay ran out: start connecting with what we have (RFC 8305 §3).
    ResolutionDelayExpired {
        /// The family that has not answered yet; its answer is merged when it arrives.
        waiting_for: Family,
    },
    /// A connection attempt started (a TCP connect, or a QUIC handshake).
    AttemptStarted {
        /// The destination.
        addr: SocketAddr,
        /// TCP or QUIC.
        protocol: Protocol,
    },
    /// The HTTPS answer (RFC 9460) arrived: its ServiceMode records in priority order,
    /// in zone-file form.
    HttpsAnswer {
        /// `1 svc.example. alpn=h2 port=8443 ipv6hint=2001:db8::1`, ...
        records: Vec<String>,
        /// Why there are none, when the query failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A service's TargetName answered (RFC 9460 §7.3): its addresses replace the
    /// record's hints of that family.
    TargetAnswer {
        /// The TargetName.
        name: String,
        /// The family (`IPv6` = AAAA, `IPv4` = A).
        family: Family,
        /// The addresses, in DNS order.
        addrs: Vec<IpAddr>,
        /// Why there are none, when the query failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The Connection Attempt Delay after the attempt just started, and why: from the
    /// destination network's RTT when known (draft-ietf-happy-happyeyeballs-v3-04 §6),
    /// else the configured delay.
    AttemptDelay {
        /// The delay.
        #[serde(rename = "delay_ms", serialize_with = "as_ms")]
        delay: Duration,
        /// Why, in words: `attempt delay 100 ms: 2 × RTT 0.400 ms to 198.51.100.0/24, floor 100 ms`.
        reason: String,
    },
    /// An attempt failed (refused, unreachable, ...).
    AttemptFailed {
        /// The destination.
        addr: SocketAddr,
        /// TCP or QUIC.
        protocol: Protocol,
        /// Why.
        error: String,
    },
    /// An attempt succeeded: it is the winner.
    Connected {
        /// The destination.
        addr: SocketAddr,
        /// TCP or QUIC.
        protocol: Protocol,
        /// Our local address on that connection.
        local: SocketAddr,
        /// How long the winning attempt took (from its start).
        #[serde(rename = "rtt_ms", serialize_with = "as_ms")]
        rtt: Duration,
    },
    /// An attempt still in flight was cancelled and its socket closed.
    Cancelled {
        /// The destination.
        addr: SocketAddr,
        /// TCP or QUIC.
        protocol: Protocol,
        /// Why (another attempt won, or the overall timeout).
        reason: String,
    },
    /// The overall timeout ran out.
    TimedOut {
        /// The timeout.
        #[serde(rename = "timeout_ms", serialize_with = "as_ms")]
        timeout: Duration,
    },
}

fn as_ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

fn query_name(f: Family) -> &'static str {
    match f {
        Family::V6 => "AAAA",
        Family::V4 => "A",
    }
}

fn list(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A measured time as every timeline writes it ([`Millis`](dualstack_eyeballs::Millis)).
pub(crate) fn fmt_duration(d: Duration) -> String {
    dualstack_eyeballs::Millis(d).to_string()
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::Literal { ip } => write!(f, "{ip} is an IP literal: no DNS"),
            EventKind::Nat64 {
                ip,
                synthesized,
                prefix,
            } => write!(
                f,
                "no IPv4 route: {ip} becomes {synthesized} via NAT64 prefix {prefix} (RFC 6052)"
            ),
            EventKind::CacheHit {
                prefer,
                age,
                demoted,
                quic_broken,
            } => {
                write!(
                    f,
                    "history from {} ago: {prefer} worked, trying it first",
                    fmt_duration(*age)
                )?;
                if !demoted.is_empty() {
                    write!(f, "; failed before, tried last: {}", list(demoted))?;
                }
                if *quic_broken {
                    f.write_str("; QUIC lost to TCP: TCP only")?;
                }
                Ok(())
            }
            EventKind::QuerySent { family } => write!(f, "{} query sent", query_name(*family)),
            EventKind::Answer {
                family,
                addrs,
                error,
            } => match error {
                Some(e) => write!(f, "{} answer: {e}", query_name(*family)),
                None => write!(f, "{} answer: {}", query_name(*family), list(addrs)),
            },
            EventKind::ResolutionDelay { waiting_for, delay } => write!(
                f,
                "waiting up to {} for the {} answer (resolution delay, RFC 8305 §3)",
                fmt_duration(*delay),
                query_name(*waiting_for)
            ),
            EventKind::ResolutionDelayExpired { waiting_for } => write!(
                f,
                "resolution delay over: connecting without the {} answer (merged if it comes)",
                query_name(*waiting_for)
            ),
            EventKind::AttemptStarted { addr, protocol } => {
                write!(
                    f,
                    "connecting to {addr} ({}){}",
                    Family::of(addr.ip()),
                    over(*protocol)
                )
            }
            EventKind::HttpsAnswer { records, error } => match error {
                Some(e) => write!(f, "HTTPS answer: {e}"),
                None if records.is_empty() => f.write_str("HTTPS answer: no service"),
                None => write!(f, "HTTPS answer: {}", records.join(" | ")),
            },
            EventKind::TargetAnswer {
                name,
                family,
                addrs,
                error,
            } => match error {
                Some(e) => write!(f, "{} answer for {name}: {e}", query_name(*family)),
                None => write!(
                    f,
                    "{} answer for {name}: {}",
                    query_name(*family),
                    list(addrs)
                ),
            },
            EventKind::AttemptDelay { reason, .. } => f.write_str(reason),
            EventKind::AttemptFailed {
                addr,
                protocol,
                error,
            } => write!(f, "{addr}{} failed: {error}", over(*protocol)),
            EventKind::Connected {
                addr,
                protocol,
                local,
                rtt,
            } => write!(
                f,
                "connected to {addr} ({}){} from {local}, handshake {}",
                Family::of(addr.ip()),
                over(*protocol),
                fmt_duration(*rtt)
            ),
            EventKind::Cancelled {
                addr,
                protocol,
                reason,
            } => write!(f, "cancelled {addr}{}: {reason}", over(*protocol)),
            EventKind::TimedOut { timeout } => {
                write!(f, "overall timeout of {} reached", fmt_duration(*timeout))
            }
        }
    }
}

/// How an attempt's line names its transport: TCP lines read as they always did, QUIC
/// lines say so.
fn over(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "",
        Protocol::Quic => " over QUIC",
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>10.3} ms  {}", self.at.as_secs_f64() * 1e3, self.kind)
    }
}

impl EventKind {
    /// The library's event for one step of the machine's timeline. `local` is the local
    /// address of the winning connection (the machine knows no sockets).
    pub(crate) fn from_trace(kind: TraceKind, local: Option<SocketAddr>) -> Option<EventKind> {
        Some(match kind {
            TraceKind::Literal { ip } => EventKind::Literal { ip },
            TraceKind::Nat64 {
                ip,
                synthesized,
                prefix,
                prefix_len,
            } => EventKind::Nat64 {
                ip,
                synthesized,
                prefix: format!("{prefix}/{prefix_len}"),
            },
            TraceKind::CacheHit {
                prefer,
                age,
                demoted,
                quic_broken,
            } => EventKind::CacheHit {
                prefer,
                age,
                demoted,
                quic_broken,
            },
            TraceKind::QuerySent { family } => EventKind::QuerySent { family },
            TraceKind::Answer {
                family,
                addrs,
                error,
            } => EventKind::Answer {
                family,
                addrs,
                error,
            },
            TraceKind::ResolutionDelay { waiting_for, delay } => {
                EventKind::ResolutionDelay { waiting_for, delay }
            }
            TraceKind::ResolutionDelayExpired { waiting_for } => {
                EventKind::ResolutionDelayExpired { waiting_for }
            }
            TraceKind::AttemptStarted { addr, protocol, .. } => {
                EventKind::AttemptStarted { addr, protocol }
            }
            TraceKind::AttemptFailed {
                addr,
                protocol,
                error,
                ..
            } => EventKind::AttemptFailed {
                addr,
                protocol,
                error,
            },
            TraceKind::Connected {
                addr,
                protocol,
                rtt,
                ..
            } => EventKind::Connected {
                addr,
                protocol,
                local: local.unwrap_or_else(|| SocketAddr::new(unspecified(addr.ip()), 0)),
                rtt,
            },
            TraceKind::Cancelled {
                addr,
                protocol,
                reason,
                ..
            } => EventKind::Cancelled {
                addr,
                protocol,
                reason: match reason {
                    CancelReason::Won(peer) => format!("{peer} won"),
                    CancelReason::TimedOut => "overall timeout".into(),
                },
            },
            TraceKind::TimedOut { timeout } => EventKind::TimedOut { timeout },
            TraceKind::HttpsAnswer { services, error } => EventKind::HttpsAnswer {
                records: services.iter().map(ToString::to_string).collect(),
                error,
            },
            TraceKind::TargetAnswer {
                name,
                family,
                addrs,
                error,
            } => EventKind::TargetAnswer {
                name,
                family,
                addrs,
                error,
            },
            TraceKind::AttemptDelay { delay, .. } => EventKind::AttemptDelay {
                delay: delay.delay,
                reason: delay.to_string(),
            },
            _ => return None,
        })
    }
}

/// The unspecified address of `ip`'s family.
pub(crate) fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

/// Collects events with their offsets and mirrors each one to `tracing`.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    events: Vec<Event>,
}

impl Recorder {
    pub(crate) fn push(&mut self, at: Duration, kind: EventKind) {
        tracing::debug!(
            target: "dualstack::connect",
            at_ms = at.as_secs_f64() * 1e3,
            "{kind}"
        );
        self.events.push(Event { at, kind });
    }

    pub(crate) fn take(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}
