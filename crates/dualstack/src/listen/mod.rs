//! AF-independent listening: list every passive address for a port (getaddrinfo
//! `AI_PASSIVE` semantics), bind them all in one of four [`ListenMode`]s, and accept
//! fairly from the resulting set of sockets.
//!
//! What this module fixes, compared with the usual `bind("[::]:80")`:
//!
//! - a host without IPv6 (or IPv4) is not fatal: a missing family (`EAFNOSUPPORT`,
//!   `EADDRNOTAVAIL`) is skipped with a warning; only "nothing bound" is an error;
//! - `EADDRINUSE` says why: a true conflict, or a dual socket (`IPV6_V6ONLY=0`) elsewhere
//!   that holds the IPv4 side of the port; and who holds it, when /proc can tell;
//! - every address reported (accepted peers, local addresses) is unmapped: never
//!   `::ffff:192.0.2.1`;
//! - one failing listening socket does not take the others down, and running out of file
//!   descriptors (`EMFILE`/`ENFILE`) backs off instead of spinning.
//!
//! [`bind`] works for any socket [`Type`]: the UDP service binds its datagram sockets with
//! the same listing and the same error reporting.

mod accept;
mod bind;
mod diagnose;
mod parse;
mod plan;

#[cfg(feature = "server")]
pub(crate) use accept::RawAccepted;
pub use accept::{Accepted, Listeners, ACCEPT_BACKOFF};
#[cfg(feature = "server")]
pub use bind::from_systemd;
pub use bind::{bind, bind_one, BindOptions, Bindings, Bound, Skipped};
pub use diagnose::{InUseReason, ListenError, SocketOwner};
pub use parse::{ListenAddr, ListenAddrError, ListenMode, ListenModeError};
pub use plan::{plan, Planned};
/// The socket type [`bind`] takes (`Type::STREAM`, `Type::DGRAM`), re-exported so a caller
/// needs no `socket2` of its own (and cannot hit a version mismatch).
pub use socket2::Type;
