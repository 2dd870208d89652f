//! What goes into the machine ([`Input`]) and what comes out ([`Action`]): queries to send,
//! attempts to start and cancel, the timeline ([`Trace`]) and the end ([`Outcome`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::{Family, Protocol};

/// Names one connection attempt, so that its result can be given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttemptId(pub(crate) u32);

impl fmt::Display for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A host name: the machine asks for its AAAA and A records.
    Name,
    /// An IP literal: no DNS. `scope_id` is the IPv6 zone as a number (0: none).
    Literal {
        /// The address (an IPv4-mapped address counts as IPv4).
        ip: IpAddr,
        /// The IPv6 scope id for link-local addresses.
        scope_id: u32,
    },
}

/// What the machine is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Resolve and connect (RFC 8305 §3–§5); ends with [`Outcome::Connected`] or
    /// [`Outcome::Failed`].
    Connect,
    /// Resolve only: wait for every answer (up to the timeout) and report them with the
    /// order a connect would use; ends with [`Outcome::Resolved`] (or a failed one for bad
    /// input).
    Resolve,
}

/// Something that happened, given to [`HappyEyeballs::handle`](crate::HappyEyeballs::handle).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input {
    /// One family's DNS answer: the addresses in DNS order, or why there are none.
    Answer {
        /// `V6` for AAAA, `V4` for A.
        family: Family,
        /// The addresses, or the failure as text.
        result: Result<Vec<IpAddr>, String>,
    },
    /// The resolver will give no more answers (families still awaited count as failed).
    ResolverDone,
    /// The HTTPS answer ([`Action::SendHttpsQuery`]): the ServiceMode records after any
    /// AliasMode chain (empty: no service), or why there are none. The machine sorts them
    /// by priority and shuffles those of equal priority (RFC 9460 §2.4.1,
    /// [`with_shuffle_seed`](crate::HappyEyeballs::with_shuffle_seed)).
    Https {
        /// The records, or the failure as text.
        result: Result<Vec<crate::v3::svcb::ServiceRecord>, String>,
    },
    /// One family's answer for a service's TargetName ([`Action::ResolveTarget`]).
    TargetAnswer {
        /// The TargetName, as the action gave it.
        name: String,
        /// `V6` for AAAA, `V4` for A.
        family: Family,
        /// The addresses, or the failure as text.
        result: Result<Vec<IpAddr>, String>,
    },
    /// The result of [`Action::DiscoverNat64`]: the NAT64 prefix and its length, or
    /// `None` (an IPv4 route exists, or no NAT64 was found).
    Nat64Prefix(Option<(Ipv6Addr, u8)>),
    /// The attempt completed its handshake.
    Connected {
        /// Which attempt.
        id: AttemptId,
    },
    /// The attempt failed.
    Failed {
        /// Which attempt.
        id: AttemptId,
        /// Why, as text (for the timeline and the error).
        error: String,
    },
}

/// Something the caller must do (or record), from
/// [`HappyEyeballs::poll_action`](crate::HappyEyeballs::poll_action).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Send the DNS query for `family` (AAAA for `V6`, A for `V4`). Every query of a run
    /// is asked for at once, before any other action; feed each answer back as
    /// [`Input::Answer`].
    SendQuery {
        /// The family to ask for.
        family: Family,
    },
    /// Ask for the HTTPS records of the host for the port (RFC 9460 §9.1 naming),
    /// following AliasMode, and give the ServiceMode records back as [`Input::Https`]. Sent
    /// before the address queries (draft-ietf-happy-happyeyeballs-v3-04 §4.1).
    SendHttpsQuery,
    /// Ask the A/AAAA records of a ServiceMode record's TargetName other than the host
    /// (RFC 9460 §7.3, draft-ietf-happy-happyeyeballs-v3-04 §4.2.1): the record's hints
    /// stand in until the answers come. Feed each family's answer back as
    /// [`Input::TargetAnswer`] (a family never answered: an `Err`).
    ResolveTarget {
        /// The TargetName (lower case, no final dot).
        name: String,
        /// The families to ask for, AAAA first.
        families: Vec<Family>,
    },
    /// An IPv4 literal on a host that may be IPv6-only: if there is no route to `ip`,
    /// find the network's NAT64 prefix (RFC 7050) and give it back as
    /// [`Input::Nat64Prefix`].
    DiscoverNat64 {
        /// The IPv4 literal.
        ip: Ipv4Addr,
    },
    /// Start a connection attempt; report its end as [`Input::Connected`] or
    /// [`Input::Failed`].
    StartAttempt {
        /// Its name.
        id: AttemptId,
        /// The destination.
        addr: SocketAddr,
        /// TCP, or a QUIC handshake (only when [`Config::quic`](crate::Config::quic) is on).
        protocol: Protocol,
    },
    /// Cancel an attempt in flight and close its socket.
    CancelAttempt {
        /// Which attempt.
        id: AttemptId,
    },
    /// One step of the timeline (for `--trace`, logs, errors).
    Trace(Trace),
    /// Store this outcome in the history cache for the host and port (names only).
    Remember {
        /// The winner and its handshake time.
        winner: Option<(SocketAddr, Duration)>,
        /// Addresses that failed, or were still pending when a later one won.
        demote: Vec<IpAddr>,
    },
    /// Store in the history cache whether QUIC works to this host and port (names only):
    /// `false` when QUIC attempts were made and a TCP attempt won (the UDP path is broken or
    /// slower: the next run makes no QUIC attempt while this is remembered), `true` when a
    /// QUIC attempt won.
    RememberQuic {
        /// Whether QUIC won.
        works: bool,
    },
    /// The run is over; no action follows.
    Done(Outcome),
}

