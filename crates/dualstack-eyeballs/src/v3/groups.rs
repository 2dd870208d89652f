//! Grouping endpoints before racing them (draft-ietf-happy-happyeyeballs-v3-04, 2 July
//! 2026, §5; the section reads the same in the working group's editor's copy of 30 July
//! 2026). The draft sorts in three levels, each only reordering inside the groups of the
//! one before:
//!
//! 1. by application protocol and security requirements (§5.1): which ALPN ids an
//!    endpoint's service offers;
//! 2. by service priority (§5.2): one group per ServiceMode record, lowest SvcPriority
//!    first; addresses that belong to no record in a last group;
//! 3. within a group, by destination preference and history, then the address families
//!    interleaved (§5.3, RFC 8305 §4): that level is [`Order`](crate::Order).
//!
//! [`group_order`] does levels 1 and 2 as a pure function of the records and a
//! [`ProtocolPreference`] given as data, so a client that races different transports (TCP
//! with TLS for `h2`/`http/1.1`, QUIC for `h3`) names its classes of ALPN ids and gets the
//! groups tagged with the class each is for. The machine tries every endpoint of one group
//! before the first of the next (draft §6: "all of the endpoints of the first group SHOULD
//! be started before starting attempts using the next group"); attempts of earlier groups
//! go on in parallel.
//!
//! Whether protocol classes outrank service priority is the client's call (§5.1.1: an HTTP
//! client that gains little from HTTP/3 "can group the ALPNs together to respect
//! service-determined priorities"): [`ProtocolPreference::outranks_priority`].

use super::svcb::{ServiceRecord, HTTPS_DEFAULT_ALPN};

/// The ALPN ids of HTTP over TLS over TCP (RFC 9113 `h2`, RFC 9112 `http/1.1`): what a
/// TCP connector for an HTTP client can reach.
pub const HTTP_OVER_TCP: [&str; 2] = ["h2", "http/1.1"];

/// The application protocols a client can use, as data (draft v3-04 §5.1): classes of ALPN
/// ids, most preferred first. Each class is what one kind of attempt speaks, for example
/// `["h3"]` for QUIC and `["h2", "http/1.1"]` for TLS over TCP.
///
/// ```
/// use dualstack_eyeballs::v3::groups::ProtocolPreference;
/// let quic_first = ProtocolPreference::new(vec![vec!["h3".into()], vec!["h2".into(), "http/1.1".into()]]);
/// assert_eq!(quic_first.classes.len(), 2);
/// assert_eq!(ProtocolPreference::default().classes, vec![Vec::<String>::new()]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProtocolPreference {
    /// The classes, most preferred first. A record belongs to a class when its ALPN set
    /// (RFC 9460 §7.1.1, [`ServiceRecord::https_alpn`]) shares an id with it; an empty
    /// class takes every record. A record in no class is not used.
    pub classes: Vec<Vec<String>>,
    /// `true`: every group of the first class goes before any group of the second
    /// (draft §5.1 as the first level). `false` (default): the classes only order groups
    /// of equal service priority, so the service's own priorities win (draft §5.1.1, for
    /// clients whose choice of protocol is not critical).
    pub outranks_priority: bool,
}

impl Default for ProtocolPreference {
    /// One class that takes every record: no grouping by protocol (draft §5.1: "all
    /// answers belong to one group").
    fn default() -> Self {
        ProtocolPreference::new(vec![Vec::new()])
    }
}

impl ProtocolPreference {
    /// Classes of ALPN ids, most preferred first, ordering groups only within one service
    /// priority. No class at all is taken as one class that takes every record.
    pub fn new(classes: Vec<Vec<String>>) -> ProtocolPreference {
        let classes = if classes.is_empty() {
            vec![Vec::new()]
        } else {
            classes
        };
        ProtocolPreference {
            classes,
            outranks_priority: false,
        }
    }

