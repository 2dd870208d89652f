//! HTTPS records (RFC 9460) end to end on loopback: the fake DNS server serves them, the
//! library's `svcb::lookup_https` asks for them through a real hickory resolver, follows
//! AliasMode, and returns the ServiceMode records in priority order; a connect asks the
//! A/AAAA of a record's TargetName and uses them after the record's hints (§7.3).

mod support;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use dualstack::connect::svcb::{lookup_https, MAX_ALIAS_CHAIN};
use dualstack::connect::{Connector, EventKind, HickoryResolver};
use support::dns::{FakeDns, RecordType, Zone};

const ZERO: Duration = Duration::ZERO;

fn lo() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test]
async fn port_443_asks_the_host_and_sorts_by_priority() {
    let dns = FakeDns::start(
        lo(),
        Zone::new()
            .https("h.test", "2 . alpn=h2", ZERO)
            .https(
                "h.test",
                "1 svc.test. alpn=h3,h2 port=8443 ech=AEX+DQBBpQAgACBR ipv4hint=198.51.100.10 ipv6hint=2001:db8::10",
                ZERO,
            ),
    )
    .await
    .unwrap();
    let a = lookup_https(&dns.resolver(), "h.test", 443).await;
    assert_eq!(a.chain, ["h.test"]);
    assert_eq!(a.error, None);
    assert_eq!(a.services.len(), 2, "{a:?}");
    let s = &a.services[0];
    assert_eq!(
        (s.priority, s.target.as_str(), s.port),
        (1, "svc.test", Some(8443))
    );
    assert_eq!(s.alpn, ["h3", "h2"]);
    assert!(s.ech && !s.no_default_alpn);
    assert_eq!(
        s.ipv4hint,
        ["198.51.100.10".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    assert_eq!(
        s.ipv6hint,
        ["2001:db8::10".parse::<std::net::Ipv6Addr>().unwrap()]
    );
    // "." in ServiceMode is the owner name (RFC 9460 §2.5.2).
    assert_eq!(
        (a.services[1].priority, a.services[1].target.as_str()),
        (2, "h.test")
    );
    assert_eq!(dns.queries_for("h.test", RecordType::HTTPS).len(), 1);
}

#[tokio::test]
async fn other_ports_use_port_prefix_naming_and_aliases_are_followed() {
    let dns = FakeDns::start(
        lo(),
        Zone::new()
            .https("_8080._https.h.test", "0 pool.test.", ZERO)
            .https("pool.test", "0 svc.pool.test.", ZERO)
            .https("svc.pool.test", "1 . port=9000 alpn=h2", ZERO),
    )
    .await
    .unwrap();
    let a = lookup_https(&dns.resolver(), "h.test", 8080).await;
    assert_eq!(
        a.chain,
        ["_8080._https.h.test", "pool.test", "svc.pool.test"]
    );
    assert_eq!(a.error, None);
    let s = &a.services[0];
    assert_eq!((s.target.as_str(), s.port), ("svc.pool.test", Some(9000)));
    assert_eq!(s.https_alpn(), ["h2", "http/1.1"]);
    // Port 443 would have asked the bare name, which has no HTTPS record here.
    let none = lookup_https(&dns.resolver(), "h.test", 443).await;
    assert!(none.services.is_empty() && none.error.is_none(), "{none:?}");
}

#[tokio::test]
async fn a_dot_target_under_a_port_prefix_is_the_origin_host() {
    let dns = FakeDns::start(
        lo(),
        Zone::new().https("_8080._https.h.test", "1 . port=8081", ZERO),
    )
    .await
    .unwrap();
    let a = lookup_https(&dns.resolver(), "h.test", 8080).await;
    assert_eq!(a.services[0].target, "h.test");
    assert_eq!(a.services[0].port, Some(8081));
}

#[tokio::test]
async fn alias_loops_and_long_chains_stop() {
    let mut zone = Zone::new()
        .https("loop-a.test", "0 loop-b.test.", ZERO)
        .https("loop-b.test", "0 loop-a.test.", ZERO);
    for i in 0..=MAX_ALIAS_CHAIN + 1 {
        zone = zone.https(&format!("c{i}.test"), &format!("0 c{}.test.", i + 1), ZERO);
    }
    let dns = FakeDns::start(lo(), zone).await.unwrap();
    let a = lookup_https(&dns.resolver(), "loop-a.test", 443).await;
    assert!(a.error.as_deref().unwrap().contains("loop"), "{a:?}");
    assert!(a.services.is_empty());
    let a = lookup_https(&dns.resolver(), "c0.test", 443).await;
    assert!(a.error.as_deref().unwrap().contains("chain"), "{a:?}");
    assert_eq!(a.chain.len(), MAX_ALIAS_CHAIN + 1);
    assert_eq!(
        dns.queries()
            .iter()
            .filter(|q| q.name.starts_with('c'))
            .count(),
        MAX_ALIAS_CHAIN + 1,
        "no query past the bound"
    );
}

#[tokio::test]
async fn failures_are_reported_not_raised() {
    let dns = FakeDns::start(
        lo(),
        Zone::new()
            .servfail("bad.test", RecordType::HTTPS)
            .a("plain.test", "127.0.0.1", ZERO),
    )
    .await
    .unwrap();
    let a = lookup_https(&dns.resolver(), "bad.test", 443).await;
    assert!(a.services.is_empty() && a.error.is_some(), "{a:?}");
    // NODATA and NXDOMAIN are "no service", not errors.
    for host in ["plain.test", "nx.test"] {
        let a = lookup_https(&dns.resolver(), host, 443).await;
        assert!(a.services.is_empty() && a.error.is_none(), "{host}: {a:?}");
    }
}

#[tokio::test]
async fn https_answers_have_their_own_delay() {
    let dns = FakeDns::start(
        lo(),
        Zone::new()
            .https(
                "slow.test",
                "1 . alpn=h2 ipv4hint=127.0.0.1",
                Duration::from_millis(300),
            )
            .a("slow.test", "127.0.0.1", ZERO),
    )
    .await
    .unwrap();
    let a = lookup_https(&dns.resolver(), "slow.test", 443).await;
    assert!(a.elapsed >= Duration::from_millis(300), "{a:?}");
    assert!(a.elapsed < Duration::from_secs(1), "{a:?}");
    assert_eq!(a.services.len(), 1);
}

fn connector(dns: &FakeDns) -> Connector {
    Connector::new()
        .resolver(Arc::new(HickoryResolver::with_name_servers(&[dns.addr()])))
        .timeout(Duration::from_secs(5))
        .svcb(true)
}

#[tokio::test]
async fn a_targets_own_answer_replaces_its_dead_hint() {
    // h.test has no address of its own; its record names svc.test with a hint nobody
    // listens on (refused at once) and a port; svc.test's A answer comes 200 ms later.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let dns = FakeDns::start(
        lo(),
        Zone::new()
            .https(
                "h.test",
                &format!("1 svc.test. alpn=h2 port={port} ipv4hint=127.0.0.66"),
                ZERO,
            )
            .a("svc.test", "127.0.0.1", Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let c = connector(&dns).connect("h.test", 443).await.unwrap();
    assert_eq!(c.peer, SocketAddr::from(([127, 0, 0, 1], port)));
    assert!(c.elapsed >= Duration::from_millis(200), "{:?}", c.elapsed);
    assert_eq!(
        c.service.as_ref().map(|s| s.target.as_str()),
        Some("svc.test")
    );
    let failed_hint = c.events.iter().any(|e| {
        matches!(&e.kind, EventKind::AttemptFailed { addr, .. } if addr.ip().to_string() == "127.0.0.66")
    });
    assert!(failed_hint, "the hint was tried first: {:?}", c.events);
    let answered = c.events.iter().any(|e| {
        matches!(&e.kind, EventKind::TargetAnswer { name, addrs, .. } if name == "svc.test" && addrs.len() == 1)
    });
    assert!(answered, "{:?}", c.events);
    assert_eq!(dns.queries_for("svc.test", RecordType::A).len(), 1);
    assert_eq!(dns.queries_for("svc.test", RecordType::AAAA).len(), 1);
}

#[tokio::test]
async fn a_target_without_hints_is_reached_through_its_answer() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let dns = FakeDns::start(
        lo(),
        Zone::new()
            .https("h.test", &format!("1 svc.test. port={port}"), ZERO)
            .a("svc.test", "127.0.0.1", ZERO),
    )
    .await
    .unwrap();
    let c = connector(&dns).connect("h.test", 443).await.unwrap();
    assert_eq!(c.peer, SocketAddr::from(([127, 0, 0, 1], port)));
    // Without SVCB the name has no address at all.
    let err = connector(&dns)
        .svcb(false)
        .connect("h.test", 443)
        .await
        .unwrap_err();
    assert!(err.attempts.is_empty(), "{err:?}");
}
