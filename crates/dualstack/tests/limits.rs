//! Absurd limits handed to the library are safe: a duration whose deadline would not fit
//! in an `Instant` saturates (about 30 years) instead of panicking in a worker.
#![cfg(feature = "server")]

use std::sync::Arc;
use std::time::Duration;

use dualstack::whoami::http::{serve_connection, HttpConfig};
use dualstack::whoami::Facts;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn http_connection_with_huge_timeouts_is_served() {
    let (client, server) = tokio::io::duplex(4096);
    let facts = Arc::new(Facts::new(
        "192.0.2.7:5000".parse().unwrap(),
        "127.0.0.1:8080".parse().unwrap(),
    ));
    let cfg = HttpConfig {
        header_timeout: Duration::MAX,
        idle_timeout: Duration::MAX,
        ..HttpConfig::default()
    };
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let served = tokio::spawn(async move { serve_connection(server, facts, &cfg, rx).await });
    let mut client = client;
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
    assert!(resp.ends_with("192.0.2.7\n"), "{resp}");
    served
        .await
        .expect("no panic in the connection task")
        .unwrap();
}