    /// One class, [`HTTP_OVER_TCP`]: a client that makes TCP connections only, so a record
    /// that offers only `h3` (QUIC) is not used.
    pub fn http_over_tcp() -> ProtocolPreference {
        ProtocolPreference::new(vec![HTTP_OVER_TCP.iter().map(|a| a.to_string()).collect()])
    }

    /// The same classes, outranking service priority (`true`) or not.
    pub fn outranking_priority(mut self, yes: bool) -> ProtocolPreference {
        self.outranks_priority = yes;
        self
    }

    /// Whether `record` can be used by the attempts of class `class`.
    pub fn accepts(&self, class: usize, record: &ServiceRecord) -> bool {
        match self.classes.get(class) {
            Some(c) if c.is_empty() => true,
            Some(c) => record.https_alpn().iter().any(|a| c.contains(a)),
            None => false,
        }
    }

    /// The class for addresses that come with no service record (no HTTPS answer, or
    /// A/AAAA of an origin no record names): the first class that is empty or speaks the
    /// scheme's default protocol (`http/1.1`, RFC 9460 §7.1.2), else the last class.
    pub fn default_class(&self) -> usize {
        self.classes
            .iter()
            .position(|c| c.is_empty() || c.iter().any(|a| a == HTTPS_DEFAULT_ALPN))
            .unwrap_or(self.classes.len().saturating_sub(1))
    }
}

/// One group of endpoints: the addresses of one service (or of none), to be raced by
/// attempts of one protocol class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    /// Index into [`ProtocolPreference::classes`].
    pub class: usize,
    /// Index into the records given to [`group_order`]; `None`: the addresses of the
    /// origin that no record names (draft §5.2: a group "prioritized at the end").
    pub service: Option<usize>,
}

