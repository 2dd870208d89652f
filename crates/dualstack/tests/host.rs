//! The connector checks the host before any I/O: bad input is `Reason::InvalidHost` with
//! the host module's typed cause, and no DNS query is sent.

use std::sync::Arc;

use dualstack::connect::{Connector, Reason, ScriptedResolver};
use dualstack::host::HostErrorKind;

#[tokio::test]
async fn bad_hosts_fail_before_any_query() {
    let long = "a".repeat(300);
    for (host, want) in [
        ("", HostErrorKind::Empty),
        ("[::1", HostErrorKind::BadLiteral("missing ']'")),
        (
            "fe80::1%nosuchif",
            HostErrorKind::UnknownZone("nosuchif".into()),
        ),
        (long.as_str(), HostErrorKind::NameTooLong(300)),
        ("a..example", HostErrorKind::EmptyLabel),
    ] {
        let r = ScriptedResolver::new();
        let err = Connector::new()
            .resolver(Arc::new(r.clone()))
            .connect(host, 80)
            .await
            .unwrap_err();
        match &err.reason {
            Reason::InvalidHost { cause: Some(c) } => assert_eq!(c.kind(), &want, "{host}"),
            other => panic!("{host:?}: {other:?}"),
        }
        assert!(
            r.queries().is_empty(),
            "{host:?}: queried {:?}",
            r.queries()
        );
        assert!(err.attempts.is_empty());
        let text = err.to_string();
        assert!(
            !text.contains("Err(Errors)") && !text.contains("label bytes"),
            "{text}"
        );
    }
    // resolve() shares the check.
    let err = Connector::new()
        .resolver(Arc::new(ScriptedResolver::new()))
        .resolve("", 0)
        .await
        .unwrap_err();
    assert!(
        matches!(err.reason, Reason::InvalidHost { cause: Some(_) }),
        "{err}"
    );
}
