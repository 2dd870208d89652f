//! Shared test infrastructure. Use it from an integration test with `mod support;`.
//!
//! - [`aioquic`]: a QUIC server that is not ours (aioquic) with a fresh certificate.
//! - [`dns`]: a fake DNS server on loopback (per-name, per-type delays, NXDOMAIN,
//!   SERVFAIL, never-answer, a query log) and a hickory resolver pointed only at it.
//! - [`listen`]: a TCP listener for starting the library's servers in a test.
//! - [`tls`]: a fresh self-signed certificate and key as PEM files.
//! - [`netns`]: run a test inside a fresh network namespace (root only; skips cleanly
//!   otherwise) with test addresses on `lo` and optional nftables silent drops.
#![allow(dead_code)] // each test crate uses a different part of this module

pub mod aioquic;
pub mod dns;
pub mod listen;
pub mod netns;
pub mod tls;
