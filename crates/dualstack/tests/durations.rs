//! Absurd durations handed to the connector are safe: a timeout or resolution delay of
//! `Duration::MAX` is capped instead of overflowing an `Instant` inside the machine.

use std::sync::Arc;
use std::time::Duration;

use dualstack::addr::Family;
use dualstack::connect::{Connector, ScriptedResolver};

#[tokio::test(start_paused = true)]
async fn huge_timeout_and_resolution_delay_do_not_panic() {
    // A answers at once, AAAA never: the resolution delay starts; the connect to the
    // listener then wins.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let r =
        ScriptedResolver::new().answer(Family::V4, Duration::ZERO, &["127.0.0.1".parse().unwrap()]);
    let c = Connector::new()
        .resolver(Arc::new(r))
        .timeout(Duration::MAX)
        .resolution_delay(Duration::from_millis(10));
    let conn = c.connect("a.test", port).await.expect("connects");
    assert_eq!(conn.peer.port(), port);
    let c = Connector::new()
        .resolver(Arc::new(ScriptedResolver::new().answer(
            Family::V4,
            Duration::ZERO,
            &["127.0.0.1".parse().unwrap()],
        )))
        .timeout(Duration::from_secs(5))
        .resolution_delay(Duration::MAX);
    // The preferred family (IPv6) never answers: the capped delay then the timeout end it.
    let _ = c.connect("a.test", port).await;
}
