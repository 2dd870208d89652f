//! An SMTP test client: reply parsing, EHLO capabilities and a checked dialogue.
//!
//! Two layers, smoltcp style:
//!
//! - **pure parsing**, no I/O: [`parse_reply_line`], [`ReplyParser`] (multi-line replies
//!   per RFC 5321 §4.2: three-digit code, `-` on every line but the last, the same code on
//!   every line, a bounded number of lines), [`parse_reply`] and [`Capabilities::parse`]
//!   (the EHLO keywords: SIZE, STARTTLS, PIPELINING, 8BITMIME, AUTH, SMTPUTF8, ...);
//! - **the dialogue**, generic over any tokio stream ([`Client::probe`]): greeting →
//!   `EHLO` (→ `HELO` if EHLO gets a 5xx) → optionally `STARTTLS`, the TLS handshake and
//!   `EHLO` again (feature `tls`) → `QUIT`, expecting 221. Every line goes into a
//!   [`Transcript`] with its time offset; each reply has a timeout.
//!
//! Timeouts. RFC 5321 §4.5.3.2 asks clients to wait 5 minutes for the greeting and for
//! replies to most commands: right for mail relays that must not give up on a busy peer,
//! far too long for a test tool, where a server silent for 30 seconds is the answer.
//! [`DEFAULT_REPLY_TIMEOUT`] (30 s) applies to the greeting and to every reply, and also
//! bounds the TLS handshake; [`DEFAULT_DIALOGUE_TIMEOUT`] (60 s) bounds the whole
//! dialogue, so a server that answers each step just in time cannot stretch it either.
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use dualstack::smtp::Client;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! // A scripted server on the other end of an in-memory pipe.
//! let (stream, mut server) = tokio::io::duplex(4096);
//! tokio::spawn(async move {
//!     let mut buf = [0u8; 512];
//!     server.write_all(b"220 mx.example.org ESMTP\r\n").await?;
//!     server.read(&mut buf).await?; // EHLO
//!     server.write_all(b"250-mx.example.org\r\n250-SIZE 10240000\r\n250 PIPELINING\r\n").await?;
//!     server.read(&mut buf).await?; // QUIT
//!     server.write_all(b"221 bye\r\n").await?;
//!     Ok::<_, std::io::Error>(())
//! });
//!
//! let report = Client::new("client.example.org").probe(stream).await?;
//! let caps = report.capabilities.expect("EHLO worked");
//! assert_eq!(caps.size, Some(10_240_000));
//! assert!(caps.pipelining && !caps.starttls);
//! assert_eq!(report.transcript.entries().len(), 7);
//! # Ok(()) }
//! ```

use std::time::Duration;

mod capabilities;
mod client;
mod error;
mod reply;
#[cfg(feature = "tls")]
pub mod tls;
mod transcript;

pub use capabilities::{address_literal, local_hostname, Capabilities};
#[cfg(feature = "tls")]
pub use client::StartTls;
pub use client::{Client, Observer};
pub use error::{ProbeError, SmtpError, Stage};
pub use reply::{parse_reply, parse_reply_line, Reply, ReplyError, ReplyLine, ReplyParser};
pub use transcript::{Direction, Entry, Hello, Report, Timings, TlsInfo, Transcript};

/// Default time to wait for the greeting and for each reply: 30 s (see the module docs
/// for why not RFC 5321's 5 minutes).
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Default limit for the whole dialogue, from the start of [`Client::probe`]: 60 s.
pub const DEFAULT_DIALOGUE_TIMEOUT: Duration = Duration::from_secs(60);

/// Default maximum number of lines in one reply. Real EHLO replies have about 5 to 20.
pub const DEFAULT_MAX_REPLY_LINES: usize = 100;
