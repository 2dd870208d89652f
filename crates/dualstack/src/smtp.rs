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

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::lines::{fmt_duration, lossy, LineError, LineStream, DEFAULT_MAX_LINE};

/// Default time to wait for the greeting and for each reply: 30 s (see the module docs
/// for why not RFC 5321's 5 minutes).
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Default limit for the whole dialogue, from the start of [`Client::probe`]: 60 s.
pub const DEFAULT_DIALOGUE_TIMEOUT: Duration = Duration::from_secs(60);

/// Default maximum number of lines in one reply. Real EHLO replies have about 5 to 20.
pub const DEFAULT_MAX_REPLY_LINES: usize = 100;

// ---------------------------------------------------------------------------------------
// Pure parsing
// ---------------------------------------------------------------------------------------

/// A reply line that does not follow RFC 5321 §4.2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The line does not start with a reply code: three digits, `2`-`5`, `0`-`5`, `0`-`9`.
    #[error("garbage reply code: {:?}", lossy(&head(line)))]
    GarbageCode {
        /// The offending line.
        line: Bytes,
    },
    /// The code is followed by something other than a space, `-` or the line end.
    #[error("garbage after the reply code (expected a space or '-'): {:?}", lossy(&head(line)))]
    BadSeparator {
        /// The offending line.
        line: Bytes,
    },
    /// A multi-line reply changed its code between lines (RFC 5321 §4.2.1 forbids it).
    #[error("reply code changed from {first} to {then} within one reply")]
    CodeChanged {
        /// The code of the first line.
        first: u16,
        /// The differing code.
        then: u16,
    },
    /// More continuation lines than allowed.
    #[error("reply has more than {max} lines")]
    TooManyLines {
        /// The limit.
        max: usize,
    },
    /// The input ended before the last line of the reply (only from [`parse_reply`]).
    #[error("reply ends without a final line (a code followed by a space)")]
    Incomplete,
}

/// At most 60 bytes of a line, for error messages.
fn head(line: &[u8]) -> Vec<u8> {
    line[..line.len().min(60)].to_vec()
}

/// One parsed reply line: `250-SIZE 1000` is code 250, not last, text `SIZE 1000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyLine<'a> {
    /// The three-digit reply code.
    pub code: u16,
    /// `true` for `code SP text` or a bare code, `false` for `code-text`.
    pub last: bool,
    /// The text after the separator (may be empty).
    pub text: &'a [u8],
}

/// Parse one reply line (without its CRLF).
///
/// Grammar (RFC 5321 §4.2): `Reply-code [ ("-" / SP) textstring ]` where
/// `Reply-code = %x32-35 %x30-35 %x30-39`.
///
/// # Errors
///
/// [`ReplyError::GarbageCode`] or [`ReplyError::BadSeparator`].
///
/// # Examples
///
/// ```
/// use dualstack::smtp::parse_reply_line;
///
/// let l = parse_reply_line(b"250-PIPELINING")?;
/// assert_eq!((l.code, l.last, l.text), (250, false, &b"PIPELINING"[..]));
/// assert!(parse_reply_line(b"220").unwrap().last);
/// assert!(parse_reply_line(b"hello").is_err());
/// # Ok::<(), dualstack::smtp::ReplyError>(())
/// ```
pub fn parse_reply_line(line: &[u8]) -> Result<ReplyLine<'_>, ReplyError> {
    let garbage = || ReplyError::GarbageCode {
        line: Bytes::copy_from_slice(line),
    };
    let [a, b, c, rest @ ..] = line else {
        return Err(garbage());
    };
    if !(b'2'..=b'5').contains(a) || !(b'0'..=b'5').contains(b) || !c.is_ascii_digit() {
        return Err(garbage());
    }
    let code = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
    match rest {
        [] => Ok(ReplyLine {
            code,
            last: true,
            text: b"",
        }),
        [b' ', text @ ..] => Ok(ReplyLine {
            code,
            last: true,
            text,
        }),
        [b'-', text @ ..] => Ok(ReplyLine {
            code,
            last: false,
            text,
        }),
        _ => Err(ReplyError::BadSeparator {
            line: Bytes::copy_from_slice(line),
        }),
    }
}

/// A complete (possibly multi-line) reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code, the same on every line.
    pub code: u16,
    /// The text of each line, after the code and separator. At least one (maybe empty).
    pub lines: Vec<Bytes>,
}