/// One step of the timeline, with its offset from the start of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// Time since the start.
    pub at: Duration,
    /// What happened.
    pub kind: TraceKind,
}

/// Why an attempt was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// Another attempt connected first.
    Won(SocketAddr),
    /// The overall timeout ran out.
    TimedOut,
}

/// The kinds of [`Trace`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceKind {
    /// The host is an IP literal: no DNS.
    Literal {
        /// The address.
        ip: IpAddr,
    },
    /// An IPv4 literal was translated for a NAT64 network (RFC 6052).
    Nat64 {
        /// The IPv4 address asked for.
        ip: IpAddr,
        /// The IPv6 address used.
        synthesized: IpAddr,
        /// The NAT64 prefix.
        prefix: Ipv6Addr,
        /// Its length in bits.
        prefix_len: u8,
    },
    /// History knew this destination (RFC 8305 §4).
    CacheHit {
        /// The family that goes first.
        prefer: Family,
        /// How old the history is.
        age: Duration,
        /// Addresses that go last in their family.
        demoted: Vec<IpAddr>,
        /// QUIC lost to TCP last time: this run makes no QUIC attempt (only said when
        /// the run could have made QUIC attempts).
        quic_broken: bool,
    },
    /// A DNS query was asked for.
    QuerySent {
        /// Its family.
        family: Family,
    },
    /// A DNS answer arrived.
    Answer {
        /// Its family.
        family: Family,
        /// The usable addresses, in DNS order.
        addrs: Vec<IpAddr>,
        /// Why there are none, when the query failed.
        error: Option<String>,
    },
    /// The HTTPS answer arrived.
    HttpsAnswer {
        /// The ServiceMode records in priority order.
        services: Vec<crate::v3::svcb::ServiceRecord>,
        /// Why there are none, when the query failed.
        error: Option<String>,
    },
    /// A DNS answer for a service's TargetName arrived (RFC 9460 §7.3).
    TargetAnswer {
        /// The TargetName.
        name: String,
        /// Its family.
        family: Family,
        /// The usable addresses, in DNS order.
        addrs: Vec<IpAddr>,
        /// Why there are none, when the query failed.
        error: Option<String>,
    },
    /// The other family answered first: wait this long for the preferred one (§3).
    ResolutionDelay {
        /// The family still awaited.
        waiting_for: Family,
        /// The Resolution Delay.
        delay: Duration,
    },
    /// The Resolution Delay ran out: connect with what there is (§3).
    ResolutionDelayExpired {
        /// The family not answered yet.
        waiting_for: Family,
    },
    /// An attempt started.
    AttemptStarted {
        /// Its name.
        id: AttemptId,
        /// The destination.
        addr: SocketAddr,
        /// Its transport.
        protocol: Protocol,
    },
    /// The Connection Attempt Delay chosen after starting an attempt, and why
    /// (RFC 8305 §5; from the network's RTT when known, draft-ietf-happy-happyeyeballs-v3-04 §6).
    AttemptDelay {
        /// The attempt it follows.
        id: AttemptId,
        /// The delay and its reason.
        delay: crate::v3::rtt::AttemptDelay,
    },
    /// An attempt failed.
    AttemptFailed {
        /// Its name.
        id: AttemptId,
        /// The destination.
        addr: SocketAddr,
        /// Its transport.
        protocol: Protocol,
        /// Why.
        error: String,
    },
    /// An attempt connected: the winner.
    Connected {
        /// Its name.
        id: AttemptId,
        /// The destination (an IPv4-mapped address as IPv4).
        addr: SocketAddr,
        /// Its transport.
        protocol: Protocol,
        /// Its handshake time.
        rtt: Duration,
    },
    /// An attempt in flight was cancelled.
    Cancelled {
        /// Its name.
        id: AttemptId,
        /// The destination.
        addr: SocketAddr,
        /// Its transport.
        protocol: Protocol,
        /// Why.
        reason: CancelReason,
    },
    /// The overall timeout ran out.
    TimedOut {
        /// The timeout.
        timeout: Duration,
    },
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// An attempt connected; every other one was cancelled.
    Connected {
        /// The winning attempt.
        id: AttemptId,
        /// Its destination (an IPv4-mapped address as IPv4).
        addr: SocketAddr,
        /// Its transport.
        protocol: Protocol,
        /// Its handshake time.
        rtt: Duration,
        /// Time from the start of the run.
        elapsed: Duration,
    },
    /// [`Mode::Resolve`] is done.
    Resolved(Resolved),
    /// Nothing connected (or, in [`Mode::Resolve`], the input could not match).
    Failed(Failure),
}

