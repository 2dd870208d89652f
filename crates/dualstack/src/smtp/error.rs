//! Why a dialogue failed: the [`Stage`] it was in and the [`SmtpError`]; [`ProbeError`]
//! keeps the report up to the failure.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::{Reply, ReplyError, Report};
use crate::lines::{fmt_duration, LineError};

/// Which step of the dialogue something happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Stage {
    /// Waiting for the 220 greeting.
    Greeting,
    /// `EHLO` (also the second one, after TLS).
    Ehlo,
    /// `HELO` (after EHLO got a 5xx).
    Helo,
    /// `STARTTLS` and its 220.
    StartTls,
    /// The TLS handshake after STARTTLS.
    TlsHandshake,
    /// `QUIT` and its 221.
    Quit,
}

impl Stage {
    pub(super) fn command(self) -> &'static str {
        match self {
            Stage::Greeting => "the greeting",
            Stage::Ehlo => "EHLO",
            Stage::Helo => "HELO",
            Stage::StartTls => "STARTTLS",
            Stage::TlsHandshake => "the TLS handshake",
            Stage::Quit => "QUIT",
        }
    }
}

/// `the greeting`, `the EHLO reply`, ...
impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Greeting | Stage::TlsHandshake => f.write_str(self.command()),
            _ => write!(f, "the {} reply", self.command()),
        }
    }
}

/// Why the dialogue failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmtpError {
    /// Nothing (or no complete reply) arrived in time.
    #[error("timed out after {} waiting for {stage}", fmt_duration(*after))]
    TimedOut {
        /// What we were waiting for.
        stage: Stage,
        /// The timeout.
        after: Duration,
    },
    /// The whole dialogue took longer than its limit.
    #[error("the dialogue took longer than {} (stopped waiting for {stage})", fmt_duration(*after))]
    DialogueTimedOut {
        /// What we were waiting for when time ran out.
        stage: Stage,
        /// The limit.
        after: Duration,
    },
    /// The server closed the connection where a reply should start.
    #[error("connection closed by the server before {stage}")]
    Closed {
        /// What we were waiting for.
        stage: Stage,
    },
    /// The server closed the connection in the middle of a (multi-line) reply.
    #[error("connection closed mid-reply (reading {stage})")]
    ClosedMidReply {
        /// What we were reading.
        stage: Stage,
    },
    /// A reply line longer than the limit.
    #[error("line too long (over {max} bytes) in {stage}")]
    LineTooLong {
        /// What we were reading.
        stage: Stage,
        /// The limit.
        max: usize,
    },
    /// A reply that breaks RFC 5321 §4.2.
    #[error("invalid reply in {stage}")]
    BadReply {
        /// What we were reading.
        stage: Stage,
        /// What is wrong with it.
        #[source]
        source: ReplyError,
    },
    /// A well-formed reply with the wrong code.
    #[error("{stage} was not {expected}: {reply}")]
    Unexpected {
        /// Which reply.
        stage: Stage,
        /// The code we wanted.
        expected: u16,
        /// What came instead.
        reply: Reply,
    },
    /// STARTTLS was asked for but the server did not offer it.
    #[error("the server does not offer STARTTLS{}", if *helo { " (it did not accept EHLO)" } else { "" })]
    NoStartTls {
        /// The server only spoke HELO, which has no extensions.
        helo: bool,
    },
    /// Bytes arrived after the 220 reply to STARTTLS and before the TLS handshake: a
    /// plaintext injection attempt or a broken server (RFC 3207 §6, CVE-2011-0411).
    #[error("the server sent {0} bytes after its STARTTLS reply, before TLS started")]
    DataAfterStartTls(usize),
    /// The TLS handshake failed.
    #[error("TLS handshake failed")]
    Tls(#[source] std::io::Error),
    /// A command could not be sent.
    #[error("cannot send {command}")]
    Send {
        /// The command's name.
        command: &'static str,
        /// Why.
        #[source]
        source: LineError,
    },
    /// Reading from the connection failed.
    #[error("reading {stage} failed")]
    Read {
        /// What we were reading.
        stage: Stage,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A failed dialogue: the error, and what happened up to it.
#[derive(Debug)]
pub struct ProbeError {
    /// What went wrong.
    pub error: SmtpError,
    /// The dialogue up to the failure (transcript, replies, capabilities so far).
    pub report: Box<Report>,
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for ProbeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}
