//! Happy Eyeballs over real sockets on loopback, with the fake DNS server from
//! `tests/support/dns.rs` (never real DNS). Outcomes and generous time bounds only; exact
//! timing is tested on a paused clock in `tests/happy_eyeballs.rs`.
//!
//! As root, the same inside network namespaces the tests create (198.51.100.0/24,
//! 2001:db8::/32): an nftables silent drop, an unreachable route, and NAT64.

mod support;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use dualstack::addr::Family;
use dualstack::connect::{
    Cause, Connector, EventKind, HickoryResolver, OutcomeCache, Reason, SystemResolver,
};
use socket2::{Domain, Socket, Type};
use support::dns::{FakeDns, RecordType, Zone};
use tokio::net::TcpListener;

const LO4: &str = "127.0.0.1";
const LO6: &str = "::1";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A port free on both loopback addresses right now.
fn free_port() -> u16 {
    for _ in 0..50 {
        let l6 = std::net::TcpListener::bind((LO6, 0)).unwrap();
        let port = l6.local_addr().unwrap().port();
        if std::net::TcpListener::bind((LO4, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free on both loopback addresses");
}

fn listen(ip: &str, port: u16, backlog: i32) -> Socket {
    let addr = SocketAddr::new(ip.parse().unwrap(), port);
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
    if addr.is_ipv6() {
        s.set_only_v6(true).unwrap();
    }
    s.set_reuse_address(true).unwrap();
    s.bind(&addr.into()).unwrap();
    s.listen(backlog).unwrap();
    s
}

/// A silent black hole: `listen(0)` plus one filler connection that fills the accept
/// queue, so every further SYN is dropped (see /work/shared/TESTING.md).
fn black_hole(ip: &str, port: u16) -> (Socket, std::net::TcpStream) {
    let l = listen(ip, port, 0);
    let filler = std::net::TcpStream::connect((ip.parse::<IpAddr>().unwrap(), port)).unwrap();
    (l, filler)
}

async fn dns(zone: Zone) -> FakeDns {
    FakeDns::start("127.0.0.1:0".parse().unwrap(), zone)
        .await
        .unwrap()
}

fn connector(dns: &FakeDns) -> Connector {
    Connector::new()
        .resolver(Arc::new(HickoryResolver::with_name_servers(&[dns.addr()])))
        .timeout(Duration::from_secs(5))
}

fn both(name: &str) -> Zone {
    Zone::new()
        .aaaa(name, LO6, Duration::ZERO)
        .a(name, LO4, Duration::ZERO)
}

#[tokio::test]
async fn refused_everywhere_fails_fast_listing_each_address() {
    let port = free_port();
    let d = dns(both("refused.test")).await;
    let err = connector(&d)
        .connect("refused.test", port)
        .await
        .unwrap_err();
    assert_eq!(err.reason, Reason::AllFailed);
    assert_eq!(err.attempts.len(), 2);
    for a in &err.attempts {
        assert!(
            matches!(&a.cause, Cause::Io { errno: Some(e), .. } if *e == libc::ECONNREFUSED),
            "{a}"
        );
    }
    assert!(err.elapsed < Duration::from_secs(2), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("[::1]:{port}")) && msg.contains(&format!("127.0.0.1:{port}")),
        "{msg}"
    );
}

#[tokio::test]
async fn ipv4_only_listener() {
    let port = free_port();
    let _l = listen(LO4, port, 16);
    let d = dns(both("v4only.test")).await;
    let conn = connector(&d).connect("v4only.test", port).await.unwrap();
    assert_eq!(conn.peer, SocketAddr::new(LO4.parse().unwrap(), port));
    assert_eq!(conn.family(), Family::V4);
    // ::1 refuses at once, so IPv4 starts well before the 250 ms attempt delay.
    assert!(conn.elapsed < ms(240), "{:?}", conn.elapsed);
    assert!(conn
        .events
        .iter()
        .any(|e| matches!(e.kind, EventKind::AttemptFailed { .. })));
}

#[tokio::test]
async fn ipv6_only_listener() {
    let port = free_port();
    let _l = listen(LO6, port, 16);
    let d = dns(both("v6only.test")).await;
    let conn = connector(&d).connect("v6only.test", port).await.unwrap();
    assert_eq!(conn.peer, SocketAddr::new(LO6.parse().unwrap(), port));
    assert_eq!(conn.local.ip(), LO6.parse::<IpAddr>().unwrap());
}

#[tokio::test]
async fn dual_listener_prefers_ipv6() {
    let port = free_port();
    let _l6 = listen(LO6, port, 16);
    let _l4 = listen(LO4, port, 16);
    let d = dns(both("dual.test")).await;
    let conn = connector(&d).connect("dual.test", port).await.unwrap();
    assert_eq!(conn.family(), Family::V6);
    let conn = connector(&d)
        .prefer(Family::V4)
        .connect("dual.test", port)
        .await
        .unwrap();
    assert_eq!(conn.family(), Family::V4);
    let conn = connector(&d)
        .family(Some(Family::V4))
        .connect("dual.test", port)
        .await
        .unwrap();
    assert_eq!(conn.family(), Family::V4);
    // Separate A and AAAA queries, both sent.
    assert!(!d.queries_for("dual.test", RecordType::AAAA).is_empty());
    assert!(!d.queries_for("dual.test", RecordType::A).is_empty());
}

#[tokio::test]
async fn black_holed_ipv6_falls_back_to_ipv4_then_cache_makes_it_instant() {
    let port = free_port();
    let _hole = black_hole(LO6, port);
    let _l4 = listen(LO4, port, 16);
    let d = dns(both("bh.test")).await;
    let cache = Arc::new(OutcomeCache::new());
    let c = connector(&d)
        .attempt_delay(ms(100))
        .cache(Some(cache.clone()));
    let first = c.connect("bh.test", port).await.unwrap();
    assert_eq!(first.family(), Family::V4);
    assert!(first.elapsed >= ms(100), "{:?}", first.elapsed);
    assert!(
        first.elapsed < Duration::from_secs(2),
        "{:?}",
        first.elapsed
    );
    assert!(first.events.iter().any(|e| matches!(
        &e.kind,
        EventKind::Cancelled { addr, .. } if addr.is_ipv6()
    )));
    let second = c.connect("bh.test", port).await.unwrap();
    assert_eq!(second.family(), Family::V4);
    assert!(second.elapsed < ms(100), "cache hit: {:?}", second.elapsed);
    assert!(second.events.iter().any(|e| matches!(
        e.kind,
        EventKind::CacheHit {
            prefer: Family::V4,
            ..
        }
    )));
}

#[tokio::test]
async fn slow_aaaa_does_not_hold_ipv4_back() {
    let port = free_port();
    let _l6 = listen(LO6, port, 16);
    let _l4 = listen(LO4, port, 16);
    let d = dns(Zone::new()
        .aaaa("slow6.test", LO6, Duration::from_secs(2))
        .a("slow6.test", LO4, Duration::ZERO))
    .await;
    let conn = connector(&d).connect("slow6.test", port).await.unwrap();
    assert_eq!(conn.family(), Family::V4);
    assert!(
        conn.elapsed >= ms(50),
        "resolution delay: {:?}",
        conn.elapsed
    );
    assert!(conn.elapsed < Duration::from_secs(1), "{:?}", conn.elapsed);
}

#[tokio::test]
async fn slow_a_does_not_hold_ipv6_back() {
    let port = free_port();
    let _l6 = listen(LO6, port, 16);
    let _l4 = listen(LO4, port, 16);
    let d = dns(Zone::new().aaaa("slow4.test", LO6, Duration::ZERO).a(
        "slow4.test",
        LO4,
        Duration::from_secs(2),
    ))
    .await;
    let conn = connector(&d).connect("slow4.test", port).await.unwrap();
    assert_eq!(conn.family(), Family::V6);
    assert!(conn.elapsed < Duration::from_secs(1), "{:?}", conn.elapsed);
}

#[tokio::test]
async fn everything_black_holed_times_out_on_time() {
    let port = free_port();
    let _h6 = black_hole(LO6, port);
    let _h4 = black_hole(LO4, port);
    let d = dns(both("dead.test")).await;
    let t0 = std::time::Instant::now();
    let err = connector(&d)
        .timeout(ms(600))
        .connect("dead.test", port)
        .await
        .unwrap_err();
    let took = t0.elapsed();
    assert_eq!(err.reason, Reason::TimedOut { timeout: ms(600) });
    assert!(took >= ms(600) && took < Duration::from_secs(2), "{took:?}");
    assert_eq!(err.attempts.len(), 2);
    assert!(err.attempts.iter().all(|a| a.cause == Cause::TimedOut));
}

#[tokio::test]
async fn nxdomain_and_nodata() {
    let d = dns(Zone::new().a("v4.test", LO4, Duration::ZERO)).await;
    let err = connector(&d).connect("nx.test", 9).await.unwrap_err();
    assert_eq!(err.reason, Reason::NoAddresses);
    assert!(err.to_string().contains("NXDOMAIN"), "{err}");
    let err = connector(&d)
        .family(Some(Family::V6))
        .connect("v4.test", 9)
        .await
        .unwrap_err();
    assert_eq!(
        err.reason,
        Reason::NoneOfFamily {
            family: Family::V6,
            source: None
        }
    );
    assert!(err.to_string().contains("AAAA: no records"), "{err}");
}

#[tokio::test]
async fn source_address_is_bound() {
    let port = free_port();
    let _l4 = listen(LO4, port, 16);
    let _l6 = listen(LO6, port, 16);
    let d = dns(both("src.test")).await;
    let conn = connector(&d)
        .source(Some("127.0.0.2".parse().unwrap()))
        .connect("src.test", port)
        .await
        .unwrap();
    assert_eq!(conn.local.ip(), "127.0.0.2".parse::<IpAddr>().unwrap());
    assert_eq!(conn.family(), Family::V4);
    // IPv6 source, IPv4-only name: nothing to try, and the error says so.
    let d4 = dns(Zone::new().a("only4.test", LO4, Duration::ZERO)).await;
    let err = connector(&d4)
        .source(Some(LO6.parse().unwrap()))
        .connect("only4.test", port)
        .await
        .unwrap_err();
    assert!(matches!(
        err.reason,
        Reason::NoneOfFamily {
            family: Family::V6,
            source: Some(_)
        }
    ));
    assert!(
        d4.queries_for("only4.test", RecordType::A).is_empty(),
        "A not even asked"
    );
}

#[tokio::test]
async fn hosts_file_answers_both_families_without_dns() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1 localhost\n::1 ip6-localhost\n").unwrap();
    let d = dns(Zone::new().aaaa("localhost", LO6, Duration::ZERO)).await;
    let r = HickoryResolver::with_name_servers(&[d.addr()]).hosts_file(Some(hosts));
    let res = Connector::new()
        .resolver(Arc::new(r))
        .resolve("localhost", 80)
        .await
        .unwrap();
    assert_eq!(res.order, vec![LO4.parse::<IpAddr>().unwrap()]);
    assert!(d.queries().is_empty(), "no DNS for a hosts-file name");
}

#[tokio::test]
async fn system_resolver_and_literals() {
    let port = free_port();
    let _l4 = listen(LO4, port, 16);
    let conn = Connector::new()
        .resolver(Arc::new(SystemResolver))
        .connect("localhost", port)
        .await
        .unwrap();
    assert_eq!(conn.family(), Family::V4);
    let conn = Connector::new().connect(LO4, port).await.unwrap();
    assert!(matches!(conn.events[0].kind, EventKind::Literal { .. }));
}

#[test]
fn blocking_wrapper() {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind((LO6, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.write_all(b"hi").unwrap();
    });
    let mut conn = Connector::new().connect_blocking("::1", port).unwrap();
    let mut buf = String::new();
    conn.stream.read_to_string(&mut buf).unwrap();
    assert_eq!(buf, "hi");
    assert_eq!(conn.peer.ip(), LO6.parse::<IpAddr>().unwrap());
    server.join().unwrap();
}

/// Several threads at once share the one background runtime; each gets its own stream,
/// and the stream works after the runtime's thread handed it over.
#[test]
fn blocking_wrapper_from_many_threads() {
    use std::io::Read;
    let l = std::net::TcpListener::bind((LO4, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let mut kept = Vec::new();
        for _ in 0..4 {
            let (mut s, from) = l.accept().unwrap();
            std::io::Write::write_all(&mut s, from.port().to_string().as_bytes()).unwrap();
            kept.push(s);
        }
    });
    let clients: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut conn = Connector::new().connect_blocking(LO4, port).unwrap();
                let mut buf = String::new();
                conn.stream.read_to_string(&mut buf).unwrap();
                assert_eq!(buf, conn.local.port().to_string());
            })
        })
        .collect();
    server.join().unwrap();
    for c in clients {
        c.join().unwrap();
    }
}

