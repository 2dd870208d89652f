//! A real reqwest client (no TLS, plain http to a loopback server) resolving through the
//! fake DNS server, whose AAAA answer is 2 s late: with `HappyResolver` the request goes
//! out over IPv4 after the 50 ms Resolution Delay; with the lookup reqwest's own
//! `hickory-dns` resolver makes (hickory's `lookup_ip`, both families, pointed at the same
//! fake server) it waits the 2 s. Both times are printed; the bounds asserted are loose
//! (the machine is shared and noisy), the order and history are asserted exactly.
#![cfg(feature = "reqwest")]

mod support;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dualstack::addr::Family;
use dualstack::connect::reqwest::{HappyResolver, HISTORY_PORT};
use dualstack::connect::{Connector, HickoryResolver, OutcomeCache};
use support::dns::{test_resolver_opts, FakeDns, RecordType, Zone};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A minimal HTTP/1.1 server on `addr` answering every request with the peer address.
async fn http_server(listener: TcpListener) {
    loop {
        let Ok((mut s, peer)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let body = peer.ip().to_string();
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(reply.as_bytes()).await;
        });
    }
}

/// Listeners on `::1` and `127.0.0.1` with the same port.
async fn dual_loopback_server() -> u16 {
    for _ in 0..20 {
        let l6 = TcpListener::bind("[::1]:0").await.unwrap();
        let port = l6.local_addr().unwrap().port();
        if let Ok(l4) = TcpListener::bind(("127.0.0.1", port)).await {
            tokio::spawn(http_server(l6));
            tokio::spawn(http_server(l4));
            return port;
        }
    }
    panic!("no port free on both loopbacks");
}

/// What reqwest's `hickory-dns` feature does (reqwest 0.13 `src/dns/hickory.rs`):
/// `lookup_ip` with `Ipv6AndIpv4`, which waits for both answers. Pointed at the fake
/// server; hickory's default 5 s query timeout, as reqwest has.
#[derive(Clone)]
struct LookupIpResolver(hickory_resolver::TokioResolver);

impl reqwest::dns::Resolve for LookupIpResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let r = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let lookup = r.lookup_ip(host.as_str()).await?;
            let addrs: Vec<SocketAddr> = lookup.iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

async fn get(client: &reqwest::Client, url: &str) -> (Duration, IpAddr, String) {
    let t0 = Instant::now();
    let res = client.get(url).send().await.expect("request");
    let peer = res.remote_addr().expect("remote addr").ip();
    let body = res.text().await.expect("body");
    (t0.elapsed(), peer, body)
}

#[tokio::test]
async fn late_aaaa_costs_the_resolution_delay_not_two_seconds() {
    let port = dual_loopback_server().await;
    let dns = FakeDns::start(
        "127.0.0.1:0".parse().unwrap(),
        Zone::new()
            .aaaa("web.test", "::1", Duration::from_secs(2))
            .a("web.test", "127.0.0.1", Duration::ZERO),
    )
    .await
    .unwrap();
    let url = format!("http://web.test:{port}/");

    let cache = Arc::new(OutcomeCache::new());
    let connector = Connector::new()
        .resolver(Arc::new(HickoryResolver::with_name_servers(&[dns.addr()])))
        .cache(Some(cache.clone()));
    let happy = HappyResolver::new(connector);
    let ours = happy.client_builder().no_proxy().build().unwrap();
    let (t_ours, peer, body) = get(&ours, &url).await;
    assert_eq!(peer, "127.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(body, "127.0.0.1");
    // Both queries went out, as separate queries.
    assert_eq!(dns.queries_for("web.test", RecordType::AAAA).len(), 1);
    assert_eq!(dns.queries_for("web.test", RecordType::A).len(), 1);

    let mut opts = test_resolver_opts();
    opts.timeout = Duration::from_secs(5);
    let default = reqwest::Client::builder()
        .no_proxy()
        .dns_resolver(Arc::new(LookupIpResolver(dns.resolver_with(opts))))
        .build()
        .unwrap();
    let (t_default, peer_default, _) = get(&default, &url).await;
    println!(
        "reqwest GET with AAAA 2 s late: HappyResolver {:.1} ms over {}, \
         reqwest's hickory lookup_ip {:.1} ms over {} (load {})",
        t_ours.as_secs_f64() * 1e3,
        peer,
        t_default.as_secs_f64() * 1e3,
        peer_default,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    assert!(t_ours < Duration::from_secs(1), "ours took {t_ours:?}");
    assert!(
        t_default >= Duration::from_millis(1900),
        "the both-answers lookup took {t_default:?}"
    );
    assert_eq!(peer_default, "::1".parse::<IpAddr>().unwrap());

    // The layer recorded the winner's family for the host.
    let h = cache
        .get("web.test", HISTORY_PORT)
        .expect("history recorded");
    assert_eq!(h.prefer, Some(Family::V4));
}

#[tokio::test]
async fn history_from_reqwest_orders_the_next_resolution() {
    let port = dual_loopback_server().await;
    let dns = FakeDns::start(
        "127.0.0.1:0".parse().unwrap(),
        Zone::new()
            .aaaa("h.test", "::1", Duration::ZERO)
            .a("h.test", "127.0.0.1", Duration::ZERO),
    )
    .await
    .unwrap();
    let cache = Arc::new(OutcomeCache::new());
    let connector = Connector::new()
        .resolver(Arc::new(HickoryResolver::with_name_servers(&[dns.addr()])))
        .cache(Some(cache.clone()));
    let happy = HappyResolver::new(connector.clone());
    let client = happy.client_builder().no_proxy().build().unwrap();

    // Both answer at once: IPv6 first, interleaved.
    let r = connector.resolve("h.test", HISTORY_PORT).await.unwrap();
    assert_eq!(r.order[0], "::1".parse::<IpAddr>().unwrap());
    let (_, peer, _) = get(&client, &format!("http://h.test:{port}/")).await;
    assert_eq!(peer, "::1".parse::<IpAddr>().unwrap());
    assert_eq!(
        cache.get("h.test", HISTORY_PORT).unwrap().prefer,
        Some(Family::V6)
    );

    // Another program part (sharing the cache) found IPv4 better: reqwest follows.
    cache.record_winner(
        "h.test",
        HISTORY_PORT,
        "127.0.0.1:80".parse().unwrap(),
        Duration::ZERO,
    );
    let (_, peer, _) = get(&client, &format!("http://h.test:{port}/")).await;
    assert_eq!(peer, "127.0.0.1".parse::<IpAddr>().unwrap());
}

#[tokio::test]
async fn dns_failure_is_a_reqwest_dns_error() {
    let dns = FakeDns::start("127.0.0.1:0".parse().unwrap(), Zone::new())
        .await
        .unwrap();
    let connector =
        Connector::new().resolver(Arc::new(HickoryResolver::with_name_servers(&[dns.addr()])));
    let client = HappyResolver::new(connector)
        .client_builder()
        .no_proxy()
        .build()
        .unwrap();
    let e = client.get("http://nx.test:1/").send().await.unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    let chain = format!("{:?}", e);
    assert!(chain.contains("nx.test"), "{chain}");
}
