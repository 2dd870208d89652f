//! Absurd limits handed to the library are safe: a duration whose deadline would not fit
//! in an `Instant` saturates (about 30 years) instead of panicking in a worker.
#![cfg(feature = "server")]

use std::time::Duration;

use dualstack::listen::Bound;
use dualstack::whoami::server::{Server, ServerConfig, Service};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn http_connection_with_huge_timeouts_is_served() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bound = Bound::from_socket(socket2::Socket::from(l)).unwrap();
    let addr = bound.local;
    let cfg = ServerConfig {
        header_timeout: Duration::MAX,
        idle_timeout: Duration::MAX,
        shutdown_timeout: Duration::MAX,
        ..ServerConfig::default()
    };
    let running = Server::new(cfg)
        .start(vec![(Service::Http, bound)])
        .unwrap();
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"GET /ip HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = String::new();
    tokio::time::timeout(Duration::from_secs(10), client.read_to_string(&mut resp))
        .await
        .expect("a response")
        .unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with("127.0.0.1\n"), "{resp}");
    // The connection task did not panic: the drain sees it end.
    let d = tokio::time::timeout(
        Duration::from_secs(10),
        running.stop(std::future::pending()),
    )
    .await
    .expect("drained");
    assert_eq!(d.cut, 0);
}
