//! Host input as a person types it (`example.org`, `bücher.example`, `192.0.2.1`,
//! `[2001:db8::1]`, `fe80::1%eth0`), checked before any I/O: a name that no DNS server
//! could hold, or a literal that is not one, is refused here with a sentence about the
//! input rather than sent to a resolver that answers with a decoding error.
//!
//! Rules: an IP literal follows [`addr::parse`](crate::addr::parse()) (brackets only
//! around IPv6, a zone only on IPv6 and naming an interface of this host, no port);
//! a name is converted to ASCII with IDNA (UTS #46, RFC 5891) and then must have labels
//! of 1–63 characters (RFC 1035 §2.3.4) of letters, digits, `-` (not first or last)
//! and `_` (service labels), a total of at most 253 characters without the final dot,
//! and a last label that is not all digits (RFC 3696 §2: `1.2.3.256` is a broken
//! address, not a name).

use std::fmt;
use std::net::IpAddr;

use crate::addr;

/// The longest name, in ASCII, without the trailing dot (RFC 1035 §2.3.4: 255 octets on
/// the wire).
pub const MAX_NAME: usize = 253;
/// The longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL: usize = 63;

/// A checked host.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Host {
    /// An IP literal (unmapped) and its IPv6 scope id (0 without a zone).
    Ip {
        /// The address.
        ip: IpAddr,
        /// `sin6_scope_id` from the zone (`%eth0`, `%2`), 0 when there was none.
        scope_id: u32,
    },
    /// A domain name in ASCII (IDNA applied), as given otherwise (case and a final dot
    /// kept).
    Name(String),
}

/// What is wrong with a host.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostErrorKind {
    /// Nothing (or only white space) was given.
    Empty,
    /// An IP literal that does not parse: brackets, zone syntax, a port, a bad address.
    BadLiteral(&'static str),
    /// A port was given with the host (`[::1]:80`, `192.0.2.1:80`).
    PortGiven,
    /// The zone names no interface of this host.
    UnknownZone(String),
    /// The name is longer than [`MAX_NAME`].
    NameTooLong(usize),
    /// A label is longer than [`MAX_LABEL`].
    LabelTooLong(usize),
    /// Two dots in a row, or a dot at the start.
    EmptyLabel,
    /// A character no host name may hold.
    BadCharacter(char),
    /// A label starts or ends with `-`.
    HyphenAtEdge,
    /// The last label is all digits: a mistyped IPv4 address, not a name.
    NumericTopLabel,
    /// IDNA could not convert the name to ASCII.
    Idna,
}

/// A host that cannot be used, with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError {
    input: String,
    kind: HostErrorKind,
}

impl HostError {
    /// The input as given.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What is wrong with it.
    pub fn kind(&self) -> &HostErrorKind {
        &self.kind
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Shortened: a message stays readable (and bounded) whatever was typed.
        let i = &shorten(&self.input);
        match &self.kind {
            HostErrorKind::Empty => write!(f, "the host is empty: give a name or an IP address"),
            HostErrorKind::BadLiteral(why) => write!(f, "{i:?} is not a valid IP address: {why}"),
            HostErrorKind::PortGiven => {
                write!(f, "{i:?} has a port: give the host without it")
            }
            HostErrorKind::UnknownZone(z) => write!(
                f,
                "{i:?}: the zone {:?} names no network interface of this host",
                shorten(z)
            ),
            HostErrorKind::NameTooLong(n) => write!(
                f,
                "{i:?}: a host name has at most {MAX_NAME} characters, this one {n}"
            ),
            HostErrorKind::LabelTooLong(n) => write!(
                f,
                "{i:?}: each dot-separated part of a host name has at most {MAX_LABEL} \
                 characters, one here has {n}"
            ),
            HostErrorKind::EmptyLabel => {
                write!(
                    f,
                    "{i:?} is not a host name: it has an empty part between dots"
                )
            }
            HostErrorKind::BadCharacter(c) => {
                write!(f, "{i:?} is not a host name: {c:?} cannot appear in one")
            }
            HostErrorKind::HyphenAtEdge => write!(
                f,
                "{i:?} is not a host name: a part cannot start or end with '-'"
            ),
            HostErrorKind::NumericTopLabel => write!(
                f,
                "{i:?} is neither an IP address (four numbers 0-255) nor a host name"
            ),
            HostErrorKind::Idna => {
                write!(f, "{i:?} is not a valid internationalized host name (IDNA)")
            }
        }
    }
}

