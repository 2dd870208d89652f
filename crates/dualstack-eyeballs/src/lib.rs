//! Happy Eyeballs (RFC 8305) as a sans-IO state machine: no runtime, no sockets, no clock
//! reads. The caller passes `now` in, performs the actions the machine asks for (send a
//! query, start or cancel an attempt) and feeds back what happened.
//!
//! - [`HappyEyeballs`]: one run (connect, or resolve only), driven with
//!   [`handle`](HappyEyeballs::handle), [`poll_action`](HappyEyeballs::poll_action) and
//!   [`poll_timeout`](HappyEyeballs::poll_timeout);
//! - [`Order`]: the RFC 8305 §4 interleaving of addresses;
//! - [`HistoryCache`]: the outcomes of earlier connects (§4 "history");
//! - [`nat64`]: RFC 6052 address synthesis for IPv4 literals on IPv6-only networks;
//! - [`v3`]: Happy Eyeballs v3 pieces (service records, RTT table, history file).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use dualstack_eyeballs::{Action, Config, HappyEyeballs, Input, Mode, Outcome, Target, Family};
//!
//! let t0 = Instant::now();
//! let mut he = HappyEyeballs::new(&Config::default(), Mode::Connect, Target::Name, 443, None, t0);
//! let mut started = Vec::new();
//! while let Some(a) = he.poll_action(t0) {
//!     if let Action::SendQuery { family } = a { started.push(family) }
//! }
//! assert_eq!(started, [Family::V6, Family::V4]); // AAAA first (§3)
//! let t1 = t0 + Duration::from_millis(10);
//! he.handle(t1, Input::Answer { family: Family::V6, result: Ok(vec!["2001:db8::1".parse().unwrap()]) });
//! let mut id = None;
//! while let Some(a) = he.poll_action(t1) {
//!     if let Action::StartAttempt { id: i, addr, .. } = a { assert_eq!(addr.port(), 443); id = Some(i) }
//! }
//! he.handle(t1, Input::Connected { id: id.unwrap() });
//! let done = std::iter::from_fn(|| he.poll_action(t1)).last();
//! assert!(matches!(done, Some(Action::Done(Outcome::Connected { .. }))));
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, missing_debug_implementations, unsafe_code)]

mod cache;
mod config;
mod family;
mod io;
mod machine;
mod millis;
pub mod nat64;
mod order;
mod protocol;
pub mod v3;

use std::net::IpAddr;

pub use cache::{History, HistoryCache, DEFAULT_CAPACITY, DEFAULT_MAX_AGE};
pub use config::{
    Config, DEFAULT_ATTEMPT_DELAY, DEFAULT_FIRST_FAMILY_COUNT, DEFAULT_MIN_ATTEMPT_DELAY,
    DEFAULT_PREFER, DEFAULT_RESOLUTION_DELAY, DEFAULT_TIMEOUT, MAX_ATTEMPT_DELAY,
    MIN_ATTEMPT_DELAY,
};
pub use family::Family;
pub use io::{
    Action, AttemptEnd, AttemptId, AttemptRecord, CancelReason, FailReason, Failure, FamilyAnswer,
    Input, Mode, Outcome, Resolved, Target, Trace, TraceKind,
};
pub use machine::HappyEyeballs;
pub use millis::Millis;
pub use order::Order;
pub use protocol::{is_h3, quic_alpn, Protocol};

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) as the IPv4 address
/// it carries; anything else unchanged.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}
