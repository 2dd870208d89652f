//! # dualstack
//!
//! Programs that work over IPv4 and IPv6 at once, correctly and fast.
//!
//! - [`addr`]: classify and convert any IPv4/IPv6 address (pure, no I/O).
//! - [`host`]: check a host as typed (IDNA, lengths, brackets, zones) before any I/O.
//! - [`listen`]: AF-independent listening: bind every family, explain `EADDRINUSE`, accept fairly.
//! - [`lines`]: buffered line I/O with a length limit and per-line timeouts.
//! - [`reverse`]: reverse DNS with a hard timeout, forward confirmation, two backends.
//! - [`smtp`]: SMTP reply parsing and a checked test dialogue (STARTTLS with feature `tls`).
//! - [`connect`]: Happy Eyeballs (RFC 8305) connects with a full timeline of every step.
//! - [`probe`]: this host's dual-stack state (sysctls, routes, addresses, loopback) in plain words.
//! - [`udp`]: a UDP socket that replies from the address each datagram was sent to.
//! - `whoami` (feature `server`): what a whoami reply says about a client.
//!
//! All `unsafe` and platform-specific code lives in one private module, `sys`;
//! the rest of the crate is safe, portable Rust.
#![deny(missing_docs, missing_debug_implementations, unsafe_code)]
#![warn(rust_2018_idioms)]

pub mod addr;
pub mod connect;
mod deadline;
pub mod host;
pub mod lines;
pub mod listen;
pub mod probe;
pub mod reverse;
pub mod smtp;
#[allow(unsafe_code)]
mod sys;
pub mod udp;
#[cfg(feature = "server")]
pub mod whoami;