impl std::error::Error for HostError {}

/// The first 40 characters of a long input, for messages.
fn shorten(s: &str) -> String {
    if s.chars().count() <= 40 {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(40).collect::<String>())
    }
}

/// Check `input` as a host: an IP literal (with brackets and zone) or a domain name.
/// Reads the interface list for a zone name; no other I/O.
///
/// ```
/// use dualstack::host::{parse, Host};
/// assert!(matches!(parse("[::1]"), Ok(Host::Ip { .. })));
/// assert_eq!(parse("Bücher.example").unwrap(), Host::Name("xn--bcher-kva.example".into()));
/// assert!(parse("").is_err());
/// assert!(parse("[::1").is_err());
/// assert!(parse(&"a".repeat(300)).is_err());
/// ```
///
/// # Errors
/// [`HostError`] with the input and a [`HostErrorKind`].
pub fn parse(input: &str) -> Result<Host, HostError> {
    let err = |kind| HostError {
        input: input.to_owned(),
        kind,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err(HostErrorKind::Empty));
    }
    let literal_syntax = s.contains([':', '%', '[', ']']);
    if literal_syntax || s.parse::<IpAddr>().is_ok() {
        let p = addr::parse(s).map_err(|e| err(HostErrorKind::BadLiteral(e.reason)))?;
        if p.port.is_some() {
            return Err(err(HostErrorKind::PortGiven));
        }
        let scope_id = match &p.zone {
            None => 0,
            Some(z) => addr::scope_id(z).map_err(|_| err(HostErrorKind::UnknownZone(z.clone())))?,
        };
        return Ok(Host::Ip {
            ip: addr::unmap(p.ip),
            scope_id,
        });
    }
    name(s).map(Host::Name).map_err(err)
}