impl Reply {
    /// Whether the code is 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// The text of every line, shown lossily and joined with `" / "`.
    pub fn text(&self) -> String {
        let parts: Vec<String> = self.lines.iter().map(|l| lossy(l).to_string()).collect();
        parts.join(" / ")
    }
}

/// `250 first line / second line`.
impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        let text = self.text();
        if !text.is_empty() {
            write!(f, " {text}")?;
        }
        Ok(())
    }
}

impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Reply", 2)?;
        st.serialize_field("code", &self.code)?;
        let lines: Vec<String> = self.lines.iter().map(|l| lossy(l).to_string()).collect();
        st.serialize_field("lines", &lines)?;
        st.end()
    }
}

/// Assembles reply lines into [`Reply`]s, checking the RFC 5321 §4.2 rules.
///
/// # Examples
///
/// ```
/// use dualstack::smtp::ReplyParser;
///
/// let mut p = ReplyParser::new();
/// assert_eq!(p.push(b"220-mx.example.org")?, None);
/// let reply = p.push(b"220 ready")?.expect("final line");
/// assert_eq!(reply.code, 220);
/// assert_eq!(reply.lines.len(), 2);
/// assert!(p.push(b"250-x").is_ok() && p.push(b"251 y").is_err()); // code changed
/// # Ok::<(), dualstack::smtp::ReplyError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReplyParser {
    max_lines: usize,
    code: Option<u16>,
    lines: Vec<Bytes>,
}

impl Default for ReplyParser {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplyParser {
    /// A parser allowing [`DEFAULT_MAX_REPLY_LINES`] lines per reply.
    pub fn new() -> Self {
        Self::with_max_lines(DEFAULT_MAX_REPLY_LINES)
    }

    /// A parser allowing `max_lines` lines per reply (at least 1).
    pub fn with_max_lines(max_lines: usize) -> Self {
        ReplyParser {
            max_lines: max_lines.max(1),
            code: None,
            lines: Vec::new(),
        }
    }

    /// Whether a reply has started but not ended.
    pub fn in_reply(&self) -> bool {
        self.code.is_some()
    }

    /// Feed one line (without CRLF); returns the reply when this was its last line.
    ///
    /// # Errors
    ///
    /// Any [`ReplyError`]; the parser is then reset and ready for a new reply.
    pub fn push(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let result = self.push_inner(line);
        if result.is_err() {
            self.code = None;
            self.lines.clear();
        }
        result
    }

    fn push_inner(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let parsed = parse_reply_line(line)?;
        match self.code {
            Some(first) if first != parsed.code => {
                return Err(ReplyError::CodeChanged {
                    first,
                    then: parsed.code,
                })
            }
            _ => self.code = Some(parsed.code),
        }
        if self.lines.len() >= self.max_lines {
            return Err(ReplyError::TooManyLines {
                max: self.max_lines,
            });
        }
        self.lines.push(Bytes::copy_from_slice(parsed.text));
        if !parsed.last {
            return Ok(None);
        }
        self.code = None;
        Ok(Some(Reply {
            code: parsed.code,
            lines: std::mem::take(&mut self.lines),
        }))
    }
}

/// Parse one complete reply from text (lines separated by LF or CRLF); bytes after the
/// reply's final line are ignored.
///
/// # Errors
///
/// Any [`ReplyError`]; [`ReplyError::Incomplete`] when there is no final line.
///
/// # Examples
///
/// ```
/// use dualstack::smtp::parse_reply;
///
/// let r = parse_reply(b"250-mx\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")?;
/// assert_eq!(r.to_string(), "250 mx / 8BITMIME / SMTPUTF8");
/// # Ok::<(), dualstack::smtp::ReplyError>(())
/// ```
pub fn parse_reply(text: &[u8]) -> Result<Reply, ReplyError> {
    let mut parser = ReplyParser::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &b""[..]),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(reply) = parser.push(line)? {
            return Ok(reply);
        }
        rest = next;
    }
    Err(ReplyError::Incomplete)
}

