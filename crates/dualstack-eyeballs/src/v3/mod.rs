//! Happy Eyeballs version 3 pieces (draft-ietf-happy-happyeyeballs-v3-04, July 2026) that
//! need no network: service records (SVCB/HTTPS, RFC 9460) as the machine sees them
//! ([`svcb`]), the grouping of endpoints by protocol and service priority before the
//! families are interleaved ([`groups`], draft §5), the Connection Attempt Delay from
//! measured round-trip times ([`rtt`], draft §6 and RFC 8305 §5), and the text form of the
//! history kept across runs ([`history_file`]).

pub(crate) mod endpoints;
pub mod groups;
pub mod history_file;
pub mod rtt;
pub(crate) mod services;
pub mod svcb;
