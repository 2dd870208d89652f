//! The transport of one attempt: TCP, or QUIC when the destination offers HTTP/3
//! (draft-ietf-happy-happyeyeballs-v3-04 races QUIC and TCP attempts with the same
//! Connection Attempt Delay, after grouping endpoints by protocol preference).

use std::fmt;

/// The transport an attempt uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum Protocol {
    /// A TCP connection (the handshake is the attempt).
    #[default]
    Tcp,
    /// A QUIC connection (RFC 9000): the attempt succeeds when the QUIC handshake (TLS 1.3
    /// inside) completes, since that is what proves the UDP path.
    Quic,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Quic => "QUIC",
        })
    }
}

/// Whether an ALPN id names HTTP/3 (RFC 9114 `h3`, or a draft version `h3-NN`): the ids
/// that run over QUIC.
///
/// ```
/// use dualstack_eyeballs::is_h3;
/// assert!(is_h3("h3") && is_h3("h3-29"));
/// assert!(!is_h3("h2") && !is_h3("http/1.1") && !is_h3("h3x"));
/// ```
pub fn is_h3(alpn: &str) -> bool {
    alpn == "h3"
        || alpn
            .strip_prefix("h3-")
            .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
}

/// The ALPN ids of `list` that run over QUIC ([`is_h3`]), in their order.
///
/// ```
/// use dualstack_eyeballs::quic_alpn;
/// let l = ["h2".to_string(), "h3".to_string(), "h3-29".to_string()];
/// assert_eq!(quic_alpn(&l), ["h3", "h3-29"]);
/// ```
pub fn quic_alpn(list: &[String]) -> Vec<String> {
    list.iter().filter(|a| is_h3(a)).cloned().collect()
}

/// The class of [`Config::protocols`](crate::Config::protocols) a run that races QUIC
/// puts first: its groups get QUIC attempts.
pub(crate) const QUIC_CLASS: usize = 0;

/// The protocol classes of a run that races QUIC (draft-ietf-happy-happyeyeballs-v3-04
/// §5.1): the `h3` ids of `forced` (or `h3` when nothing is forced) as a class before the
/// caller's own (TCP) classes. `None` when `forced` names ALPN ids but no `h3` one: the
/// caller asked for no QUIC.
pub(crate) fn quic_first(
    forced: &[String],
    tcp: &crate::v3::groups::ProtocolPreference,
) -> Option<crate::v3::groups::ProtocolPreference> {
    let mut ids = quic_alpn(forced);
    if ids.is_empty() {
        if !forced.is_empty() {
            return None;
        }
        ids.push("h3".to_owned());
    }
    let mut classes = vec![ids];
    classes.extend(tcp.classes.iter().cloned());
    Some(
        crate::v3::groups::ProtocolPreference::new(classes)
            .outranking_priority(tcp.outranks_priority),
    )
}

/// The stand-in service record of a forced ALPN list: the origin's own addresses (empty
/// target) offering the list (plus the scheme's default, so that TCP classes accept it
/// too). Never reported as an HTTPS record.
pub(crate) fn forced_record(alpn: &[String]) -> crate::v3::svcb::ServiceRecord {
    crate::v3::svcb::ServiceRecord {
        priority: 1,
        target: String::new(),
        alpn: alpn.to_vec(),
        ..Default::default()
    }
}