/// The groups of endpoints in the order they are tried (draft v3-04 §5.1–§5.2).
///
/// `records` are the ServiceMode records in the order that breaks ties between equal
/// priorities (RFC 9460 §2.4.1 asks for a shuffle; do it before calling); `origin` is the
/// host the connect is for (lower case, no final dot). Each record gives one group per
/// class that accepts it. The origin's own A/AAAA addresses belong to the groups of
/// records whose target is the origin; when no record names the origin (or there are no
/// records), they get one last group of [`ProtocolPreference::default_class`].
///
/// Sort keys: `(class, priority, record)` when [`ProtocolPreference::outranks_priority`],
/// else `(priority, class, record)`; the no-service group after every group of its class
/// (outranking) or after every group (not outranking).
///
/// ```
/// use dualstack_eyeballs::v3::groups::{group_order, Group, ProtocolPreference};
/// use dualstack_eyeballs::v3::svcb::ServiceRecord;
/// let rec = |priority, alpn: &[&str]| ServiceRecord {
///     priority, target: "h.test".into(), no_default_alpn: true,
///     alpn: alpn.iter().map(|a| a.to_string()).collect(), ..Default::default()
/// };
/// let pref = ProtocolPreference::new(vec![vec!["h3".into()], vec!["h2".into()]]);
/// let g = group_order(&[rec(1, &["h2"]), rec(1, &["h3", "h2"])], "h.test", &pref);
/// // Equal priority: the h3 class first, then h2 in record order.
/// assert_eq!(g, [
///     Group { class: 0, service: Some(1) },
///     Group { class: 1, service: Some(0) },
///     Group { class: 1, service: Some(1) },
/// ]);
/// ```
pub fn group_order(
    records: &[ServiceRecord],
    origin: &str,
    pref: &ProtocolPreference,
) -> Vec<Group> {
    let origin = origin.trim_end_matches('.');
    // (class, priority, record); the no-service group sorts with priority u32::MAX.
    let mut keyed: Vec<(usize, u32, usize, Group)> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        for class in 0..pref.classes.len() {
            if pref.accepts(class, r) {
                let g = Group {
                    class,
                    service: Some(i),
                };
                keyed.push((class, u32::from(r.priority), i, g));
            }
        }
    }
    if !records.iter().any(|r| r.target == origin) {
        let class = pref.default_class();
        let g = Group {
            class,
            service: None,
        };
        keyed.push((class, u32::MAX, usize::MAX, g));
    }
    if pref.outranks_priority {
        keyed.sort_by_key(|k| (k.0, k.1, k.2));
    } else {
        keyed.sort_by_key(|k| (k.1, k.0, k.2));
    }
    keyed.into_iter().map(|k| k.3).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(priority: u16, target: &str, alpn: &[&str], no_default: bool) -> ServiceRecord {
        ServiceRecord {
            priority,
            target: target.into(),
            alpn: alpn.iter().map(|a| a.to_string()).collect(),
            no_default_alpn: no_default,
            ..ServiceRecord::default()
        }
    }

    fn g(class: usize, service: Option<usize>) -> Group {
        Group { class, service }
    }

    fn quic_tcp() -> ProtocolPreference {
        ProtocolPreference::new(vec![
            vec!["h3".into()],
            vec!["h2".into(), "http/1.1".into()],
        ])
    }

    #[test]
    fn no_records_one_group_of_the_default_class() {
        assert_eq!(
            group_order(&[], "h.test", &ProtocolPreference::default()),
            [g(0, None)]
        );
        assert_eq!(group_order(&[], "h.test", &quic_tcp()), [g(1, None)]);
        let quic_only = ProtocolPreference::new(vec![vec!["h3".into()]]);
        assert_eq!(group_order(&[], "h.test", &quic_only), [g(0, None)]);
    }

    #[test]
    fn priority_first_then_class_then_record_order() {
        let recs = [
            rec(2, "h.test", &["h3", "h2"], false),
            rec(1, "a.test", &["h2"], false),
            rec(1, "b.test", &["h3"], true),
        ];
        assert_eq!(
            group_order(&recs, "h.test", &quic_tcp()),
            [
                g(0, Some(2)), // priority 1, h3
                g(1, Some(1)), // priority 1, h2
                g(0, Some(0)), // priority 2, h3
                g(1, Some(0)), // priority 2, h2/http1.1
            ]
        );
    }

    #[test]
    fn outranking_classes_go_first_and_unnamed_origin_last_in_its_class() {
        let recs = [
            rec(1, "a.test", &["h2"], false),
            rec(2, "b.test", &["h3"], true),
        ];
        let pref = quic_tcp().outranking_priority(true);
        assert_eq!(
            group_order(&recs, "h.test", &pref),
            [g(0, Some(1)), g(1, Some(0)), g(1, None)]
        );
        // Not outranking: the no-service group goes after everything.
        assert_eq!(
            group_order(&recs, "h.test", &quic_tcp()),
            [g(1, Some(0)), g(0, Some(1)), g(1, None)]
        );
    }

    #[test]
    fn a_record_no_class_accepts_is_dropped() {
        let recs = [
            rec(1, "h.test", &["h3"], true),
            rec(2, "h.test", &["h2"], true),
        ];
        let tcp = ProtocolPreference::new(vec![vec!["h2".into(), "http/1.1".into()]]);
        assert_eq!(group_order(&recs, "h.test.", &tcp), [g(0, Some(1))]);
        // Default ALPN: a record offering h3 also offers http/1.1 (RFC 9460 §7.1.2).
        let recs = [rec(1, "h.test", &["h3"], false)];
        assert_eq!(group_order(&recs, "h.test", &tcp), [g(0, Some(0))]);
        assert!(!tcp.accepts(5, &recs[0]), "no such class");
    }

    #[test]
    fn empty_preference_is_one_class() {
        let p = ProtocolPreference::new(Vec::new());
        assert_eq!(p.classes, [Vec::<String>::new()]);
        assert_eq!(p.default_class(), 0);
    }
}
