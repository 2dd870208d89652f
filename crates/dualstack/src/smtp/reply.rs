//! Reply parsing, pure and without I/O (RFC 5321 §4.2): one line, multi-line replies,
//! a bounded number of lines.

use std::fmt;

use bytes::Bytes;
use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;

use super::DEFAULT_MAX_REPLY_LINES;
use crate::lines::lossy;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::Capabilities;
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
