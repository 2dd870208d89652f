//! A tonic (gRPC) channel through the Happy Eyeballs connector
//! (`Endpoint::connect_with_connector`), against tonic's own health service on loopback.
//! The name has `::1` (nothing listens there) and `127.0.0.1` (the server), answered by
//! the fake DNS server: the channel still comes up, over IPv4, and answers.
#![cfg(feature = "hyper")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use dualstack::connect::hyper::HappyConnector;
use dualstack::connect::{Connector, HickoryResolver, OutcomeCache};
use support::dns::{FakeDns, RecordType, Zone};
use tokio::net::TcpListener;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

#[tokio::test]
async fn grpc_channel_through_the_connector() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let incoming = futures_util::stream::unfold(listener, |l| async move {
        let conn = l.accept().await.map(|(s, _)| s);
        Some((conn, l))
    });
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(incoming),
    );

    let dns = FakeDns::start(
        "127.0.0.1:0".parse().unwrap(),
        Zone::new().aaaa("grpc.test", "::1", Duration::ZERO).a(
            "grpc.test",
            "127.0.0.1",
            Duration::ZERO,
        ),
    )
    .await
    .unwrap();
    let cache = Arc::new(OutcomeCache::new());
    let connector = Connector::new()
        .resolver(Arc::new(HickoryResolver::with_name_servers(&[dns.addr()])))
        .cache(Some(cache.clone()));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://grpc.test:{port}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect_with_connector(HappyConnector::new(connector))
        .await
        .expect("channel");
    let reply = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health check");
    assert_eq!(reply.into_inner().status(), ServingStatus::Serving);
    assert_eq!(dns.queries_for("grpc.test", RecordType::AAAA).len(), 1);
    // The refused ::1 and the IPv4 winner are remembered for the next channel.
    let h = cache.get("grpc.test", port).expect("history");
    assert_eq!(h.prefer, Some(dualstack::addr::Family::V4));
    server.abort();
}
