//! Buffered line I/O ("getline/putline") over byte streams, with a hard length limit.
//!
//! Line-oriented protocols (SMTP, the whoami line server, POP, IMAP, Redis inline
//! commands, ...) all need the same few things, and getting them wrong is how servers
//! run out of memory or hang:
//!
//! - lines end in LF or CRLF; the ending is stripped, everything else is kept as **bytes**
//!   (non-UTF-8 survives; use [`lossy`] to show a line);
//! - a **maximum line length** ([`DEFAULT_MAX_LINE`], 8 KiB by default): a longer line is
//!   an error ([`LineError::TooLong`]) as soon as the limit is passed, never unbounded
//!   growth — at most `max_length + 2` bytes are ever buffered, and the rest of an overlong
//!   line is skipped (read and dropped) if the caller goes on reading;
//! - a **read timeout per line** ([`LineStream::set_read_timeout`]);
//! - writes that add the line ending, refuse embedded line breaks (no command injection)
//!   and flush.
//!
//! The pieces:
//!
//! - [`LineCodec`]: the framing alone, pure (no I/O). It also implements tokio-util's
//!   [`Decoder`](tokio_util::codec::Decoder) and [`Encoder`](tokio_util::codec::Encoder), so it works with `FramedRead`/`FramedWrite`.
//! - [`LineStream`]: a tokio [`AsyncRead`](tokio::io::AsyncRead)/[`AsyncWrite`](tokio::io::AsyncWrite) stream with `read_line` and
//!   `write_line`.
//! - [`BlockingLineStream`]: the same over [`std::io::Read`]/[`std::io::Write`].
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), dualstack::lines::LineError> {
//! use dualstack::lines::{LineError, LineStream};
//!
//! let (client, mut server) = tokio::io::duplex(1024);
//! tokio::io::AsyncWriteExt::write_all(&mut server, b"220 hello\r\n250 ok\n").await?;
//! drop(server);
//!
//! let mut lines = LineStream::new(client).with_max_length(512);
//! assert_eq!(lines.read_line().await?.as_deref(), Some(&b"220 hello"[..]));
//! assert_eq!(lines.read_line().await?.as_deref(), Some(&b"250 ok"[..]));
//! assert_eq!(lines.read_line().await?, None); // clean end of stream
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::time::Duration;

use bytes::Bytes;

mod blocking;
mod framing;
mod stream;

pub use blocking::{BlockingLineStream, SetReadTimeout};
pub use framing::{LineCodec, LineEnding};
pub use stream::LineStream;

/// The default maximum line length: 8 KiB, not counting the line ending.
///
/// Generous for text protocols (RFC 5321 §4.5.3.1 allows SMTP command lines of 512
/// octets and text lines of 1000) while keeping a hostile peer's cost small.
pub const DEFAULT_MAX_LINE: usize = 8192;

/// Why a line could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// The peer sent more than `max` bytes without a line ending.
    #[error("line too long (over {max} bytes)")]
    TooLong {
        /// The configured maximum line length.
        max: usize,
    },
    /// No complete line arrived within the read timeout.
    #[error("timed out after {} waiting for a line", fmt_duration(*after))]
    TimedOut {
        /// The timeout that expired.
        after: Duration,
    },
    /// The stream ended in the middle of a line (bytes without a line ending).
    #[error("connection closed mid-line ({} bytes without a line ending)", partial.len())]
    ClosedMidLine {
        /// What had arrived of the unfinished line.
        partial: Bytes,
    },
    /// A line given to a writer contains CR or LF, which would end it early and let the
    /// rest be read as another line.
    #[error("refusing to send a line that contains a line break")]
    EmbeddedLineBreak,
    /// The underlying stream failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// `30s`, `250ms`, `1.5s`: short and readable for error messages.
pub(crate) fn fmt_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

/// Show bytes from the network as text: valid UTF-8 as is, invalid bytes as `\xNN`, and
/// control characters escaped (`\r`, `\t`, `\u{1b}`) so a peer cannot drive the terminal.
///
/// # Examples
///
/// ```
/// use dualstack::lines::lossy;
///
/// assert_eq!(lossy(b"250 ok").to_string(), "250 ok");
/// assert_eq!(lossy(b"caf\xc3\xa9 \xff\x1b[2J").to_string(), "café \\xff\\u{1b}[2J");
/// ```
pub fn lossy(bytes: &[u8]) -> Lossy<'_> {
    Lossy(bytes)
}

/// Display adapter returned by [`lossy`].
#[derive(Clone, Copy)]
pub struct Lossy<'a>(&'a [u8]);

impl Lossy<'_> {
    /// The text as a `String` (or borrowed when nothing needed escaping).
    pub fn to_cow(&self) -> Cow<'_, str> {
        match std::str::from_utf8(self.0) {
            Ok(s) if !s.chars().any(char::is_control) => Cow::Borrowed(s),
            _ => Cow::Owned(self.to_string()),
        }
    }
}

impl fmt::Display for Lossy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                if c.is_control() {
                    write!(f, "{}", c.escape_default())?;
                } else {
                    f.write_char(c)?;
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Lossy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossy_escapes() {
        assert_eq!(lossy(b"a\tb\r").to_string(), "a\\tb\\r");
        assert_eq!(lossy(b"\xe2\x82").to_string(), "\\xe2\\x82");
        assert_eq!(lossy("héllo".as_bytes()).to_cow(), "héllo");
        assert!(matches!(lossy(b"plain").to_cow(), Cow::Borrowed(_)));
    }
}
