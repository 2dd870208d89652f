//! The hyper connector's `HttpConnector` settings on real loopback sockets:
//! `enforce_http`, `set_nodelay`, keepalive, per-family local addresses, a custom
//! `Attempt`. The connector is called directly as a `tower::Service<Uri>`, so each test
//! sees the socket it made. HTTPS records (RFC 9460) through the fake DNS server: asked
//! for `https` URIs by default, never for `http`.
#![cfg(feature = "hyper")]

mod support;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dualstack::connect::hyper::HappyConnector;
use dualstack::connect::{Attempt, Connector, HickoryResolver, Reason, TcpAttempt};
use futures_util::future::BoxFuture;
use support::dns::{FakeDns, RecordType, Zone};
use tokio::net::{TcpListener, TcpStream};
use tower_service::Service;

async fn call<A>(c: &mut HappyConnector<A>, uri: &str) -> Result<TcpStream, Reason>
where
    A: Attempt<Stream = TcpStream> + 'static,
{
    match c.call(uri.parse().unwrap()).await {
        Ok(io) => Ok(io.into_inner().into_inner()),
        Err(e) => Err(e.reason),
    }
}

async fn listener(ip: &str) -> (TcpListener, u16) {
    let l = TcpListener::bind((ip, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

#[tokio::test]
async fn enforce_http_refuses_https_by_default_and_allows_it_when_off() {
    let (l, port) = listener("127.0.0.1").await;
    let mut c = HappyConnector::new(Connector::new());
    let https = format!("https://127.0.0.1:{port}/");
    assert_eq!(
        call(&mut c, &https).await.unwrap_err(),
        Reason::UnsupportedScheme {
            scheme: Some("https".into())
        }
    );
    // Nothing was connected.
    let accepted = tokio::time::timeout(Duration::from_millis(200), l.accept()).await;
    assert!(accepted.is_err(), "an https URI got a plain TCP connection");
    // Other schemes and a missing scheme too.
    let err = call(&mut c, &format!("ftp://127.0.0.1:{port}/")).await;
    assert!(
        matches!(err, Err(Reason::UnsupportedScheme { .. })),
        "{err:?}"
    );
    let err = call(&mut c, "/relative").await;
    assert!(
        matches!(err, Err(Reason::UnsupportedScheme { scheme: None })),
        "{err:?}"
    );

    // http is fine; https with enforce_http off connects (a TLS connector wraps it).
    call(&mut c, &format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap();
    c.enforce_http(false);
    let s = call(&mut c, &https).await.unwrap();
    assert_eq!(s.peer_addr().unwrap().port(), port);
    assert!(matches!(
        call(&mut c, "/relative").await,
        Err(Reason::UnsupportedScheme { scheme: None })
    ));
}

#[tokio::test]
async fn nodelay_and_keepalive_are_set_on_the_connection() {
    let (_l, port) = listener("::1").await;
    let uri = format!("http://[::1]:{port}/");
    let mut c = HappyConnector::new(Connector::new());
    let plain = call(&mut c, &uri).await.unwrap();
    assert!(
        !plain.nodelay().unwrap(),
        "off by default, as HttpConnector"
    );
    assert!(!socket2::SockRef::from(&plain).keepalive().unwrap());

    c.set_nodelay(true);
    c.set_keepalive(Some(Duration::from_secs(17)));
    c.set_keepalive_interval(Some(Duration::from_secs(3)));
    c.set_keepalive_retries(Some(4));
    let s = call(&mut c, &uri).await.unwrap();
    assert!(s.nodelay().unwrap());
    let sock = socket2::SockRef::from(&s);
    assert!(sock.keepalive().unwrap());
    assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(17));
    assert_eq!(
        sock.tcp_keepalive_interval().unwrap(),
        Duration::from_secs(3)
    );
    assert_eq!(sock.tcp_keepalive_retries().unwrap(), 4);
}

#[tokio::test]
async fn local_addresses_are_per_family() {
    // 127.0.0.0/8 is all local on Linux: 127.0.0.2 is a usable source.
    let (l4, p4) = listener("127.0.0.1").await;
    let (l6, p6) = listener("::1").await;
    let mut c = HappyConnector::new(Connector::new());
    c.set_local_addresses(Ipv4Addr::new(127, 0, 0, 2), Ipv6Addr::LOCALHOST);
    let s4 = call(&mut c, &format!("http://127.0.0.1:{p4}/"))
        .await
        .unwrap();
    let s6 = call(&mut c, &format!("http://[::1]:{p6}/")).await.unwrap();
    assert_eq!(s4.local_addr().unwrap().ip(), IpAddr::from([127, 0, 0, 2]));
    assert_eq!(
        l4.accept().await.unwrap().1.ip(),
        IpAddr::from([127, 0, 0, 2])
    );
    assert_eq!(
        s6.local_addr().unwrap().ip(),
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    );
    drop(l6);

    // One address binds its family only; the other family still connects, unbound.
    let mut c = HappyConnector::new(Connector::new());
    c.set_local_address(Some(IpAddr::from([127, 0, 0, 3])));
    let (_l6, p6) = listener("::1").await;
    let s4 = call(&mut c, &format!("http://127.0.0.1:{p4}/"))
        .await
        .unwrap();
    assert_eq!(s4.local_addr().unwrap().ip(), IpAddr::from([127, 0, 0, 3]));
    call(&mut c, &format!("http://[::1]:{p6}/")).await.unwrap();
}

/// A custom attempt: counts its calls and what source it was given, then does real TCP.
#[derive(Debug, Default, Clone)]
struct Counting {
    calls: Arc<AtomicUsize>,
    sources: Arc<std::sync::Mutex<Vec<Option<IpAddr>>>>,
}

impl Attempt for Counting {
    type Stream = TcpStream;

    fn connect(
        &self,
        addr: SocketAddr,
        source: Option<IpAddr>,
    ) -> BoxFuture<'static, io::Result<TcpStream>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.sources.lock().unwrap().push(source);
        TcpAttempt.connect(addr, source)
    }

    fn local_addr(&self, stream: &TcpStream) -> io::Result<SocketAddr> {
        stream.local_addr()
    }
}

#[tokio::test]
async fn custom_attempt_makes_the_connections() {
    let (_l, port) = listener("127.0.0.1").await;
    let counting = Counting::default();
    let mut c = HappyConnector::with_attempt(Connector::new(), counting.clone());
    c.set_local_address(Some(IpAddr::from([127, 0, 0, 4])));
    let s = call(&mut c, &format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap();
    assert_eq!(counting.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        *counting.sources.lock().unwrap(),
        vec![Some(IpAddr::from([127, 0, 0, 4]))]
    );
    assert_eq!(s.local_addr().unwrap().ip(), IpAddr::from([127, 0, 0, 4]));
}

#[tokio::test]
async fn https_uris_ask_for_https_records_by_default_http_uris_never() {
    // The URI's port has its own listener; the HTTPS record (RFC 9460 §9.1 name for a
    // port other than 443) sends the connect to another port.
    let (_uri_l, uri_port) = listener("127.0.0.1").await;
    let (_svc_l, svc_port) = listener("127.0.0.1").await;
    let dns = FakeDns::start(
        "127.0.0.1:0".parse().unwrap(),
        Zone::new().a("h.test", "127.0.0.1", Duration::ZERO).https(
            &format!("_{uri_port}._https.h.test"),
            &format!("1 . alpn=h2 port={svc_port}"),
            Duration::ZERO,
        ),
    )
    .await
    .unwrap();
    let connector = Connector::new()
        .resolver(Arc::new(HickoryResolver::with_name_servers(&[dns.addr()])))
        .timeout(Duration::from_secs(5));
    let mut c = HappyConnector::new(connector);
    c.enforce_http(false); // as under a TLS connector

    // http first, on a cold resolver cache: no HTTPS query, the URI's own port.
    let io = c
        .call(format!("http://h.test:{uri_port}/").parse().unwrap())
        .await
        .unwrap();
    let info = io.inner().info();
    assert_eq!(info.peer, SocketAddr::from(([127, 0, 0, 1], uri_port)));
    assert!(info.service.is_none());
    assert!(
        dns.queries().iter().all(|q| q.rtype != RecordType::HTTPS),
        "an http URI asked for HTTPS records: {:?}",
        dns.queries()
    );
    assert!(!dns.queries_for("h.test", RecordType::A).is_empty());

    // The same connector, an https URI: the record's port, its ALPN with the connection.
    let io = c
        .call(format!("https://h.test:{uri_port}/").parse().unwrap())
        .await
        .unwrap();
    let info = io.inner().info().clone();
    assert_eq!(info.peer, SocketAddr::from(([127, 0, 0, 1], svc_port)));
    let svc = info.service.expect("the winner's HTTPS record");
    assert_eq!(svc.https_alpn(), ["h2", "http/1.1"]);
    let name = format!("_{uri_port}._https.h.test");
    assert_eq!(dns.queries_for(&name, RecordType::HTTPS).len(), 1);
}
