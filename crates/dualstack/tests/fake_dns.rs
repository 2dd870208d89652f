//! Tests of the shared test infrastructure itself: the fake DNS server (through a real
//! hickory resolver on a real clock) and the network-namespace helper.

mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use support::dns::{test_resolver_opts, FakeDns, RecordType, Transport, Zone};
use support::netns::{self, Netns, V4, V6};
use tokio::time::Instant;

const ZERO: Duration = Duration::ZERO;

fn lo() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn ips(lookup: &hickory_resolver::lookup_ip::LookupIp) -> BTreeSet<IpAddr> {
    lookup.iter().collect()
}

#[tokio::test]
async fn answers_a_aaaa_ptr_and_cname() {
    let dns = FakeDns::start(
        lo(),
        Zone::new()
            .a("h.test", "127.0.0.1", ZERO)
            .a("h.test", "127.0.0.2", ZERO)
            .aaaa("h.test", "::1", ZERO)
            .ptr("192.0.2.1", "h.test")
            .ptr("2001:db8::1", "six.test")
            .cname("www.test", "h.test"),
    )
    .await
    .unwrap();
    let r = dns.resolver();

    let got = ips(&r.lookup_ip("h.test.").await.unwrap());
    let want: BTreeSet<IpAddr> = ["127.0.0.1", "127.0.0.2", "::1"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(got, want);

    // Names are case-insensitive; a query without the final dot works too (ndots 0).
    let a = r.ipv4_lookup("H.Test").await.unwrap();
    assert_eq!(a.answers().len(), 2);

    let ptr = r
        .reverse_lookup("192.0.2.1".parse::<IpAddr>().unwrap())
        .await
        .unwrap();
    let names: Vec<String> = ptr
        .answers()
        .iter()
        .map(|rec| rec.data.to_string())
        .collect();
    assert_eq!(names, ["h.test."]);
    let ptr6 = r
        .reverse_lookup("2001:db8::1".parse::<IpAddr>().unwrap())
        .await
        .unwrap();
    assert_eq!(ptr6.answers()[0].data.to_string(), "six.test.");

    // CNAME: the alias answers with the target's addresses.
    let got = ips(&r.lookup_ip("www.test.").await.unwrap());
    assert_eq!(got, want);

    // The log saw the queries, over UDP.
    let q = dns.queries_for("h.test", RecordType::AAAA);
    assert!(!q.is_empty());
    assert!(q.iter().all(|q| q.transport == Transport::Udp));
    assert_eq!(
        dns.queries_for("1.2.0.192.in-addr.arpa", RecordType::PTR)
            .len(),
        1
    );
}

#[tokio::test]
async fn nxdomain_nodata_and_servfail() {
    let dns = FakeDns::start(
        lo(),
        Zone::new()
            .a("v4only.test", "127.0.0.1", ZERO)
            .a("broken.test", "127.0.0.1", ZERO)
            .servfail("broken.test", RecordType::AAAA),
    )
    .await
    .unwrap();
    let r = dns.resolver();

    let err = r.lookup_ip("missing.test.").await.unwrap_err();
    assert!(err.is_nx_domain(), "{err:?}");

    // The name exists but has no AAAA: NODATA, not NXDOMAIN.
    let err = r.ipv6_lookup("v4only.test.").await.unwrap_err();
    assert!(err.is_no_records_found() && !err.is_nx_domain(), "{err:?}");

    let err = r.ipv6_lookup("broken.test.").await.unwrap_err();
    assert!(
        !err.is_no_records_found(),
        "SERVFAIL must not read as 'no records': {err:?}"
    );
    assert!(r.ipv4_lookup("broken.test.").await.is_ok());
}

#[tokio::test]
async fn a_delayed_aaaa_does_not_delay_the_a_answer() {
    let delay = Duration::from_millis(700);
    let dns = FakeDns::start(
        lo(),
        Zone::new()
            .aaaa("h.test", "::1", delay)
            .a("h.test", "127.0.0.1", ZERO),
    )
    .await
    .unwrap();
    let mut opts = test_resolver_opts();
    opts.timeout = Duration::from_secs(5);
    let r = dns.resolver_with(opts);

    let start = Instant::now();
    let (v6, v4) = tokio::join!(
        async {
            let res = r.ipv6_lookup("h.test.").await;
            (res, start.elapsed())
        },
        async {
            let res = r.ipv4_lookup("h.test.").await;
            (res, start.elapsed())
        }
    );
    let (v6, v6_time) = (v6.0.unwrap(), v6.1);
    let (v4, v4_time) = (v4.0.unwrap(), v4.1);
    assert_eq!(v6.answers().len(), 1);
    assert_eq!(v4.answers().len(), 1);
    // Generous bounds: a loaded machine may be slow, but never early.
    assert!(
        v6_time >= delay,
        "AAAA came after {v6_time:?}, before its {delay:?} delay"
    );
    assert!(
        v4_time < delay,
        "A took {v4_time:?}: it waited for the AAAA"
    );

    // Two separate queries, both received before the AAAA answer went out.
    let log = dns.queries();
    let a = log.iter().find(|q| q.rtype == RecordType::A).unwrap();
    let aaaa = log.iter().find(|q| q.rtype == RecordType::AAAA).unwrap();
    let apart = if a.at > aaaa.at {
        a.at - aaaa.at
    } else {
        aaaa.at - a.at
    };
    assert!(apart < delay, "queries {apart:?} apart: not concurrent");
}

#[tokio::test]
async fn never_answer_times_out() {
    let dns = FakeDns::start(
        lo(),
        Zone::new()
            .a("slow.test", "127.0.0.1", ZERO)
            .never("slow.test", RecordType::AAAA)
            .never_ptr("192.0.2.9"),
    )
    .await
    .unwrap();
    let mut opts = test_resolver_opts();
    opts.timeout = Duration::from_millis(300);
    let r = dns.resolver_with(opts);

    let start = Instant::now();
    let err = r.ipv6_lookup("slow.test.").await.unwrap_err();
    let took = start.elapsed();
    assert!(!err.is_no_records_found(), "{err:?}");
    assert!(took >= Duration::from_millis(300), "gave up after {took:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(!dns.queries_for("slow.test", RecordType::AAAA).is_empty());
    // The A of the same name still answers.
    assert!(r.ipv4_lookup("slow.test.").await.is_ok());
    assert!(r
        .reverse_lookup("192.0.2.9".parse::<IpAddr>().unwrap())
        .await
        .is_err());
}

#[tokio::test]
async fn answers_over_tcp_too() {
    use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
    use hickory_resolver::net::runtime::TokioRuntimeProvider;
    use hickory_resolver::TokioResolver;

    let dns = FakeDns::start(
        lo(),
        Zone::new()
            .aaaa("h.test", "::1", Duration::from_millis(200))
            .a("h.test", "127.0.0.1", ZERO),
    )
    .await
    .unwrap();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = dns.addr().port();
    let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
        dns.addr().ip(),
        true,
        vec![tcp],
    )]);
    let r = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(test_resolver_opts())
        .build()
        .unwrap();
    let got = ips(&r.lookup_ip("h.test.").await.unwrap());
    assert_eq!(got.len(), 2);
    assert!(dns.queries().iter().all(|q| q.transport == Transport::Tcp));
    assert!(r.lookup_ip("nope.test.").await.unwrap_err().is_nx_domain());
}

