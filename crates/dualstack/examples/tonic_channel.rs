//! A tonic (gRPC) channel whose connections are made with Happy Eyeballs: this example
//! starts tonic's health service on 127.0.0.1 and asks it for its status through a
//! channel to `localhost` (answered from /etc/hosts, no DNS).
//!
//! ```text
//! cargo run -p dualstack --example tonic_channel --features hyper
//! ```

use std::sync::Arc;

use dualstack::connect::hyper::HappyConnector;
use dualstack::connect::{Connector, OutcomeCache};
use tokio::net::TcpListener;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let incoming = futures_util::stream::unfold(listener, |l| async move {
        Some((l.accept().await.map(|(s, _)| s), l))
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(incoming),
    );

    // One Connector for the program: its outcome cache serves every channel made from it.
    let connector = Connector::new().cache(Some(Arc::new(OutcomeCache::new())));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://localhost:{port}"))?
        .connect_with_connector(HappyConnector::new(connector))
        .await?;
    let reply = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    println!(
        "health of localhost:{port}: {:?}",
        reply.into_inner().status()
    );
    Ok(())
}
