//! HTTPS records (RFC 9460) through hickory: ask `HOST` (port 443) or `_PORT._https.HOST`
//! (§9.1), follow AliasMode records to their target with a bounded chain (§2.4.2), and
//! return the ServiceMode records in priority order as plain
//! [`ServiceRecord`]s, with the time the answer took.
//!
//! The rules that need no network (query name, AliasMode against ServiceMode, ordering,
//! the ALPN set) live in [`dualstack_eyeballs::v3::svcb`]; this module only asks and
//! converts. How the records are used while connecting follows
//! draft-ietf-happy-happyeyeballs-v3-04 §4.
//!
//! ```no_run
//! # async fn f(r: hickory_resolver::TokioResolver) {
//! let answer = dualstack::connect::svcb::lookup_https(&r, "example.com", 443).await;
//! for s in &answer.services {
//!     println!("{s} (ALPN {:?})", s.https_alpn());
//! }
//! # }
//! ```

use std::time::Duration;

#[cfg(feature = "hickory")]
use hickory_resolver::proto::rr::rdata::svcb::{SvcParamKey, SvcParamValue, SVCB};
#[cfg(feature = "hickory")]
use hickory_resolver::proto::rr::{RData, RecordType};
use serde::Serialize;
#[cfg(feature = "hickory")]
use tokio::time::Instant;

#[cfg(feature = "hickory")]
use dualstack_eyeballs::v3::svcb::{decide, RawRecord, Step};
pub use dualstack_eyeballs::v3::svcb::{query_name, ServiceRecord, MAX_ALIAS_CHAIN};

/// What an HTTPS lookup found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpsAnswer {
    /// The names asked, in order: the query name, then each AliasMode target.
    pub chain: Vec<String>,
    /// The ServiceMode records of the last name, lowest priority first; empty when the
    /// name has none (NXDOMAIN, NODATA, an alias to "."), or on error.
    pub services: Vec<ServiceRecord>,
    /// Why there are no services, when a query failed or the chain was too long or
    /// looped (NXDOMAIN and NODATA are not errors: the name simply has no HTTPS record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Time from the first query to the last answer.
    #[serde(rename = "elapsed_ms", serialize_with = "ms")]
    pub elapsed: Duration,
}

fn ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

#[cfg(feature = "hickory")]
/// Ask for the HTTPS records of `host` for `port` and follow AliasMode records, at most
/// [`MAX_ALIAS_CHAIN`] steps (a loop stops at once). Never fails: what went wrong is in
/// [`HttpsAnswer::error`], and the connect goes on without SVCB (RFC 9460 §3.1).
///
/// # Cancel safety
/// Dropping the future abandons the lookup; nothing is left behind.
pub async fn lookup_https(
    resolver: &hickory_resolver::TokioResolver,
    host: &str,
    port: u16,
) -> HttpsAnswer {
    let start = Instant::now();
    let mut name = query_name(host, port).to_ascii_lowercase();
    let mut chain = Vec::new();
    let mut error = None;
    let mut services = Vec::new();
    loop {
        if chain.contains(&name) {
            error = Some(format!("AliasMode loop at {name}"));
            break;
        }
        if chain.len() > MAX_ALIAS_CHAIN {
            error = Some(format!("AliasMode chain longer than {MAX_ALIAS_CHAIN}"));
            break;
        }
        chain.push(name.clone());
        let fqdn = format!("{name}.");
        let lookup = match resolver.lookup(fqdn.as_str(), RecordType::HTTPS).await {
            Ok(l) => l,
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => break,
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        };
        // The owner of the records (after any CNAME) is the name "." stands for.
        let mut owner = name.clone();
        let mut raw = Vec::new();
        for rec in lookup.answers() {
            if let RData::HTTPS(h) = &rec.data {
                owner = rec
                    .name
                    .to_ascii()
                    .trim_end_matches('.')
                    .to_ascii_lowercase();
                raw.extend(raw_record(&h.0));
            }
        }
        match decide(&owner, raw) {
            Step::Alias(target) => name = target,
            Step::Services(s) => {
                services = s;
                break;
            }
            Step::NoService => break,
        }
    }
    HttpsAnswer {
        chain,
        services,
        error,
        elapsed: start.elapsed(),
    }
}