#[tokio::test]
async fn ipv6_loopback_and_set_zone() {
    let dns = match FakeDns::start(
        "[::1]:0".parse().unwrap(),
        Zone::new().a("x.test", "127.0.0.1", ZERO),
    )
    .await
    {
        Ok(d) => d,
        Err(e) => {
            netns::skip(
                "ipv6_loopback_and_set_zone",
                &format!("cannot bind ::1: {e}"),
            );
            return;
        }
    };
    let r = dns.resolver();
    assert_eq!(ips(&r.lookup_ip("x.test.").await.unwrap()).len(), 1);
    dns.set_zone(Zone::new());
    assert!(r.lookup_ip("x.test.").await.unwrap_err().is_nx_domain());
}

#[tokio::test]
async fn stops_when_dropped() {
    let dns = FakeDns::start(lo(), Zone::new().a("x.test", "127.0.0.1", ZERO))
        .await
        .unwrap();
    let addr = dns.addr();
    drop(dns);
    // Abort is processed by the runtime; give it a moment, bounded.
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the fake DNS server still accepts TCP after drop");
}

#[test]
fn netns_listener_reachable_and_drop_times_out() {
    let Some(()) = Netns::new()
        .drop_to("2001:db8::66")
        .drop_to("198.51.100.66")
        .run("netns_listener_reachable_and_drop_times_out", || async {
            // The namespace's own addresses work.
            for ip in [IpAddr::V4(V4), IpAddr::V6(V6)] {
                let l = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
                let port = l.local_addr().unwrap().port();
                let c = tokio::time::timeout(
                    Duration::from_secs(5),
                    tokio::net::TcpStream::connect((ip, port)),
                )
                .await
                .expect("connect inside the namespace timed out")
                .unwrap();
                assert_eq!(c.peer_addr().unwrap().ip(), ip);
            }
            // Dropped addresses: a silent black hole, not a refusal.
            for ip in ["2001:db8::66", "198.51.100.66"] {
                let ip: IpAddr = ip.parse().unwrap();
                let res = tokio::time::timeout(
                    Duration::from_millis(500),
                    tokio::net::TcpStream::connect((ip, 9)),
                )
                .await;
                assert!(res.is_err(), "connect to {ip} did not hang: {res:?}");
            }
            // Setup commands see the namespace, not the host.
            let addrs = netns::sh("ip -o addr show dev lo").unwrap();
            assert!(
                addrs.contains("198.51.100.10") && addrs.contains("2001:db8::10"),
                "{addrs}"
            );
        })
    else {
        return;
    };
    // The host network is untouched.
    let host = netns::sh("ip -o addr show dev lo").unwrap_or_default();
    assert!(!host.contains("198.51.100.10"), "{host}");
}

#[test]
fn netns_setup_commands_and_fake_dns_inside() {
    let Some(()) = Netns::new()
        .setup("ip -6 route add unreachable 2001:db8::77/128")
        .run("netns_setup_commands_and_fake_dns_inside", || async {
            let err = tokio::net::TcpStream::connect(("2001:db8::77", 80))
                .await
                .unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EHOSTUNREACH), "{err}");
            // The fake DNS server can live on a namespace address.
            let dns = FakeDns::start(
                SocketAddr::new(V6.into(), 0),
                Zone::new().aaaa("n.test", "2001:db8::10", ZERO),
            )
            .await
            .unwrap();
            let got = ips(&dns.resolver().lookup_ip("n.test.").await.unwrap());
            assert_eq!(got, BTreeSet::from([IpAddr::V6(V6)]));
        })
    else {
        return;
    };
}

#[test]
fn netns_skip_is_clean_when_unavailable() {
    // Whatever the machine, `run` either runs the closure or returns None: never panics.
    let ran = Netns::new().run("netns_skip_is_clean_when_unavailable", || async { 7 });
    assert_eq!(ran.is_some(), netns::is_root() && netns::netns_available());
    if let Some(v) = ran {
        assert_eq!(v, 7);
    }
}