/// What a server announces in its EHLO reply (RFC 5321 §4.1.1.1 and the extension RFCs).
///
/// Keywords are matched case-insensitively; ones not known here are kept as sent in
/// [`other`](Self::other).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// The first line of the reply: the server's name and an optional greeting.
    pub domain: String,
    /// SIZE (RFC 1870): the largest message accepted, in bytes; `Some(0)` means SIZE
    /// without a fixed limit.
    pub size: Option<u64>,
    /// STARTTLS (RFC 3207).
    pub starttls: bool,
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// 8BITMIME (RFC 6152).
    #[serde(rename = "8bitmime")]
    pub eight_bit_mime: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// AUTH mechanisms (RFC 4954), upper case, in the server's order, without
    /// duplicates (the obsolete `AUTH=` form is merged in).
    pub auth: Vec<String>,
    /// Every other extension line, as sent (`ENHANCEDSTATUSCODES`, `CHUNKING`, ...).
    pub other: Vec<String>,
}

impl Capabilities {
    /// Read the capabilities from an EHLO reply (its code is not checked).
    ///
    /// # Examples
    ///
    /// ```
    /// use dualstack::smtp::{parse_reply, Capabilities};
    ///
    /// let reply = parse_reply(b"250-mx.example.org hi\r\n250-size 35882577\r\n\
    ///     250-AUTH PLAIN LOGIN\r\n250-STARTTLS\r\n250 CHUNKING\r\n")?;
    /// let caps = Capabilities::parse(&reply);
    /// assert_eq!(caps.domain, "mx.example.org hi");
    /// assert_eq!(caps.size, Some(35882577));
    /// assert_eq!(caps.auth, ["PLAIN", "LOGIN"]);
    /// assert!(caps.starttls);
    /// assert_eq!(caps.other, ["CHUNKING"]);
    /// # Ok::<(), dualstack::smtp::ReplyError>(())
    /// ```
    pub fn parse(reply: &Reply) -> Capabilities {
        let mut caps = Capabilities::default();
        let mut lines = reply.lines.iter();
        if let Some(first) = lines.next() {
            caps.domain = lossy(first).to_string();
        }
        for line in lines {
            let text = lossy(line).to_string();
            let mut words = text.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            let upper = keyword.to_ascii_uppercase();
            let params: Vec<&str> = words.collect();
            match upper.as_str() {
                "SIZE" if params.len() <= 1 => match params.first().map(|p| p.parse::<u64>()) {
                    None => caps.size = Some(0),
                    Some(Ok(n)) => caps.size = Some(n),
                    Some(Err(_)) => caps.other.push(text.clone()),
                },
                "STARTTLS" => caps.starttls = true,
                "PIPELINING" => caps.pipelining = true,
                "8BITMIME" => caps.eight_bit_mime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "AUTH" => caps.add_auth(&params),
                _ if upper.starts_with("AUTH=") => {
                    caps.add_auth(&[&keyword[5..]]);
                    caps.add_auth(&params);
                }
                _ => caps.other.push(text.clone()),
            }
        }
        caps
    }

    fn add_auth(&mut self, mechanisms: &[&str]) {
        for m in mechanisms {
            let m = m.to_ascii_uppercase();
            if !m.is_empty() && !self.auth.contains(&m) {
                self.auth.push(m);
            }
        }
    }
}

/// The EHLO/HELO argument for an address literal (RFC 5321 §4.1.3): `[192.0.2.1]` or
/// `[IPv6:2001:db8::1]`. IPv4-mapped IPv6 addresses are shown as IPv4.
///
/// # Examples
///
/// ```
/// use dualstack::smtp::address_literal;
///
/// assert_eq!(address_literal("192.0.2.1".parse()?), "[192.0.2.1]");
/// assert_eq!(address_literal("2001:db8::1".parse()?), "[IPv6:2001:db8::1]");
/// assert_eq!(address_literal("::ffff:192.0.2.1".parse()?), "[192.0.2.1]");
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
pub fn address_literal(ip: IpAddr) -> String {
    match crate::addr::unmap(ip) {
        IpAddr::V4(v4) => format!("[{v4}]"),
        IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
    }
}

/// This machine's host name, if it is usable as an EHLO domain (letters, digits, `-`
/// and `.` only); `None` otherwise, so callers fall back to an [`address_literal`].
pub fn local_hostname() -> Option<String> {
    let name = nix::unistd::gethostname().ok()?.into_string().ok()?;
    let name = name.trim_end_matches('.');
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    ok.then(|| name.to_string())
}