#[tokio::test]
async fn blocking_wrapper_inside_a_runtime_is_an_error() {
    let err = Connector::new().connect_blocking("::1", 9).unwrap_err();
    assert!(matches!(err.reason, Reason::Runtime { .. }));
}

// ---- inside network namespaces (root only; skipped otherwise) ----

use support::netns::{Netns, V4, V6};

#[test]
fn netns_silent_drop_of_ipv6() {
    Netns::new()
        .drop_to("2001:db8::66")
        .run("netns_silent_drop_of_ipv6", || async {
            let l = TcpListener::bind((V4, 0)).await.unwrap();
            let port = l.local_addr().unwrap().port();
            let d = dns(Zone::new()
                .aaaa("h.test", "2001:db8::66", Duration::ZERO)
                .a("h.test", &V4.to_string(), Duration::ZERO))
            .await;
            let cache = Arc::new(OutcomeCache::new());
            let c = connector(&d).cache(Some(cache));
            let conn = c.connect("h.test", port).await.unwrap();
            assert_eq!(conn.peer, SocketAddr::new(V4.into(), port));
            assert!(conn.elapsed >= ms(250) && conn.elapsed < Duration::from_secs(2));
            let again = c.connect("h.test", port).await.unwrap();
            assert!(again.elapsed < ms(100), "{:?}", again.elapsed);
        });
}

