//! What a dialogue recorded: every line with its time offset ([`Transcript`]) and what it
//! found out ([`Report`]).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;

use super::{Capabilities, Reply};
use crate::lines::lossy;

/// Who a transcript line is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Sent by us (`C:`).
    Client,
    /// Received from the server (`S:`).
    Server,
    /// Something that happened that is not a line (`*`): the TLS handshake.
    Note,
}

impl Direction {
    /// `C:`, `S:` or `*`.
    pub fn prefix(self) -> &'static str {
        match self {
            Direction::Client => "C:",
            Direction::Server => "S:",
            Direction::Note => "*",
        }
    }
}

/// One transcript line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Time since the dialogue's start (see [`Client::started_at`](super::Client::started_at)).
    pub at: Duration,
    /// Who sent it.
    pub direction: Direction,
    /// The line, without CRLF, as bytes.
    pub line: Bytes,
}

/// `   12.3 ms  S: 220 ready`
impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>8.1} ms  {} {}",
            self.at.as_secs_f64() * 1000.0,
            self.direction.prefix(),
            lossy(&self.line)
        )
    }
}

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Entry", 3)?;
        st.serialize_field("ms", &ms(self.at))?;
        st.serialize_field("dir", self.direction.prefix().trim_end_matches(':'))?;
        st.serialize_field("line", &lossy(&self.line).to_string())?;
        st.end()
    }
}

/// Milliseconds with microsecond precision, for JSON.
fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn ms_opt<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(ms(*d)),
        None => s.serialize_none(),
    }
}

/// Everything said in a dialogue, in order, with time offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Transcript {
    pub(super) entries: Vec<Entry>,
}

impl Transcript {
    /// The lines, in order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

/// One [`Entry`] per line.
impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

/// How the server was greeted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hello {
    /// `EHLO` or `HELO`.
    pub command: &'static str,
    /// The name we sent.
    pub name: String,
    /// The server's reply.
    pub reply: Reply,
}

/// The negotiated TLS session after STARTTLS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsInfo {
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: String,
    /// The IANA cipher suite name, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// Whether the certificate was verified (`false` with an insecure configuration).
    pub verified: bool,
}

/// How long each step took (from sending the command to the end of its reply).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Timings {
    /// From the start of the dialogue to the end of the greeting.
    #[serde(serialize_with = "ms_opt", rename = "greeting_ms")]
    pub greeting: Option<Duration>,
    /// EHLO (or HELO, including a refused EHLO) to its reply.
    #[serde(serialize_with = "ms_opt", rename = "hello_ms")]
    pub hello: Option<Duration>,
    /// STARTTLS to the end of the TLS handshake.
    #[serde(serialize_with = "ms_opt", rename = "starttls_ms")]
    pub starttls: Option<Duration>,
    /// EHLO after TLS to its reply.
    #[serde(serialize_with = "ms_opt", rename = "tls_hello_ms")]
    pub tls_hello: Option<Duration>,
    /// QUIT to its reply.
    #[serde(serialize_with = "ms_opt", rename = "quit_ms")]
    pub quit: Option<Duration>,
    /// The whole dialogue.
    #[serde(serialize_with = "ms_opt", rename = "total_ms")]
    pub total: Option<Duration>,
}

/// What a dialogue found out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The 220 greeting.
    pub greeting: Option<Reply>,
    /// The last EHLO/HELO and its reply.
    pub hello: Option<Hello>,
    /// The capabilities from the last EHLO (after TLS when STARTTLS was used); `None`
    /// when the server only accepted HELO.
    pub capabilities: Option<Capabilities>,
    /// The capabilities announced before STARTTLS, when it was used.
    pub capabilities_before_tls: Option<Capabilities>,
    /// The TLS session, when STARTTLS was used.
    pub tls: Option<TlsInfo>,
    /// The reply to QUIT.
    pub quit: Option<Reply>,
    /// The reply that decided the outcome: the last one received, except that after a
    /// failure the polite QUIT's reply does not replace the one that failed.
    pub last_reply: Option<Reply>,
    /// Step durations.
    pub timings: Timings,
    /// Every line, in order.
    pub transcript: Transcript,
}
