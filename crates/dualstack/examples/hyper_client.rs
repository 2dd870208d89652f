//! hyper-util's client with the Happy Eyeballs connector, fetching from a small HTTP
//! server this example starts itself on 127.0.0.1, by IP literal and by `localhost`.
//! Each response carries a `ConnectInfo` saying how its connection was made.
//!
//! ```text
//! cargo run --example hyper_client
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use dualstack::connect::hyper::{ConnectInfo, HappyConnector};
use dualstack::connect::{Connector, SystemResolver};
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

async fn serve(listener: TcpListener) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let svc = service_fn(move |_req| async move {
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(format!(
                    "hello {peer}\n"
                )))))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    tokio::spawn(serve(listener));

    // `localhost` resolves through /etc/hosts; the IP literal needs no DNS at all.
    let connector = Connector::new().resolver(Arc::new(SystemResolver));
    let client = Client::builder(TokioExecutor::new())
        .build::<_, Empty<Bytes>>(HappyConnector::new(connector));
    for url in [
        format!("http://127.0.0.1:{}/", addr.port()),
        format!("http://localhost:{}/", addr.port()),
    ] {
        let res = client.get(url.parse()?).await?;
        let status = res.status();
        let info = res.extensions().get::<ConnectInfo>().cloned();
        let body = res.into_body().collect().await?.to_bytes();
        print!("GET {url} -> {status}: {}", String::from_utf8_lossy(&body));
        if let Some(info) = info {
            println!(
                "  connected to {} ({}) in {:.3} ms, {} steps",
                info.peer,
                info.family,
                info.elapsed.as_secs_f64() * 1e3,
                info.events.len()
            );
        }
    }
    Ok(())
}