#[cfg(feature = "hickory")]
/// The keys this client understands (RFC 9460 §8: a record whose `mandatory` list names
/// any other key must be ignored).
fn understood(k: &SvcParamKey) -> bool {
    matches!(
        k,
        SvcParamKey::Mandatory
            | SvcParamKey::Alpn
            | SvcParamKey::NoDefaultAlpn
            | SvcParamKey::Port
            | SvcParamKey::Ipv4Hint
            | SvcParamKey::Ipv6Hint
            | SvcParamKey::EchConfigList
    )
}

#[cfg(feature = "hickory")]
/// One hickory SVCB/HTTPS record as a [`RawRecord`]; `None` when it must be ignored.
pub(crate) fn raw_record(r: &SVCB) -> Option<RawRecord> {
    let target = r.target_name.to_ascii();
    let target = target.trim_end_matches('.').to_ascii_lowercase();
    if r.svc_priority == 0 {
        // AliasMode: SvcParams are ignored (§2.4.2).
        return Some(RawRecord::Alias { target });
    }
    let mut s = ServiceRecord {
        priority: r.svc_priority,
        target,
        ..ServiceRecord::default()
    };
    for (_, value) in &r.svc_params {
        match value {
            SvcParamValue::Mandatory(m) if !m.0.iter().all(understood) => return None,
            SvcParamValue::Alpn(a) => s.alpn = a.0.clone(),
            SvcParamValue::NoDefaultAlpn => s.no_default_alpn = true,
            SvcParamValue::Port(p) => s.port = Some(*p),
            SvcParamValue::Ipv4Hint(h) => {
                s.ipv4hint = h.0.iter().map(|a| a.0).collect();
            }
            SvcParamValue::Ipv6Hint(h) => {
                s.ipv6hint = h.0.iter().map(|a| a.0).collect();
            }
            SvcParamValue::EchConfigList(_) => s.ech = true,
            // Keys we do not use and that are not mandatory are ignored (§8).
            _ => {}
        }
    }
    Some(RawRecord::Service(s))
}

#[cfg(all(test, feature = "hickory"))]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn parse(data: &str) -> SVCB {
        match RData::try_from_str(RecordType::HTTPS, data).unwrap() {
            RData::HTTPS(h) => h.0,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn converts_every_parameter() {
        let r = raw_record(&parse(
            "1 svc.Test. alpn=h3,h2 no-default-alpn port=8443 ipv4hint=198.51.100.10,198.51.100.11 ech=AEX+DQBBpQAgACBR ipv6hint=2001:db8::10",
        ));
        let Some(RawRecord::Service(s)) = r else {
            panic!("{r:?}")
        };
        assert_eq!(s.priority, 1);
        assert_eq!(s.target, "svc.test");
        assert_eq!(s.alpn, ["h3", "h2"]);
        assert!(s.no_default_alpn && s.ech);
        assert_eq!(s.port, Some(8443));
        assert_eq!(s.ipv4hint.len(), 2);
        assert_eq!(s.ipv6hint, ["2001:db8::10".parse::<Ipv6Addr>().unwrap()]);
    }

    #[test]
    fn alias_and_unknown_mandatory_key() {
        assert_eq!(
            raw_record(&parse("0 svc.test. alpn=h2")),
            Some(RawRecord::Alias {
                target: "svc.test".into()
            })
        );
        assert_eq!(raw_record(&parse("1 . mandatory=key7 key7=x")), None);
        assert!(raw_record(&parse("1 . mandatory=alpn alpn=h2 key7=x")).is_some());
    }
}
