//! SMTP client timeouts on a paused clock: exact virtual times for the greeting, each
//! reply and the whole dialogue, against an in-memory server that speaks on a schedule.

use std::time::Duration;

use dualstack::smtp::{Client, SmtpError, Stage};
use tokio::io::AsyncWriteExt;

// ---------------------------------------------------------- paused clock, exact times

/// A duplex "server" that says the scripted lines after scripted delays.
async fn scripted_duplex(steps: Vec<(u64, &'static str)>) -> tokio::io::DuplexStream {
    let (client, mut server) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        for (delay_ms, text) in steps {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            if server.write_all(text.as_bytes()).await.is_err() {
                return;
            }
        }
        // Stay open (silent) until the client goes away.
        let mut sink = [0u8; 1024];
        while tokio::io::AsyncReadExt::read(&mut server, &mut sink)
            .await
            .is_ok_and(|n| n > 0)
        {}
    });
    client
}

#[tokio::test(start_paused = true)]
async fn silent_server_times_out_at_exactly_the_greeting_timeout() {
    let stream = scripted_duplex(vec![]).await;
    let start = tokio::time::Instant::now();
    let err = Client::new("c.test")
        .greeting_timeout(Duration::from_secs(7))
        .started_at(start)
        .probe(stream)
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(7));
    assert_eq!(
        err.to_string(),
        "timed out after 7s waiting for the greeting"
    );
    assert_eq!(err.report.timings.total, Some(Duration::from_secs(7)));
}

#[tokio::test(start_paused = true)]
async fn reply_timeout_covers_the_whole_multiline_reply() {
    // The greeting trickles in: each line is within 2 s of the last, but the whole reply
    // takes 4 s; a 3 s reply timeout must fire at exactly 3 s.
    let stream = scripted_duplex(vec![
        (500, "220-a\r\n"),
        (1000, "220-b\r\n"),
        (1000, "220-c\r\n"),
        (1000, "220-d\r\n"),
        (1000, "220 e\r\n"),
    ])
    .await;
    let start = tokio::time::Instant::now();
    let err = Client::new("c.test")
        .greeting_timeout(Duration::from_secs(3))
        .started_at(start)
        .probe(stream)
        .await
        .unwrap_err();
    assert!(matches!(
        err.error,
        SmtpError::TimedOut {
            stage: Stage::Greeting,
            ..
        }
    ));
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    let at: Vec<Duration> = err
        .report
        .transcript
        .entries()
        .iter()
        .map(|e| e.at)
        .collect();
    assert_eq!(
        at,
        [500, 1500, 2500].map(Duration::from_millis),
        "transcript offsets are exact on the paused clock"
    );
}

#[tokio::test(start_paused = true)]
async fn ehlo_reply_timeout_is_separate_from_greeting() {
    let stream = scripted_duplex(vec![(2000, "220 ok\r\n")]).await;
    let start = tokio::time::Instant::now();
    let err = Client::new("c.test")
        .greeting_timeout(Duration::from_secs(5))
        .reply_timeout(Duration::from_secs(10))
        .started_at(start)
        .probe(stream)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.error,
            SmtpError::TimedOut {
                stage: Stage::Ehlo,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(start.elapsed(), Duration::from_secs(12));
    assert_eq!(err.report.timings.greeting, Some(Duration::from_secs(2)));
}

#[tokio::test(start_paused = true)]
async fn dialogue_timeout_bounds_a_server_that_answers_just_in_time() {
    // Each reply comes 25 s after the last one: under the 30 s reply timeout, but the
    // 60 s dialogue limit stops it while waiting for the QUIT reply (greeting at 25 s,
    // EHLO reply at 50 s, QUIT reply never).
    let stream = scripted_duplex(vec![(25_000, "220 ok\r\n"), (25_000, "250 ok\r\n")]).await;
    let start = tokio::time::Instant::now();
    let err = Client::new("c.test")
        .started_at(start)
        .probe(stream)
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(60));
    assert_eq!(
        err.to_string(),
        "the dialogue took longer than 60s (stopped waiting for the QUIT reply)"
    );
    assert_eq!(err.report.timings.total, Some(Duration::from_secs(60)));
    assert_eq!(err.report.transcript.entries().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn dialogue_timeout_fires_while_a_server_streams_without_pause() {
    // Issue 13.6: a server that never pauses (a new reply line every 100 ms, each well
    // within the reply timeout, fewer lines than the reply limit by the deadline) must
    // still be cut at the dialogue timeout, not when it stops talking.
    let (client, mut server) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if server.write_all(b"220 ok\r\n").await.is_err() {
            return;
        }
        for _ in 0..10_000 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if server.write_all(b"250-still talking\r\n").await.is_err() {
                return;
            }
        }
    });
    let start = tokio::time::Instant::now();
    let err = Client::new("c.test")
        .dialogue_timeout(Duration::from_secs(5))
        .started_at(start)
        .probe(client)
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert!(
        err.to_string()
            .starts_with("the dialogue took longer than 5s"),
        "{err}"
    );
    assert!(err.report.transcript.entries().len() >= 40);
}
