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
//!   [`Decoder`] and [`Encoder`], so it works with `FramedRead`/`FramedWrite`.
//! - [`LineStream`]: a tokio [`AsyncRead`]/[`AsyncWrite`] stream with `read_line` and
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

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::{Decoder, Encoder};

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

/// Which line ending writers append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineEnding {
    /// `\r\n`, what SMTP, HTTP and most Internet protocols require.
    #[default]
    CrLf,
    /// `\n` alone.
    Lf,
}

impl LineEnding {
    fn as_bytes(self) -> &'static [u8] {
        match self {
            LineEnding::CrLf => b"\r\n",
            LineEnding::Lf => b"\n",
        }
    }
}

/// Line framing with a maximum length, without I/O.
///
/// [`decode_line`](Self::decode_line) takes complete lines off the front of a buffer;
/// [`encode_line`](Self::encode_line) appends one. The buffer never has to hold more than
/// `max_length + 2` bytes: once that many bytes arrive without a line ending, decoding
/// fails with [`LineError::TooLong`], the buffered part is dropped, and the codec skips
/// the rest of that line on the next calls (like tokio-util's `LinesCodec`).
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use dualstack::lines::{LineCodec, LineError};
///
/// let mut codec = LineCodec::new().with_max_length(4);
/// let mut buf = BytesMut::from(&b"ok\r\ntoo long\nnext\n"[..]);
/// assert_eq!(codec.decode_line(&mut buf)?.as_deref(), Some(&b"ok"[..]));
/// assert!(matches!(codec.decode_line(&mut buf), Err(LineError::TooLong { max: 4 })));
/// assert_eq!(codec.decode_line(&mut buf)?.as_deref(), Some(&b"next"[..]));
/// # Ok::<(), LineError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LineCodec {
    max_length: usize,
    ending: LineEnding,
    /// Skipping the rest of an overlong line.
    discarding: bool,
    /// How far the buffer has been searched for `\n` already (avoids quadratic rescans).
    scanned: usize,
}

impl Default for LineCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl LineCodec {
    /// A codec with the [`DEFAULT_MAX_LINE`] limit that writes CRLF.
    pub fn new() -> Self {
        LineCodec {
            max_length: DEFAULT_MAX_LINE,
            ending: LineEnding::CrLf,
            discarding: false,
            scanned: 0,
        }
    }

    /// Set the maximum line length in bytes, not counting the line ending.
    pub fn with_max_length(mut self, max_length: usize) -> Self {
        self.max_length = max_length;
        self
    }

    /// Set the line ending that [`encode_line`](Self::encode_line) appends.
    pub fn with_ending(mut self, ending: LineEnding) -> Self {
        self.ending = ending;
        self
    }

    /// The maximum line length in bytes, not counting the line ending.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The most bytes a reader needs to buffer while waiting for one line: the longest
    /// allowed line plus CRLF.
    pub fn max_buffered(&self) -> usize {
        self.max_length.saturating_add(2)
    }

    /// Whether the codec is skipping the rest of an overlong line.
    pub fn is_discarding(&self) -> bool {
        self.discarding
    }