// ---------------------------------------------------------------------------------------
// Transcript
// ---------------------------------------------------------------------------------------

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
    /// Time since the dialogue's start (see [`Client::started_at`]).
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
    entries: Vec<Entry>,
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

// ---------------------------------------------------------------------------------------
// The dialogue
// ---------------------------------------------------------------------------------------

/// Which step of the dialogue something happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
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
    fn command(self) -> &'static str {
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

/// A callback that sees each transcript entry as it happens (to print it live).
pub type Observer = Arc<dyn Fn(&Entry) + Send + Sync>;

/// STARTTLS settings: the rustls configuration and the name to verify.
#[cfg(feature = "tls")]
#[derive(Debug, Clone)]
pub struct StartTls {
    config: Arc<rustls::ClientConfig>,
    server_name: rustls::pki_types::ServerName<'static>,
    verified: bool,
}

#[cfg(feature = "tls")]
impl StartTls {
    /// STARTTLS verifying the server's certificate for `server_name` (a DNS name or IP
    /// address) against `config`'s roots.
    pub fn new(
        config: Arc<rustls::ClientConfig>,
        server_name: rustls::pki_types::ServerName<'static>,
    ) -> Self {
        StartTls {
            config,
            server_name,
            verified: true,
        }
    }

    /// STARTTLS verifying against the Mozilla root store (webpki-roots).
    ///
    /// # Errors
    ///
    /// When `server_name` is neither a DNS name nor an IP address.
    pub fn webpki(server_name: &str) -> Result<Self, rustls::pki_types::InvalidDnsNameError> {
        let name = rustls::pki_types::ServerName::try_from(server_name.to_string())?;
        Ok(Self::new(tls::webpki_config(), name))
    }

    /// STARTTLS that accepts any certificate: **for tests only**. The connection is
    /// encrypted but anyone in the path can read it.
    pub fn insecure() -> Self {
        StartTls {
            config: tls::insecure_config(),
            server_name: rustls::pki_types::ServerName::try_from("invalid")
                .expect("a valid DNS name"),
            verified: false,
        }
    }
}