/// What [`Mode::Resolve`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Whether the host was an IP literal.
    pub literal: bool,
    /// The family first in the order.
    pub prefer: Family,
    /// Each family's answer, in arrival order (missing ones last).
    pub answers: Vec<FamilyAnswer>,
    /// The order a connect would try the addresses in (RFC 8305 §4).
    pub order: Vec<IpAddr>,
    /// Time from the start of the run.
    pub elapsed: Duration,
}

/// One family's DNS answer as the run saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FamilyAnswer {
    /// The family (`IPv6` = AAAA, `IPv4` = A).
    pub family: Family,
    /// Addresses in DNS order.
    pub addrs: Vec<IpAddr>,
    /// Why there are none, when there are none.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub error: Option<String>,
    /// Time from the start to this answer (`None`: no answer).
    #[cfg_attr(
        feature = "serde",
        serde(rename = "elapsed_ms", serialize_with = "crate::io::opt_ms")
    )]
    pub elapsed: Option<Duration>,
}

#[cfg(feature = "serde")]
fn opt_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3),
        None => s.serialize_none(),
    }
}

/// Why a run failed, with every address's own story.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Why, as a whole.
    pub reason: FailReason,
    /// Every address: failures in the order they came, then the ones in flight at the
    /// timeout, then the ones never tried.
    pub attempts: Vec<AttemptRecord>,
    /// The DNS answers (empty for IP literals).
    pub lookups: Vec<FamilyAnswer>,
    /// Time from the start of the run.
    pub elapsed: Duration,
}

/// Why a run failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailReason {
    /// The family restriction and the source address disagree, or the literal is of a
    /// family that is not allowed.
    FamilyMismatch {
        /// The family restriction.
        family: Option<Family>,
        /// The source address.
        source: Option<IpAddr>,
        /// The literal, when the host was one.
        literal: Option<IpAddr>,
    },
    /// DNS gave no address of any allowed family.
    NoAddresses,
    /// Only one family was allowed and DNS gave none of it.
    NoneOfFamily {
        /// That family.
        family: Family,
        /// The source address, when it (not the family restriction) was the reason.
        source: Option<IpAddr>,
    },
    /// Every address was tried and failed.
    AllFailed,
    /// The overall timeout ran out.
    TimedOut {
        /// The timeout.
        timeout: Duration,
    },
}

/// One address of a failed run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The attempt (`None`: never started).
    pub id: Option<AttemptId>,
    /// The destination.
    pub addr: SocketAddr,
    /// Its transport.
    pub protocol: Protocol,
    /// When it started (`None`: never).
    pub started: Option<Duration>,
    /// When it ended.
    pub ended: Duration,
    /// How.
    pub end: AttemptEnd,
}

/// How an attempt of a failed run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptEnd {
    /// It failed, for this reason.
    Failed(String),
    /// Still in flight at the overall timeout.
    TimedOut,
    /// Never started before the overall timeout.
    NotTried,
}
