//! reqwest with dualstack's resolver: this example starts a small HTTP server on
//! 127.0.0.1 and fetches from it by the name `localhost` (answered from /etc/hosts, no
//! DNS) twice; the second resolution puts the family that won first, from the history
//! the layer recorded.
//!
//! ```text
//! cargo run -p dualstack --example reqwest_client --features reqwest
//! ```

use std::sync::Arc;

use dualstack::connect::reqwest::{HappyResolver, HISTORY_PORT};
use dualstack::connect::{Connector, OutcomeCache};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut s, peer)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let body = format!("hello {peer}\n");
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all((head + &body).as_bytes()).await;
        }
    });

    // One Connector for the program; the resolver and the layer share its cache.
    let cache = Arc::new(OutcomeCache::new());
    let connector = Connector::new().cache(Some(cache.clone()));
    let client = HappyResolver::new(connector)
        .client_builder()
        .no_proxy()
        .build()?;
    let url = format!("http://localhost:{port}/");
    for _ in 0..2 {
        let res = client.get(&url).send().await?;
        let peer = res.remote_addr();
        print!("GET {url} via {peer:?}: {}", res.text().await?);
    }
    let history = cache.get("localhost", HISTORY_PORT);
    println!(
        "history for localhost: {:?}",
        history.and_then(|h| h.prefer)
    );
    Ok(())
}