/// rustls configurations (ring provider, TLS 1.2 and 1.3).
#[cfg(feature = "tls")]
pub mod tls {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{ring, CryptoProvider};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(ring::default_provider())
    }

    /// A client configuration trusting the Mozilla root store (webpki-roots).
    pub fn webpki_config() -> Arc<ClientConfig> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        Arc::new(
            ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    /// A client configuration trusting exactly `roots` (e.g. a test CA).
    pub fn config_with_roots(roots: rustls::RootCertStore) -> Arc<ClientConfig> {
        Arc::new(
            ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    /// A client configuration that accepts any certificate (handshake signatures are
    /// still checked). For tests against self-signed servers only.
    pub fn insecure_config() -> Arc<ClientConfig> {
        let provider = provider();
        Arc::new(
            ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
                .with_no_client_auth(),
        )
    }

    #[derive(Debug)]
    struct AcceptAnyCert(Arc<CryptoProvider>);

    impl ServerCertVerifier for AcceptAnyCert {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

/// The SMTP test client: configuration for [`probe`](Self::probe).
#[derive(Clone)]
pub struct Client {
    ehlo_name: String,
    greeting_timeout: Duration,
    reply_timeout: Duration,
    dialogue_timeout: Duration,
    max_line_length: usize,
    max_reply_lines: usize,
    started_at: Option<Instant>,
    observer: Option<Observer>,
    #[cfg(feature = "tls")]
    starttls: Option<StartTls>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Client");
        d.field("ehlo_name", &self.ehlo_name)
            .field("greeting_timeout", &self.greeting_timeout)
            .field("reply_timeout", &self.reply_timeout)
            .field("dialogue_timeout", &self.dialogue_timeout)
            .field("max_line_length", &self.max_line_length)
            .field("max_reply_lines", &self.max_reply_lines)
            .field("started_at", &self.started_at)
            .field("observer", &self.observer.as_ref().map(|_| "Fn(&Entry)"));
        #[cfg(feature = "tls")]
        d.field("starttls", &self.starttls);
        d.finish()
    }
}

impl Client {
    /// A client that greets with `EHLO ehlo_name` (a domain, or an [`address_literal`]),
    /// with the default timeouts and limits.
    pub fn new(ehlo_name: impl Into<String>) -> Self {
        Client {
            ehlo_name: ehlo_name.into(),
            greeting_timeout: DEFAULT_REPLY_TIMEOUT,
            reply_timeout: DEFAULT_REPLY_TIMEOUT,
            dialogue_timeout: DEFAULT_DIALOGUE_TIMEOUT,
            max_line_length: DEFAULT_MAX_LINE,
            max_reply_lines: DEFAULT_MAX_REPLY_LINES,
            started_at: None,
            observer: None,
            #[cfg(feature = "tls")]
            starttls: None,
        }
    }

    /// How long to wait for the 220 greeting (default [`DEFAULT_REPLY_TIMEOUT`]).
    pub fn greeting_timeout(mut self, t: Duration) -> Self {
        self.greeting_timeout = t;
        self
    }

    /// How long to wait for each reply and for the TLS handshake (default
    /// [`DEFAULT_REPLY_TIMEOUT`]).
    pub fn reply_timeout(mut self, t: Duration) -> Self {
        self.reply_timeout = t;
        self
    }

    /// The limit for the whole dialogue, counted from the call to
    /// [`probe`](Self::probe) (default [`DEFAULT_DIALOGUE_TIMEOUT`]).
    pub fn dialogue_timeout(mut self, t: Duration) -> Self {
        self.dialogue_timeout = t;
        self
    }

    /// The longest reply line accepted (default [`DEFAULT_MAX_LINE`], 8 KiB).
    pub fn max_line_length(mut self, n: usize) -> Self {
        self.max_line_length = n;
        self
    }

    /// The most lines in one reply (default [`DEFAULT_MAX_REPLY_LINES`]).
    pub fn max_reply_lines(mut self, n: usize) -> Self {
        self.max_reply_lines = n;
        self
    }

    /// Measure transcript offsets from `t` (e.g. when the connect started) instead of
    /// from the call to [`probe`](Self::probe).
    pub fn started_at(mut self, t: Instant) -> Self {
        self.started_at = Some(t);
        self
    }

    /// Call `f` with each transcript entry as it happens.
    pub fn observer(mut self, f: impl Fn(&Entry) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(f));
        self
    }

    /// Upgrade the connection with STARTTLS after the first EHLO (feature `tls`).
    #[cfg(feature = "tls")]
    pub fn starttls(mut self, tls: StartTls) -> Self {
        self.starttls = Some(tls);
        self
    }

    /// Run the dialogue on a connected stream: greeting, EHLO (HELO if EHLO gets a 5xx),
    /// STARTTLS if configured, QUIT.
    ///
    /// # Errors
    ///
    /// A [`ProbeError`] with the [`SmtpError`] and the report up to the failure: a
    /// timeout, a closed connection, an overlong line, a malformed reply, a reply with the
    /// wrong code, a failed TLS handshake. After a well-formed refusal (other than 421)
    /// it still sends QUIT, as RFC 5321 §3.1 asks.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future abandons the dialogue mid-way (the stream is
    /// dropped, which closes the connection).
    pub async fn probe<S>(&self, stream: S) -> Result<Report, ProbeError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let mut ctx = Ctx {
            client: self,
            start: self.started_at.unwrap_or_else(Instant::now),
            report: Report::default(),
            stage: Stage::Greeting,
        };
        let lines = LineStream::new(stream).with_max_length(self.max_line_length);
        let limit = self.dialogue_timeout;
        let result = tokio::time::timeout(limit, ctx.run(lines))
            .await
            .unwrap_or_else(|_| {
                Err(SmtpError::DialogueTimedOut {
                    after: limit,
                    stage: ctx.stage,
                })
            });
        match result {
            Ok(()) => {
                ctx.report.timings.total = Some(ctx.start.elapsed());
                Ok(ctx.report)
            }
            Err(error) => {
                ctx.report.timings.total = Some(ctx.start.elapsed());
                Err(ProbeError {
                    error,
                    report: Box::new(ctx.report),
                })
            }
        }
    }
}

struct Ctx<'a> {
    client: &'a Client,
    start: Instant,
    report: Report,
    /// Where the dialogue is, for the dialogue timeout's message.
    stage: Stage,
}