    /// Take the next complete line off the front of `buf`, without its LF or CRLF.
    ///
    /// Returns `Ok(None)` when `buf` holds no complete line yet (read more, then call
    /// again).
    ///
    /// # Errors
    ///
    /// [`LineError::TooLong`] when the line being read is longer than the maximum. It is
    /// reported once, as soon as it is known; what arrived of it is dropped, and later
    /// calls skip up to the end of that line.
    pub fn decode_line(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, LineError> {
        loop {
            let start = self.scanned.min(buf.len());
            let newline = buf[start..].iter().position(|&b| b == b'\n');
            if self.discarding {
                match newline {
                    Some(i) => {
                        buf.advance(start + i + 1);
                        self.discarding = false;
                        self.scanned = 0;
                        continue;
                    }
                    None => {
                        buf.clear();
                        self.scanned = 0;
                        return Ok(None);
                    }
                }
            }
            return match newline {
                Some(i) => {
                    let end = start + i; // index of '\n'
                    self.scanned = 0;
                    let mut line = buf.split_to(end + 1);
                    line.truncate(end);
                    if line.last() == Some(&b'\r') {
                        line.truncate(end - 1);
                    }
                    if line.len() > self.max_length {
                        return Err(LineError::TooLong {
                            max: self.max_length,
                        });
                    }
                    Ok(Some(line.freeze()))
                }
                // Even if the next byte were '\n' and the last one '\r', the line would
                // still be longer than allowed: fail now rather than buffer more.
                None if buf.len() > self.max_length.saturating_add(1) => {
                    buf.clear();
                    self.scanned = 0;
                    self.discarding = true;
                    Err(LineError::TooLong {
                        max: self.max_length,
                    })
                }
                None => {
                    self.scanned = buf.len();
                    Ok(None)
                }
            };
        }
    }

    /// The stream has ended: return the last complete line, if any.
    ///
    /// # Errors
    ///
    /// [`LineError::ClosedMidLine`] if bytes without a line ending remain, plus the errors
    /// of [`decode_line`](Self::decode_line).
    pub fn decode_line_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, LineError> {
        match self.decode_line(buf)? {
            Some(line) => Ok(Some(line)),
            None if buf.is_empty() || self.discarding => {
                buf.clear();
                self.discarding = false;
                Ok(None)
            }
            None => {
                self.scanned = 0;
                Err(LineError::ClosedMidLine {
                    partial: buf.split().freeze(),
                })
            }
        }
    }

    /// Append `line` and the line ending to `dst`.
    ///
    /// # Errors
    ///
    /// [`LineError::EmbeddedLineBreak`] if `line` contains CR or LF;
    /// [`LineError::TooLong`] if it is longer than the maximum line length. Nothing is
    /// appended in either case.
    pub fn encode_line(&self, line: &[u8], dst: &mut BytesMut) -> Result<(), LineError> {
        if line.iter().any(|&b| b == b'\r' || b == b'\n') {
            return Err(LineError::EmbeddedLineBreak);
        }
        if line.len() > self.max_length {
            return Err(LineError::TooLong {
                max: self.max_length,
            });
        }
        let ending = self.ending.as_bytes();
        dst.reserve(line.len() + ending.len());
        dst.put_slice(line);
        dst.put_slice(ending);
        Ok(())
    }
}

impl Decoder for LineCodec {
    type Item = Bytes;
    type Error = LineError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, LineError> {
        self.decode_line(src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, LineError> {
        self.decode_line_eof(src)
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for LineCodec {
    type Error = LineError;

    fn encode(&mut self, item: T, dst: &mut BytesMut) -> Result<(), LineError> {
        self.encode_line(item.as_ref(), dst)
    }
}

/// A line reader and writer over a tokio stream.
///
/// Reads go through an internal buffer of at most `max_length + 2` bytes (see
/// [`LineCodec`]); bytes read past the end of a line stay buffered for the next
/// [`read_line`](Self::read_line). Writes are sent and flushed at once, one line each
/// (or several with [`write_lines`](Self::write_lines), e.g. for SMTP pipelining).
///
/// Use it on a whole stream (`TcpStream`, a TLS stream), or on the read half and the
/// write half separately.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), dualstack::lines::LineError> {
/// use std::time::Duration;
/// use dualstack::lines::{lossy, LineStream};
///
/// let (a, b) = tokio::io::duplex(1024);
/// let mut client = LineStream::new(a);
/// let mut server = LineStream::new(b);
/// server.set_read_timeout(Some(Duration::from_secs(5)));
///
/// client.write_line(b"EHLO example.org").await?;
/// let line = server.read_line().await?.expect("a line");
/// assert_eq!(lossy(&line).to_string(), "EHLO example.org");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LineStream<S> {
    inner: S,
    buf: BytesMut,
    codec: LineCodec,
    read_timeout: Option<Duration>,
    eof: bool,
}

impl<S> LineStream<S> {
    /// Wrap a stream, with the default limit ([`DEFAULT_MAX_LINE`]), CRLF endings and
    /// no read timeout.
    pub fn new(inner: S) -> Self {
        LineStream {
            inner,
            buf: BytesMut::new(),
            codec: LineCodec::new(),
            read_timeout: None,
            eof: false,
        }
    }

    /// Set the maximum line length in bytes, not counting the line ending.
    pub fn with_max_length(mut self, max_length: usize) -> Self {
        self.codec = self.codec.with_max_length(max_length);
        self
    }

    /// Set the line ending that writes append (CRLF by default).
    pub fn with_ending(mut self, ending: LineEnding) -> Self {
        self.codec = self.codec.with_ending(ending);
        self
    }

    /// Set or clear the time [`read_line`](Self::read_line) waits for one complete line.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// The time `read_line` waits for one complete line, if limited.
    pub fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout
    }

    /// The maximum line length in bytes, not counting the line ending.
    pub fn max_length(&self) -> usize {
        self.codec.max_length()
    }

    /// Bytes received but not yet returned as lines.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// The capacity of the read buffer: stays near `max_length + 2` whatever the peer
    /// sends (useful to check memory bounds in tests).
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped stream, mutably. Reading from it directly bypasses the buffer.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwrap: the stream and the bytes read from it that were not returned as lines yet.
    ///
    /// Protocols that switch layers (SMTP STARTTLS, HTTP Upgrade) use this; they must
    /// decide what leftover bytes mean (for STARTTLS, RFC 3207 §6: nothing good).
    pub fn into_parts(self) -> (S, BytesMut) {
        (self.inner, self.buf)
    }
}

impl<S: AsyncRead + Unpin> LineStream<S> {
    /// Read the next line, without its LF or CRLF ending.
    ///
    /// Returns `Ok(None)` at a clean end of stream (after a complete line).
    ///
    /// # Errors
    ///
    /// - [`LineError::TooLong`] when the peer sends more than the maximum without a line
    ///   ending; the reader can go on and will skip the rest of that line;
    /// - [`LineError::TimedOut`] when no complete line arrives within the read timeout;
    ///   what arrived of the line stays buffered;
    /// - [`LineError::ClosedMidLine`] when the stream ends in the middle of a line;
    /// - [`LineError::Io`] when reading fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: bytes already read stay in the buffer, so a `read_line` cancelled
    /// in a `select!` loses nothing and the next call picks up where it stopped.
    pub async fn read_line(&mut self) -> Result<Option<Bytes>, LineError> {
        match self.read_timeout {
            None => self.read_line_inner().await,
            Some(after) => tokio::time::timeout(after, self.read_line_inner())
                .await
                .unwrap_or(Err(LineError::TimedOut { after })),
        }
    }

    async fn read_line_inner(&mut self) -> Result<Option<Bytes>, LineError> {
        loop {
            if let Some(line) = self.codec.decode_line(&mut self.buf)? {
                return Ok(Some(line));
            }
            if self.eof {
                return self.codec.decode_line_eof(&mut self.buf);
            }
            // Never read past `max_length + 2` buffered bytes: that is enough to see
            // whether the line fits, so an endless line costs nothing more.
            let room = self
                .codec
                .max_buffered()
                .saturating_sub(self.buf.len())
                .max(1);
            let room = room.min(64 * 1024);
            self.buf.reserve(room);
            let n = self
                .inner
                .read_buf(&mut (&mut self.buf).limit(room))
                .await?;
            if n == 0 {
                self.eof = true;
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> LineStream<S> {
    /// Send `line` followed by the line ending, and flush.
    ///
    /// # Errors
    ///
    /// [`LineError::EmbeddedLineBreak`] or [`LineError::TooLong`] before anything is
    /// sent; [`LineError::Io`] when writing fails.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: if cancelled, part of the line may have been sent.
    pub async fn write_line(&mut self, line: &[u8]) -> Result<(), LineError> {
        self.write_lines(&[line]).await
    }

    /// Send several lines in one write (pipelining), and flush.
    ///
    /// # Errors
    ///
    /// As [`write_line`](Self::write_line); if any line is invalid, nothing is sent.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: if cancelled, part of the lines may have been sent.
    pub async fn write_lines(&mut self, lines: &[&[u8]]) -> Result<(), LineError> {
        let mut out = BytesMut::new();
        for line in lines {
            self.codec.encode_line(line, &mut out)?;
        }
        self.inner.write_all(&out).await?;
        self.inner.flush().await?;
        Ok(())
    }

    /// Shut down the write direction (TCP FIN) after flushing.
    ///
    /// # Errors
    ///
    /// [`LineError::Io`] when flushing or shutting down fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in that calling it again finishes the job.
    pub async fn shutdown(&mut self) -> Result<(), LineError> {
        self.inner.shutdown().await?;
        Ok(())
    }
}

/// Streams whose reads can time out: lets [`BlockingLineStream`] enforce a per-line
/// deadline (`SO_RCVTIMEO` for sockets).
pub trait SetReadTimeout {
    /// Set or clear the timeout of each `read` call, like
    /// [`std::net::TcpStream::set_read_timeout`].
    ///
    /// # Errors
    ///
    /// When the OS refuses the option.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl SetReadTimeout for std::net::TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        std::net::TcpStream::set_read_timeout(self, timeout)
    }
}

#[cfg(unix)]
impl SetReadTimeout for std::os::unix::net::UnixStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)
    }
}

impl<T: SetReadTimeout + ?Sized> SetReadTimeout for &T {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }
}

/// A line reader and writer over blocking [`std::io::Read`]/[`std::io::Write`] streams.
///
/// The same framing and limits as [`LineStream`]. The per-line read timeout needs a
/// stream that can time out its reads ([`SetReadTimeout`]: `TcpStream`, `UnixStream`);
/// see [`read_line_timeout`](Self::read_line_timeout).
///
/// # Examples
///
/// ```
/// use dualstack::lines::BlockingLineStream;
///
/// let input: &[u8] = b"first\r\nsecond\n";
/// let mut lines = BlockingLineStream::new(input);
/// assert_eq!(lines.read_line()?.as_deref(), Some(&b"first"[..]));
/// assert_eq!(lines.read_line()?.as_deref(), Some(&b"second"[..]));
/// assert_eq!(lines.read_line()?, None);
///
/// let mut out = BlockingLineStream::new(Vec::new());
/// out.write_line(b"QUIT")?;
/// assert_eq!(out.get_ref(), b"QUIT\r\n");
/// # Ok::<(), dualstack::lines::LineError>(())
/// ```
#[derive(Debug)]
pub struct BlockingLineStream<S> {
    inner: S,
    buf: BytesMut,
    codec: LineCodec,
    eof: bool,
}

impl<S> BlockingLineStream<S> {
    /// Wrap a stream, with the default limit ([`DEFAULT_MAX_LINE`]) and CRLF endings.
    pub fn new(inner: S) -> Self {
        BlockingLineStream {
            inner,
            buf: BytesMut::new(),
            codec: LineCodec::new(),
            eof: false,
        }
    }