/// The ASCII form of a domain name, checked.
fn name(s: &str) -> Result<String, HostErrorKind> {
    // Characters no name holds are reported as themselves, before IDNA maps them.
    if let Some(c) = s
        .chars()
        .find(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(HostErrorKind::BadCharacter(c));
    }
    let ascii = if s.is_ascii() {
        s.to_owned()
    } else {
        // UTS #46 processing without STD3 rules (we check LDH below, allowing '_').
        idna::domain_to_ascii(s).map_err(|_| HostErrorKind::Idna)?
    };
    let bare = ascii.strip_suffix('.').unwrap_or(&ascii);
    if bare.len() > MAX_NAME {
        return Err(HostErrorKind::NameTooLong(bare.len()));
    }
    let labels: Vec<&str> = bare.split('.').collect();
    for l in &labels {
        if l.is_empty() {
            return Err(HostErrorKind::EmptyLabel);
        }
        if l.len() > MAX_LABEL {
            return Err(HostErrorKind::LabelTooLong(l.len()));
        }
        if let Some(c) = l
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
        {
            return Err(HostErrorKind::BadCharacter(c));
        }
        if l.starts_with('-') || l.ends_with('-') {
            return Err(HostErrorKind::HyphenAtEdge);
        }
    }
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(HostErrorKind::NumericTopLabel);
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> HostErrorKind {
        parse(s).unwrap_err().kind().clone()
    }

    #[test]
    fn literals() {
        assert_eq!(
            parse("192.0.2.1").unwrap(),
            Host::Ip {
                ip: "192.0.2.1".parse().unwrap(),
                scope_id: 0
            }
        );
        assert!(matches!(
            parse("[2001:db8::1]"),
            Ok(Host::Ip { scope_id: 0, .. })
        ));
        assert!(matches!(parse("2001:db8::1"), Ok(Host::Ip { .. })));
        assert_eq!(
            parse("::ffff:192.0.2.1").unwrap(),
            Host::Ip {
                ip: "192.0.2.1".parse().unwrap(),
                scope_id: 0
            }
        );
        // lo exists on every Linux host; a numeric zone is taken as the index.
        assert!(matches!(
            parse("fe80::1%lo"),
            Ok(Host::Ip { scope_id: 1.., .. })
        ));
        assert!(matches!(
            parse("[fe80::1%2]"),
            Ok(Host::Ip { scope_id: 2, .. })
        ));
    }

    #[test]
    fn literal_errors() {
        assert_eq!(kind(""), HostErrorKind::Empty);
        assert_eq!(kind("  "), HostErrorKind::Empty);
        assert!(matches!(kind("[::1"), HostErrorKind::BadLiteral(_)));
        assert!(matches!(kind("::1]"), HostErrorKind::BadLiteral(_)));
        assert!(matches!(kind("%"), HostErrorKind::BadLiteral(_)));
        assert!(matches!(kind("[192.0.2.1]"), HostErrorKind::BadLiteral(_)));
        assert!(matches!(kind("192.0.2.1%lo"), HostErrorKind::BadLiteral(_)));
        assert!(matches!(
            kind("[example.org]"),
            HostErrorKind::BadLiteral(_)
        ));
        assert_eq!(kind("[::1]:80"), HostErrorKind::PortGiven);
        assert_eq!(kind("192.0.2.1:80"), HostErrorKind::PortGiven);
        assert_eq!(
            kind("fe80::1%nosuchif"),
            HostErrorKind::UnknownZone("nosuchif".into())
        );
    }

    #[test]
    fn names() {
        for ok in [
            "localhost",
            "example.org",
            "example.org.",
            "_443._tcp.example.org",
            "xn--bcher-kva.example",
            "a-b.c",
            "3com.com",
        ] {
            assert_eq!(parse(ok).unwrap(), Host::Name(ok.into()), "{ok}");
        }
        assert_eq!(
            parse("bücher.example").unwrap(),
            Host::Name("xn--bcher-kva.example".into())
        );
        let label = "a".repeat(63);
        let longest = [label.as_str(); 4].join(".")[..253].to_owned();
        assert!(parse(&longest).is_ok());
        assert!(
            parse(&format!("{longest}.")).is_ok(),
            "final dot not counted"
        );
    }

    #[test]
    fn name_errors() {
        assert_eq!(kind(&"a".repeat(300)), HostErrorKind::NameTooLong(300));
        assert_eq!(kind(&"a".repeat(64)), HostErrorKind::LabelTooLong(64));
        assert_eq!(
            kind(&format!("{}.example", "x".repeat(64))),
            HostErrorKind::LabelTooLong(64)
        );
        assert_eq!(kind("a..b"), HostErrorKind::EmptyLabel);
        assert_eq!(kind(".a"), HostErrorKind::EmptyLabel);
        assert_eq!(kind("."), HostErrorKind::EmptyLabel);
        assert_eq!(kind("a b"), HostErrorKind::BadCharacter(' '));
        assert_eq!(kind("user@host"), HostErrorKind::BadCharacter('@'));
        assert_eq!(kind("a/b"), HostErrorKind::BadCharacter('/'));
        assert_eq!(kind("-a.example"), HostErrorKind::HyphenAtEdge);
        assert_eq!(kind("a-.example"), HostErrorKind::HyphenAtEdge);
        assert_eq!(kind("1.2.3.256"), HostErrorKind::NumericTopLabel);
        assert_eq!(kind("999"), HostErrorKind::NumericTopLabel);
        // Messages are sentences about the input; a long input is shortened.
        let e = parse(&"a".repeat(300)).unwrap_err().to_string();
        assert!(e.contains("at most 253 characters, this one 300"), "{e}");
        assert!(e.len() < 200, "{e}");
        assert_eq!(
            parse("fe80::1%nosuchif").unwrap_err().to_string(),
            "\"fe80::1%nosuchif\": the zone \"nosuchif\" names no network interface of this host"
        );
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "\0", "%%", "[]", "[%]", "]:[", "é", "\u{200b}", "xn--", "a.-", "💩.la",
        ] {
            let _ = parse(s);
        }
        // Control characters are escaped in messages; the input is cut first, so the
        // message stays short (found by fuzzing).
        let e = parse(&format!("zu_d{}", "\u{4}".repeat(200))).unwrap_err();
        assert!(e.to_string().len() < 400, "{e}");
    }
}