impl Ctx<'_> {
    fn record(&mut self, direction: Direction, line: Bytes) {
        let entry = Entry {
            at: self.start.elapsed(),
            direction,
            line,
        };
        if let Some(f) = &self.client.observer {
            f(&entry);
        }
        self.report.transcript.entries.push(entry);
    }

    async fn run<S>(&mut self, mut lines: LineStream<S>) -> Result<(), SmtpError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let greeting = self
            .read_reply(&mut lines, Stage::Greeting, self.client.greeting_timeout)
            .await?;
        self.report.timings.greeting = Some(self.start.elapsed());
        self.report.greeting = Some(greeting.clone());
        if greeting.code != 220 {
            return self
                .refused(&mut lines, Stage::Greeting, 220, greeting)
                .await;
        }

        let t = Instant::now();
        let res = self.hello(&mut lines).await;
        self.report.timings.hello = Some(t.elapsed());
        res?;

        #[cfg(feature = "tls")]
        if let Some(tls) = self.client.starttls.clone() {
            return self.starttls(lines, &tls).await;
        }
        self.quit(&mut lines).await
    }

    /// EHLO, and HELO if the server does not know EHLO (5xx).
    async fn hello<S>(&mut self, lines: &mut LineStream<S>) -> Result<(), SmtpError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let name = self.client.ehlo_name.clone();
        let reply = self
            .command(lines, Stage::Ehlo, &format!("EHLO {name}"))
            .await?;
        if reply.code == 250 {
            self.report.capabilities = Some(Capabilities::parse(&reply));
            self.report.hello = Some(Hello {
                command: "EHLO",
                name,
                reply,
            });
            return Ok(());
        }
        if !(500..600).contains(&reply.code) {
            return self.refused(lines, Stage::Ehlo, 250, reply).await;
        }
        // RFC 5321 §3.2: a server that does not support EHLO answers 5xx; fall back to
        // HELO, which has no extensions.
        let reply = self
            .command(lines, Stage::Helo, &format!("HELO {name}"))
            .await?;
        if reply.code != 250 {
            return self.refused(lines, Stage::Helo, 250, reply).await;
        }
        self.report.capabilities = None;
        self.report.hello = Some(Hello {
            command: "HELO",
            name,
            reply,
        });
        Ok(())
    }

    #[cfg(feature = "tls")]
    async fn starttls<S>(
        &mut self,
        mut lines: LineStream<S>,
        tls: &StartTls,
    ) -> Result<(), SmtpError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let offered = self.report.capabilities.as_ref().map(|c| c.starttls);
        if offered != Some(true) {
            let error = SmtpError::NoStartTls {
                helo: offered.is_none(),
            };
            self.polite_quit(&mut lines).await;
            return Err(error);
        }
        let t = Instant::now();
        let reply = self
            .command(&mut lines, Stage::StartTls, "STARTTLS")
            .await?;
        if reply.code != 220 {
            return self.refused(&mut lines, Stage::StartTls, 220, reply).await;
        }
        let (stream, leftover) = lines.into_parts();
        if !leftover.is_empty() {
            return Err(SmtpError::DataAfterStartTls(leftover.len()));
        }
        let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
        self.stage = Stage::TlsHandshake;
        let handshake = connector.connect(tls.server_name.clone(), stream);
        let stream = match tokio::time::timeout(self.client.reply_timeout, handshake).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(SmtpError::Tls(e)),
            Err(_) => {
                return Err(SmtpError::TimedOut {
                    stage: Stage::TlsHandshake,
                    after: self.client.reply_timeout,
                })
            }
        };
        let conn = stream.get_ref().1;
        let version = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
            Some(v) => format!("{v:?}"),
            None => "unknown".to_string(),
        };
        let cipher = conn
            .negotiated_cipher_suite()
            .map(|s| {
                let s = s.suite();
                s.as_str().map_or_else(|| format!("{s:?}"), str::to_string)
            })
            .unwrap_or_else(|| "unknown".to_string());
        self.report.timings.starttls = Some(t.elapsed());
        self.record(
            Direction::Note,
            Bytes::from(format!(
                "TLS handshake done: {version} {cipher}{}",
                if tls.verified {
                    ""
                } else {
                    " (certificate NOT verified: --insecure)"
                }
            )),
        );
        self.report.tls = Some(TlsInfo {
            version,
            cipher,
            verified: tls.verified,
        });
        // RFC 3207 §4.2: forget what was learnt before TLS and ask again.
        self.report.capabilities_before_tls = self.report.capabilities.take();
        let mut lines = LineStream::new(stream).with_max_length(self.client.max_line_length);
        let t = Instant::now();
        let res = self.hello(&mut lines).await;
        self.report.timings.tls_hello = Some(t.elapsed());
        res?;
        self.quit(&mut lines).await
    }

    async fn quit<S>(&mut self, lines: &mut LineStream<S>) -> Result<(), SmtpError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let t = Instant::now();
        let reply = self.command(lines, Stage::Quit, "QUIT").await?;
        self.report.timings.quit = Some(t.elapsed());
        self.report.quit = Some(reply.clone());
        if reply.code != 221 {
            return Err(SmtpError::Unexpected {
                stage: Stage::Quit,
                expected: 221,
                reply,
            });
        }
        Ok(())
    }

    /// QUIT on the way out of a failed dialogue; its outcome does not matter, and
    /// `last_reply` keeps the reply that decided the failure.
    async fn polite_quit<S>(&mut self, lines: &mut LineStream<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let decisive = self.report.last_reply.clone();
        let _ = self.quit(lines).await;
        self.report.last_reply = decisive;
    }

    /// A well-formed reply with the wrong code: say goodbye politely (unless the server
    /// is closing anyway, 421) and fail with that reply.
    async fn refused<S>(
        &mut self,
        lines: &mut LineStream<S>,
        stage: Stage,
        expected: u16,
        reply: Reply,
    ) -> Result<(), SmtpError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        if reply.code != 421 && stage != Stage::Quit {
            self.polite_quit(lines).await;
        }
        Err(SmtpError::Unexpected {
            stage,
            expected,
            reply,
        })
    }

    async fn command<S>(
        &mut self,
        lines: &mut LineStream<S>,
        stage: Stage,
        command: &str,
    ) -> Result<Reply, SmtpError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        lines
            .write_line(command.as_bytes())
            .await
            .map_err(|source| SmtpError::Send {
                command: stage.command(),
                source,
            })?;
        self.record(
            Direction::Client,
            Bytes::copy_from_slice(command.as_bytes()),
        );
        self.read_reply(lines, stage, self.client.reply_timeout)
            .await
    }

    async fn read_reply<S>(
        &mut self,
        lines: &mut LineStream<S>,
        stage: Stage,
        timeout: Duration,
    ) -> Result<Reply, SmtpError>
    where
        S: AsyncRead + Unpin,
    {
        self.stage = stage;
        let mut parser = ReplyParser::with_max_lines(self.client.max_reply_lines);
        let read = async {
            loop {
                let line = match lines.read_line().await {
                    Ok(Some(line)) => line,
                    Ok(None) if parser.in_reply() => {
                        return Err(SmtpError::ClosedMidReply { stage })
                    }
                    Ok(None) => return Err(SmtpError::Closed { stage }),
                    Err(LineError::ClosedMidLine { partial }) => {
                        self.record(Direction::Server, partial);
                        return Err(SmtpError::ClosedMidReply { stage });
                    }
                    Err(LineError::TooLong { max }) => {
                        return Err(SmtpError::LineTooLong { stage, max })
                    }
                    Err(LineError::Io(source)) => return Err(SmtpError::Read { stage, source }),
                    Err(e) => {
                        return Err(SmtpError::Read {
                            stage,
                            source: std::io::Error::other(e),
                        })
                    }
                };
                self.record(Direction::Server, line.clone());
                match parser.push(&line) {
                    Ok(Some(reply)) => return Ok(reply),
                    Ok(None) => {}
                    Err(source) => return Err(SmtpError::BadReply { stage, source }),
                }
            }
        };
        let reply =
            tokio::time::timeout(timeout, read)
                .await
                .unwrap_or(Err(SmtpError::TimedOut {
                    stage,
                    after: timeout,
                }))?;
        tracing::debug!(%stage, code = reply.code, "reply");
        self.report.last_reply = Some(reply.clone());
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reply_line_grammar() {
        for ok in [&b"220"[..], b"250 ", b"250-", b"554 x", b"200-a b c"] {
            assert!(parse_reply_line(ok).is_ok(), "{:?}", lossy(ok));
        }
        for bad in [
            &b""[..],
            b"25",
            b"2a0 x",
            b"160 x",
            b"260 x",
            b"620 x",
            b" 250 x",
        ] {
            assert!(
                matches!(parse_reply_line(bad), Err(ReplyError::GarbageCode { .. })),
                "{:?}",
                lossy(bad)
            );
        }
        assert!(matches!(
            parse_reply_line(b"2500 x"),
            Err(ReplyError::BadSeparator { .. })
        ));
        assert!(matches!(
            parse_reply_line(b"250\tx"),
            Err(ReplyError::BadSeparator { .. })
        ));
    }

    #[test]
    fn garbage_message_reads_well() {
        let e = parse_reply_line(b"HTTP/1.1 400 Bad Request").unwrap_err();
        assert_eq!(
            e.to_string(),
            "garbage reply code: \"HTTP/1.1 400 Bad Request\""
        );
    }

    #[test]
    fn multi_line_rules() {
        let r = parse_reply(b"220-a\n220-\r\n220 c\r\nextra").unwrap();
        assert_eq!(r.code, 220);
        assert_eq!(r.lines, vec![&b"a"[..], b"", b"c"]);
        assert_eq!(
            parse_reply(b"250-a\r\n251 b\r\n"),
            Err(ReplyError::CodeChanged {
                first: 250,
                then: 251
            })
        );
        assert_eq!(parse_reply(b"250-a\r\n"), Err(ReplyError::Incomplete));
        let mut p = ReplyParser::with_max_lines(3);
        assert_eq!(p.push(b"250-1"), Ok(None));
        assert_eq!(p.push(b"250-2"), Ok(None));
        assert_eq!(p.push(b"250-3"), Ok(None));
        assert_eq!(p.push(b"250 4"), Err(ReplyError::TooManyLines { max: 3 }));
        // Reset after an error: the next reply starts fresh.
        assert_eq!(p.push(b"221 bye").unwrap().unwrap().code, 221);
    }

    #[test]
    fn capabilities_parse() {
        let r = parse_reply(
            b"250-mx.example.org Hello [192.0.2.1]\r\n250-SIZE\r\n250-8bitmime\r\n\
              250-AUTH=LOGIN\r\n250-AUTH login plain CRAM-MD5\r\n250-SMTPUTF8\r\n\
              250-ENHANCEDSTATUSCODES\r\n250-SIZE abc\r\n250-X-FOO bar  baz\r\n250 PIPELINING\r\n",
        )
        .unwrap();
        let c = Capabilities::parse(&r);
        assert_eq!(c.domain, "mx.example.org Hello [192.0.2.1]");
        assert_eq!(c.size, Some(0));
        assert!(c.eight_bit_mime && c.smtputf8 && c.pipelining && !c.starttls);
        assert_eq!(c.auth, ["LOGIN", "PLAIN", "CRAM-MD5"]);
        assert_eq!(
            c.other,
            ["ENHANCEDSTATUSCODES", "SIZE abc", "X-FOO bar  baz"]
        );
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["8bitmime"], true);
    }

    #[test]
    fn literals() {
        assert_eq!(
            address_literal("::ffff:10.0.0.1".parse().unwrap()),
            "[10.0.0.1]"
        );
        assert_eq!(address_literal("::1".parse().unwrap()), "[IPv6:::1]");
    }

    proptest! {
        #[test]
        fn parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_reply(&data);
            if let Ok(r) = parse_reply(&data) {
                let _ = Capabilities::parse(&r);
            }
        }

        /// Formatting a reply and parsing it gives it back.
        #[test]
        fn roundtrip(code in 200u16..=559, texts in proptest::collection::vec("[ -~]{0,20}", 1..8)) {
            prop_assume!(code % 100 < 60);
            let mut wire = Vec::new();
            for (i, t) in texts.iter().enumerate() {
                let sep = if i + 1 == texts.len() { ' ' } else { '-' };
                wire.extend_from_slice(format!("{code}{sep}{t}\r\n").as_bytes());
            }
            let r = parse_reply(&wire).unwrap();
            prop_assert_eq!(r.code, code);
            let got: Vec<&[u8]> = r.lines.iter().map(|l| &l[..]).collect();
            let want: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
            prop_assert_eq!(got, want);
        }
    }
}
