//! Line framing alone, pure (no I/O): [`LineCodec`] takes complete lines off a buffer of
//! at most `max_length + 2` bytes and appends one with its ending.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::{LineError, DEFAULT_MAX_LINE};

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
    /// The last decoded line ended in `\n` alone.
    bare_lf: bool,
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
            bare_lf: false,
        }
    }

    /// Whether the last line [`decode_line`](Self::decode_line) returned ended in a bare
    /// `\n` rather than `\r\n` (both are accepted; protocols that require CRLF, such as
    /// SMTP, RFC 5321 §2.3.8, can flag it).
    pub fn last_line_bare_lf(&self) -> bool {
        self.bare_lf
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
                    self.bare_lf = line.last() != Some(&b'\r');
                    if !self.bare_lf {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
