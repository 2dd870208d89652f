//! [`LineStream`]: line reads and writes over a tokio stream, with the framing's limit and
//! a per-line read timeout.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{LineCodec, LineEnding, LineError};

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
    /// Wrap a stream, with the default limit ([`DEFAULT_MAX_LINE`](super::DEFAULT_MAX_LINE)), CRLF endings and
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

    /// Whether the last line read ended in a bare `\n` rather than `\r\n`.
    pub fn last_line_bare_lf(&self) -> bool {
        self.codec.last_line_bare_lf()
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

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
}
