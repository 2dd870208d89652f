//! [`BlockingLineStream`]: the same line I/O over `std::io` streams, for blocking code
//! (e.g. a `std::net::TcpStream` from
//! [`Connector::connect_blocking`](crate::connect::Connector::connect_blocking)).

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::{LineCodec, LineEnding, LineError};

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
/// The same framing and limits as [`LineStream`](super::LineStream). The per-line read timeout needs a
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
///
/// Blocking code end to end: a Happy Eyeballs connect with
/// [`Connector::connect_blocking`](crate::connect::Connector::connect_blocking), then a
/// line dialogue with a per-line deadline.
///
/// ```
/// use std::io::Write;
/// use std::time::Duration;
/// use dualstack::connect::Connector;
/// use dualstack::lines::BlockingLineStream;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // A server on loopback that greets and echoes one line.
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// let server = std::thread::spawn(move || -> std::io::Result<()> {
///     let (s, _) = listener.accept()?;
///     (&s).write_all(b"220 ready\r\n")?;
///     let mut lines = BlockingLineStream::new(&s);
///     let line = lines.read_line().ok().flatten().unwrap_or_default();
///     (&s).write_all(&[&line[..], b"\r\n"].concat())
/// });
///
/// let conn = Connector::new().connect_blocking("127.0.0.1", port)?;
/// let mut lines = BlockingLineStream::new(&conn.stream);
/// let deadline = Duration::from_secs(5);
/// assert_eq!(lines.read_line_timeout(deadline)?.as_deref(), Some(&b"220 ready"[..]));
/// lines.write_line(b"HELLO")?;
/// assert_eq!(lines.read_line_timeout(deadline)?.as_deref(), Some(&b"HELLO"[..]));
/// server.join().unwrap()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct BlockingLineStream<S> {
    inner: S,
    buf: BytesMut,
    codec: LineCodec,
    eof: bool,
}

impl<S> BlockingLineStream<S> {
    /// Wrap a stream, with the default limit ([`DEFAULT_MAX_LINE`](super::DEFAULT_MAX_LINE)) and CRLF endings.
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
    /// As [`LineStream::read_line`](super::LineStream::read_line), without the timeout. A read that the stream itself
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
        let deadline = crate::deadline::Later::later(std::time::Instant::now(), timeout);
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