#[test]
fn netns_unreachable_ipv6_fails_at_once() {
    Netns::new()
        .setup("ip -6 route add unreachable 2001:db8::77/128")
        .run("netns_unreachable_ipv6_fails_at_once", || async {
            let l = TcpListener::bind((V4, 0)).await.unwrap();
            let port = l.local_addr().unwrap().port();
            let d = dns(Zone::new()
                .aaaa("u.test", "2001:db8::77", Duration::ZERO)
                .a("u.test", &V4.to_string(), Duration::ZERO))
            .await;
            let conn = connector(&d).connect("u.test", port).await.unwrap();
            assert_eq!(conn.family(), Family::V4);
            assert!(conn.elapsed < ms(200), "{:?}", conn.elapsed);
            assert!(conn.events.iter().any(|e| matches!(
                &e.kind,
                EventKind::AttemptFailed { error, .. } if error.contains("o route") || error.contains("nreachable")
            )), "{:#?}", conn.events);
        });
}

#[test]
fn netns_nat64_for_ipv4_literal_without_ipv4_route() {
    // 192.0.2.1 has no route in the namespace; the network "has NAT64" with the
    // well-known prefix: ipv4only.arpa answers 64:ff9b::192.0.0.170, and the synthesized
    // 64:ff9b::192.0.2.1 is on lo with a listener.
    Netns::new().addr("64:ff9b::c000:201/128").run(
        "netns_nat64_for_ipv4_literal_without_ipv4_route",
        || async {
            let synth: Ipv6Addr = "64:ff9b::c000:201".parse().unwrap();
            let l = TcpListener::bind((synth, 0)).await.unwrap();
            let port = l.local_addr().unwrap().port();
            let d = FakeDns::start(
                SocketAddr::new(V6.into(), 0),
                Zone::new().aaaa("ipv4only.arpa", "64:ff9b::c000:aa", Duration::ZERO),
            )
            .await
            .unwrap();
            let c = connector(&d);
            let conn = c.connect("192.0.2.1", port).await.unwrap();
            assert_eq!(conn.peer, SocketAddr::new(synth.into(), port));
            assert!(conn.events.iter().any(|e| matches!(
                &e.kind,
                EventKind::Nat64 { prefix, .. } if prefix == "64:ff9b::/96"
            )));
            let err = c.nat64(false).connect("192.0.2.1", port).await.unwrap_err();
            assert_eq!(err.reason, Reason::AllFailed, "{err}");
        },
    );
}

