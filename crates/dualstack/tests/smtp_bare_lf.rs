//! SMTP replies that end in a bare LF are accepted (as most clients do) but flagged in the
//! transcript: RFC 5321 §2.3.8 requires CRLF, and a checker should say so.

use dualstack::smtp::{Client, Direction};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn bare_lf_replies_are_flagged() {
    let (client, mut server) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        server.write_all(b"220 mx.test ready\n").await.unwrap();
        let _ = server.read(&mut buf).await; // EHLO
        server
            .write_all(b"250-mx.test\r\n250 8BITMIME\n")
            .await
            .unwrap();
        let _ = server.read(&mut buf).await; // QUIT
        server.write_all(b"221 bye\r\n").await.unwrap();
        let _ = server.read(&mut buf).await;
    });
    let report = Client::new("c.test").probe(client).await.unwrap();
    let entries = report.transcript.entries();
    let flagged: Vec<String> = entries
        .windows(2)
        .filter(|w| w[1].direction == Direction::Note && w[1].line.starts_with(b"the line above"))
        .map(|w| String::from_utf8_lossy(&w[0].line).into_owned())
        .collect();
    assert_eq!(
        flagged,
        ["220 mx.test ready", "250 8BITMIME"],
        "{entries:#?}"
    );
    let text = report.transcript.to_string();
    assert!(text.contains("bare LF"), "{text}");
}
