//! Happy Eyeballs (RFC 8305) as a sans-IO state machine.
//!
//! No runtime, no sockets, no clock reads: the caller passes `now` in and performs the
//! actions the machine asks for.
#![deny(missing_docs, missing_debug_implementations, unsafe_code)]

mod family;

pub use family::Family;
pub mod v3;