#[cfg(feature = "hyper")]
#[tokio::test]
async fn hyper_client_through_the_happy_eyeballs_connector() {
    use dualstack::connect::hyper::{ConnectInfo, HappyConnector};
    use http_body_util::{BodyExt, Empty, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    // IPv4-only HTTP server; the name also has ::1, where nothing listens.
    let listener = TcpListener::bind((LO4, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        for _ in 0..4 {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        bytes::Bytes::from_static(b"ok"),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    let d = dns(both("web.test")).await;
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build::<_, Empty<bytes::Bytes>>(HappyConnector::new(connector(&d)));
    let res = client
        .get(format!("http://web.test:{port}/").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let info = res.extensions().get::<ConnectInfo>().unwrap().clone();
    assert_eq!(info.family, Family::V4);
    assert_eq!(info.peer, SocketAddr::new(LO4.parse().unwrap(), port));
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "ok");
    // No host: an error, not a panic.
    let err = client.get("/relative".parse().unwrap()).await;
    assert!(err.is_err());
}

/// `into_parts` hands the stream over and keeps the facts usable (`family()` after the
/// stream has moved), for both families.
#[tokio::test]
async fn into_parts_keeps_the_facts_after_the_stream_moves() {
    for (host, family) in [("127.0.0.1", Family::V4), ("::1", Family::V6)] {
        let l = TcpListener::bind((host, 0)).await.unwrap();
        let port = l.local_addr().unwrap().port();
        let conn = Connector::new().connect(host, port).await.unwrap();
        let (stream, info) = conn.into_parts();
        let (_server_side, from) = l.accept().await.unwrap();
        assert_eq!(info.family(), family);
        assert_eq!(info.peer, stream.peer_addr().unwrap());
        assert_eq!(info.local, from);
        assert!(!info.events.is_empty());
    }
}