    /// Set the maximum line length in bytes, not counting the line ending.
    pub fn with_max_length(mut self, max_length: usize) -> Self {
        self.codec = self.codec.with_max_length(max_length);
        self
    }

    /// Set the line ending that writes append (CRLF by default).
    pub fn with_ending(mut self, ending: LineEnding) -> Self {
        self.codec = self.codec.with_ending(ending);
        self
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped stream, mutably. Reading from it directly bypasses the buffer.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The capacity of the read buffer (stays near `max_length + 2`).
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Unwrap: the stream and the bytes read from it that were not returned as lines yet.
    pub fn into_parts(self) -> (S, BytesMut) {
        (self.inner, self.buf)
    }
}

impl<S: io::Read> BlockingLineStream<S> {
    /// Read the next line, without its LF or CRLF ending; `Ok(None)` at a clean end of
    /// stream.
    ///
    /// # Errors
    ///
    /// As [`LineStream::read_line`], without the timeout. A read that the stream itself
    /// times out (`WouldBlock`/`TimedOut`) is returned as [`LineError::Io`].
    pub fn read_line(&mut self) -> Result<Option<Bytes>, LineError> {
        loop {
            if let Some(line) = self.codec.decode_line(&mut self.buf)? {
                return Ok(Some(line));
            }
            if self.eof {
                return self.codec.decode_line_eof(&mut self.buf);
            }
            self.fill()?;
        }
    }

