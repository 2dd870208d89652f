//! EHLO: what a server announces in its reply ([`Capabilities`]) and what we greet with
//! ([`address_literal`], [`local_hostname`]).

use std::net::IpAddr;

use serde::Serialize;

use super::Reply;
use crate::lines::lossy;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::parse_reply;

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
}
