//! # dualstack
//!
//! Programs that work over IPv4 and IPv6 at once, correctly and fast: Happy Eyeballs
//! (RFC 8305) connects that do not hang on broken IPv6, listeners on both families
//! without `::ffff:` addresses, and the tools to explain what the network is doing.
//!
//! # Quick start
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use dualstack::connect::Connector;
//! use dualstack::listen::{self, BindOptions, ListenAddr, Listeners, Type};
//!
//! let connector = Connector::new(); // make one, share clones (see below)
//! let conn = connector.connect("example.com", 80).await?; // async: a tokio TcpStream
//! println!("{} over {} in {:?}", conn.peer, conn.family(), conn.elapsed);
//!
//! let bound = listen::bind(&[ListenAddr::parse("8080", 8080)?], Type::STREAM, &BindOptions::default())?;
//! let mut listeners = Listeners::new(bound.sockets)?; // 0.0.0.0:8080 and [::]:8080
//! let accepted = listeners.accept().await; // peer addresses never ::ffff:-mapped
//! # Ok(()) }
//! # fn g() -> Result<(), dualstack::connect::ConnectError> {
//! // Blocking code (not inside a runtime): a std::net::TcpStream.
//! let conn = dualstack::connect::Connector::new().connect_blocking("example.com", 80)?;
//! # Ok(()) }
//! ```
//!
//! With feature `hyper`, `HappyConnector::new(connector.clone())` is a connector for
//! hyper-util's client and tonic channels ([`connect::hyper`]); with feature `reqwest`,
//! `HappyResolver::new(connector.clone()).client_builder()` gives reqwest the RFC 8305
//! resolution ([`connect::reqwest`]).
//!
//! # Share one `Connector`
//!
//! **One shared [`Connector`](connect::Connector) is what makes the outcome cache work.**
//! Its clones share the resolver and the [`OutcomeCache`](connect::OutcomeCache) (turn
//! it on with [`Connector::cache`](connect::Connector::cache)): the record of which
//! family won for which host, so that the next connect starts with the family that works
//! (RFC 8305 §4) and skips a black-holed one. A `Connector::new()` per request starts
//! from nothing every time. Make one at start-up and hand clones to every client.
//!
//! # Modules
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
//! # Features
//!
//! Only `hickory` is on by default: `dualstack = "0.1"` has no HTTP stack, TLS or server.
//!
//! | feature | adds | pulls in |
//! |---|---|---|
//! | `hickory` (default) | the DNS client [`connect::HickoryResolver`]: AAAA and A as separate queries, each answer used as it arrives (what the Resolution Delay needs), HTTPS records, reverse DNS without getaddrinfo | hickory-resolver (36 crates, and tokio's `macros` and `rt-multi-thread`) |
//! | `hyper` | [`connect::hyper::HappyConnector`]: a `tower::Service<Uri>` for hyper-util's client and tonic | hyper and hyper-util (client side only) |
//! | `reqwest` | [`connect::reqwest::HappyResolver`]: reqwest's DNS resolver with the Resolution Delay, interleaving and history | reqwest without default features (bring a TLS feature); `hickory` |
//! | `server` | `whoami` servers (line, HTTP, UDP), PROXY protocol, systemd socket activation | hyper's server side, ppp, sd-notify |
//! | `quic` | [`connect::quic`]: `Connector::connect_racing` races QUIC (h3) against TCP (draft-ietf-happy-happyeyeballs-v3) and returns the winning transport | `tls`, quinn (tokio runtime, rustls with ring) |
//! | `tls` | STARTTLS in [`smtp`] | rustls (ring), webpki-roots |
//! | `test-util` | scripted resolver and attempts for paused-clock tests | nothing |
//!
//! **Without `hickory`** (`default-features = false`) the connector resolves with
//! getaddrinfo ([`connect::SystemResolver`]): the AAAA and A answers arrive together,
//! when the slower one is in, so a late AAAA answer delays every connect by its whole
//! delay (the Resolution Delay cannot apply), no HTTPS records are asked for, and reverse
//! lookups use getnameinfo only ([`reverse::Backend::System`]). Happy Eyeballs racing,
//! history, NAT64 and everything else work as usual.
//!
//! All `unsafe` and platform-specific code lives in one private module, `sys`;
//! the rest of the crate is safe, portable Rust.
#![cfg_attr(docsrs, feature(doc_cfg))]
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
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod whoami;