    fn fill(&mut self) -> Result<(), LineError> {
        let room = self.codec.max_buffered().saturating_sub(self.buf.len());
        let room = room.clamp(1, 64 * 1024);
        let start = self.buf.len();
        self.buf.resize(start + room, 0);
        let n = loop {
            match self.inner.read(&mut self.buf[start..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        self.buf.truncate(start + *n.as_ref().unwrap_or(&0));
        if n? == 0 {
            self.eof = true;
        }
        Ok(())
    }
}

impl<S: io::Read + SetReadTimeout> BlockingLineStream<S> {
    /// Read the next line, waiting at most `timeout` for all of it (a deadline for the
    /// line, not per `read` call: a peer trickling one byte a second cannot stretch it).
    ///
    /// # Errors
    ///
    /// As [`read_line`](Self::read_line), and [`LineError::TimedOut`] at the deadline.
    pub fn read_line_timeout(&mut self, timeout: Duration) -> Result<Option<Bytes>, LineError> {
        let deadline = std::time::Instant::now() + timeout;
        let result = loop {
            match self.codec.decode_line(&mut self.buf) {
                Ok(None) => {}
                other => break other,
            }
            if self.eof {
                break self.codec.decode_line_eof(&mut self.buf);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break Err(LineError::TimedOut { after: timeout });
            }
            self.inner.set_read_timeout(Some(left))?;
            match self.fill() {
                Err(LineError::Io(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break Err(LineError::TimedOut { after: timeout })
                }
                Err(e) => break Err(e),
                Ok(()) => {}
            }
        };
        self.inner.set_read_timeout(None)?;
        result
    }
}

impl<S: io::Write> BlockingLineStream<S> {
    /// Send `line` followed by the line ending, and flush.
    ///
    /// # Errors
    ///
    /// [`LineError::EmbeddedLineBreak`] or [`LineError::TooLong`] before anything is
    /// sent; [`LineError::Io`] when writing fails.
    pub fn write_line(&mut self, line: &[u8]) -> Result<(), LineError> {
        let mut out = BytesMut::new();
        self.codec.encode_line(line, &mut out)?;
        self.inner.write_all(&out)?;
        self.inner.flush()?;
        Ok(())
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
    use proptest::prelude::*;
    use tokio::io::AsyncWriteExt;

    fn decode_all(codec: &mut LineCodec, input: &[u8]) -> Vec<Result<Vec<u8>, String>> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        for _ in 0..input.len() + 2 {
            match codec.decode_line_eof(&mut buf) {
                Ok(Some(l)) => out.push(Ok(l.to_vec())),
                Ok(None) => break,
                Err(e) => out.push(Err(e.to_string())),
            }
        }
        out
    }

    #[test]
    fn lf_and_crlf_and_empty_lines() {
        let mut c = LineCodec::new();
        let got = decode_all(&mut c, b"a\r\nb\n\r\n\nc\r\r\n");
        let want: Vec<Result<Vec<u8>, String>> = vec![
            Ok(b"a".to_vec()),
            Ok(b"b".to_vec()),
            Ok(vec![]),
            Ok(vec![]),
            Ok(b"c\r".to_vec()),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn exactly_max_fits_one_more_does_not() {
        let mut c = LineCodec::new().with_max_length(3);
        assert_eq!(
            decode_all(&mut c, b"abc\r\nabc\nabcd\r\nxy\n"),
            vec![
                Ok(b"abc".to_vec()),
                Ok(b"abc".to_vec()),
                Err("line too long (over 3 bytes)".into()),
                Ok(b"xy".to_vec()),
            ]
        );
    }

    #[test]
    fn overlong_without_newline_fails_early_and_discards() {
        let mut c = LineCodec::new().with_max_length(4);
        let mut buf = BytesMut::from(&b"abcde"[..]); // 5 bytes: could still be "abcd\r"
        assert!(c.decode_line(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b"f");
        assert!(matches!(
            c.decode_line(&mut buf),
            Err(LineError::TooLong { max: 4 })
        ));
        assert!(buf.is_empty() && c.is_discarding());
        buf.extend_from_slice(b"more junk");
        assert!(c.decode_line(&mut buf).unwrap().is_none());
        assert!(buf.is_empty());
        buf.extend_from_slice(b"junk\nok\n");
        assert_eq!(
            c.decode_line(&mut buf).unwrap().as_deref(),
            Some(&b"ok"[..])
        );
        assert!(!c.is_discarding());
    }

    #[test]
    fn eof_mid_line_is_an_error_with_the_partial_line() {
        let mut c = LineCodec::new();
        let mut buf = BytesMut::from(&b"250-ok\r\n250 par"[..]);
        assert!(c.decode_line_eof(&mut buf).unwrap().is_some());
        match c.decode_line_eof(&mut buf) {
            Err(LineError::ClosedMidLine { partial }) => assert_eq!(&partial[..], b"250 par"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn encode_refuses_line_breaks_and_overlong() {
        let c = LineCodec::new().with_max_length(5);
        let mut out = BytesMut::new();
        assert!(matches!(
            c.encode_line(b"a\r\nRCPT", &mut out),
            Err(LineError::EmbeddedLineBreak)
        ));
        assert!(matches!(
            c.encode_line(b"abcdef", &mut out),
            Err(LineError::TooLong { max: 5 })
        ));
        assert!(out.is_empty());
        c.encode_line(b"QUIT", &mut out).unwrap();
        LineCodec::new()
            .with_ending(LineEnding::Lf)
            .encode_line(b"x", &mut out)
            .unwrap();
        assert_eq!(&out[..], b"QUIT\r\nx\n");
    }

    #[test]
    fn lossy_escapes() {
        assert_eq!(lossy(b"a\tb\r").to_string(), "a\\tb\\r");
        assert_eq!(lossy(b"\xe2\x82").to_string(), "\\xe2\\x82");
        assert_eq!(lossy("héllo".as_bytes()).to_cow(), "héllo");
        assert!(matches!(lossy(b"plain").to_cow(), Cow::Borrowed(_)));
    }

    #[tokio::test]
    async fn endless_line_is_bounded() {
        // An infinite stream of 'x': must fail after max_length, buffering little.
        let mut lines = LineStream::new(tokio::io::repeat(b'x')).with_max_length(8192);
        match lines.read_line().await {
            Err(LineError::TooLong { max: 8192 }) => {}
            other => panic!("{other:?}"),
        }
        assert!(
            lines.buffer_capacity() <= 64 * 1024,
            "{}",
            lines.buffer_capacity()
        );
    }

    #[tokio::test]
    async fn ten_megabytes_without_newline_then_a_line() {
        let (a, mut b) = tokio::io::duplex(64 * 1024);
        let writer = tokio::spawn(async move {
            let chunk = vec![b'y'; 1 << 20];
            for _ in 0..10 {
                b.write_all(&chunk).await.unwrap();
            }
            b.write_all(b"\r\nafter\r\n").await.unwrap();
        });
        let mut lines = LineStream::new(a);
        assert!(matches!(
            lines.read_line().await,
            Err(LineError::TooLong { .. })
        ));
        // Going on skips the rest of the overlong line, still with a small buffer.
        assert_eq!(
            lines.read_line().await.unwrap().as_deref(),
            Some(&b"after"[..])
        );
        assert!(lines.buffer_capacity() <= 64 * 1024);
        writer.await.unwrap();
        assert_eq!(lines.read_line().await.unwrap(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn read_timeout_keeps_partial_line() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut lines = LineStream::new(a);
        lines.set_read_timeout(Some(Duration::from_secs(3)));
        b.write_all(b"250 par").await.unwrap();
        let t0 = tokio::time::Instant::now();
        match lines.read_line().await {
            Err(LineError::TimedOut { after }) => assert_eq!(after, Duration::from_secs(3)),
            other => panic!("{other:?}"),
        }
        assert_eq!(t0.elapsed(), Duration::from_secs(3));
        b.write_all(b"tial\r\n").await.unwrap();
        assert_eq!(
            lines.read_line().await.unwrap().as_deref(),
            Some(&b"250 partial"[..])
        );
    }

    #[tokio::test]
    async fn write_lines_pipelines_and_flushes() {
        let (a, b) = tokio::io::duplex(1024);
        let mut w = LineStream::new(a);
        let mut r = LineStream::new(b);
        w.write_lines(&[b"MAIL FROM:<>", b"RCPT TO:<a@b>"])
            .await
            .unwrap();
        assert_eq!(r.read_line().await.unwrap().unwrap(), &b"MAIL FROM:<>"[..]);
        assert_eq!(r.read_line().await.unwrap().unwrap(), &b"RCPT TO:<a@b>"[..]);
        assert!(matches!(
            w.write_line(b"x\ny").await,
            Err(LineError::EmbeddedLineBreak)
        ));
    }

    #[test]
    fn blocking_timeout_on_a_real_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        io::Write::write_all(&mut c, b"one\r\ntw").unwrap();
        let mut lines = BlockingLineStream::new(s);
        let t = Duration::from_millis(200);
        assert_eq!(
            lines.read_line_timeout(t).unwrap().as_deref(),
            Some(&b"one"[..])
        );
        let start = std::time::Instant::now();
        assert!(matches!(
            lines.read_line_timeout(t),
            Err(LineError::TimedOut { .. })
        ));
        assert!(start.elapsed() >= t);
        io::Write::write_all(&mut c, b"o\n").unwrap();
        assert_eq!(
            lines.read_line_timeout(t).unwrap().as_deref(),
            Some(&b"two"[..])
        );
    }

    #[test]
    fn blocking_endless_line_is_bounded() {
        let mut lines = BlockingLineStream::new(io::repeat(b'z')).with_max_length(100);
        assert!(matches!(
            lines.read_line(),
            Err(LineError::TooLong { max: 100 })
        ));
        assert!(lines.buffer_capacity() < 4096);
    }

    proptest! {
        /// Any split of the input into chunks gives the same lines as decoding it whole,
        /// and the buffer never holds more than max + 2 bytes while waiting for more input.
        #[test]
        fn chunking_does_not_matter(
            input in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), any::<u8>()], 0..300),
            cuts in proptest::collection::vec(0usize..300, 0..10),
            max in 0usize..20,
        ) {
            let mut whole = LineCodec::new().with_max_length(max);
            let want = decode_all(&mut whole, &input);

            let mut c = LineCodec::new().with_max_length(max);
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
            cuts.push(input.len());
            cuts.sort_unstable();
            let mut pos = 0;
            for cut in cuts {
                buf.extend_from_slice(&input[pos..cut]);
                pos = cut;
                loop {
                    match c.decode_line(&mut buf) {
                        Ok(Some(l)) => got.push(Ok(l.to_vec())),
                        Ok(None) => {
                            // Waiting for more: never more than max + 1 bytes held.
                            prop_assert!(buf.len() <= max + 1);
                            break;
                        }
                        Err(e) => got.push(Err(e.to_string())),
                    }
                }
            }
            loop {
                match c.decode_line_eof(&mut buf) {
                    Ok(Some(l)) => got.push(Ok(l.to_vec())),
                    Ok(None) => break,
                    Err(e) => { got.push(Err(e.to_string())); break }
                }
            }
            // Splitting may report an overlong line earlier but never differently.
            prop_assert_eq!(got, want);
        }
    }
}
