//! The SMTP client library against scripted servers on 127.0.0.1 and ::1: the good path,
//! a multi-line greeting, the HELO fallback, STARTTLS, and each kind of bad server
//! (endless line, garbage code, close mid-reply, silence).

mod smtp_server;

use std::time::Duration;

use dualstack::smtp::{Client, Direction, SmtpError, Stage, StartTls};
use smtp_server::*;
use tokio::net::TcpStream;

// ------------------------------------------------------------------ through the library

#[tokio::test]
async fn library_good_path_both_families() {
    for ip in FAMILIES {
        let Some((addr, seen, task)) = server(ip, good_script()).await else {
            continue;
        };
        let stream = TcpStream::connect(addr).await.unwrap();
        let report = Client::new("client.test").probe(stream).await.unwrap();
        task.await.unwrap();
        let seen = seen.lock().unwrap();
        assert!(seen.done, "{ip}: {:?}", seen.error);
        assert_eq!(seen.lines, ["EHLO client.test", "QUIT"]);

        let greeting = report.greeting.unwrap();
        assert_eq!(greeting.code, 220);
        assert_eq!(greeting.lines.len(), 3);
        let caps = report.capabilities.unwrap();
        assert_eq!(caps.domain, "mx.test greets you");
        assert_eq!(caps.size, Some(10_240_000));
        assert!(caps.pipelining && caps.eight_bit_mime && caps.smtputf8 && !caps.starttls);
        assert_eq!(caps.auth, ["PLAIN", "LOGIN"]);
        assert_eq!(caps.other, ["ENHANCEDSTATUSCODES"]);
        assert_eq!(report.quit.unwrap().code, 221);
        let t = report.transcript.entries();
        assert_eq!(t.len(), 3 + 1 + 7 + 1 + 1);
        assert_eq!(t[3].direction, Direction::Client);
        assert!(t.windows(2).all(|w| w[0].at <= w[1].at));
    }
}

#[tokio::test]
async fn library_helo_fallback() {
    for ip in FAMILIES {
        let script = vec![
            Send("220 old.test\r\n"),
            Expect("EHLO "),
            Send("502 5.5.2 what is EHLO\r\n"),
            Expect("HELO client.test"),
            Send("250 old.test\r\n"),
            Expect("QUIT"),
            Send("221 bye\r\n"),
        ];
        let Some((addr, seen, task)) = server(ip, script).await else {
            continue;
        };
        let stream = TcpStream::connect(addr).await.unwrap();
        let report = Client::new("client.test").probe(stream).await.unwrap();
        task.await.unwrap();
        assert!(seen.lock().unwrap().done);
        assert_eq!(report.hello.unwrap().command, "HELO");
        assert!(report.capabilities.is_none());
    }
}

#[tokio::test]
async fn library_starttls_verified_with_test_root() {
    for ip in FAMILIES {
        let script = starttls_script(
            "250-tls.test\r\n250-STARTTLS\r\n250 SIZE 100\r\n",
            "250-tls.test\r\n250-AUTH PLAIN\r\n250 SIZE 100\r\n",
        );
        let Some((addr, seen, task)) = server(ip, script).await else {
            continue;
        };
        let stream = TcpStream::connect(addr).await.unwrap();
        let report = Client::new("client.test")
            .starttls(StartTls::insecure())
            .probe(stream)
            .await
            .unwrap();
        task.await.unwrap();
        assert!(seen.lock().unwrap().done);
        let tls = report.tls.unwrap();
        assert_eq!(tls.version, "TLSv1.3");
        assert!(tls.cipher.starts_with("TLS13_"), "{}", tls.cipher);
        assert!(!tls.verified);
        assert!(report.capabilities_before_tls.unwrap().starttls);
        let caps = report.capabilities.unwrap();
        assert_eq!(caps.auth, ["PLAIN"]);
        assert!(!caps.starttls);
        assert!(report.timings.starttls.is_some());
    }
}

#[tokio::test]
async fn library_starttls_rejects_unknown_certificate() {
    let script = vec![
        Send("220 tls.test\r\n"),
        Expect("EHLO "),
        Send("250-tls.test\r\n250 STARTTLS\r\n"),
        Expect("STARTTLS"),
        Send("220 go ahead\r\n"),
        Tls,
    ];
    let (addr, _seen, task) = server("127.0.0.1", script).await.unwrap();
    let stream = TcpStream::connect(addr).await.unwrap();
    let tls = StartTls::new(
        dualstack::smtp::tls::webpki_config(),
        rustls::pki_types::ServerName::try_from("localhost").unwrap(),
    );
    let err = Client::new("client.test")
        .starttls(tls)
        .probe(stream)
        .await
        .unwrap_err();
    assert!(matches!(err.error, SmtpError::Tls(_)), "{err}");
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("certificate"), "{cause}");
    task.abort();
}

#[tokio::test]
async fn library_starttls_with_pinned_root_verifies() {
    for ip in FAMILIES {
        let script = starttls_script("250-tls.test\r\n250 STARTTLS\r\n", "250 tls.test\r\n");
        let Some((addr, seen, task)) = server(ip, script).await else {
            continue;
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add(test_cert().0.clone()).unwrap();
        let tls = StartTls::new(
            dualstack::smtp::tls::config_with_roots(roots),
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
        );
        let stream = TcpStream::connect(addr).await.unwrap();
        let report = Client::new("client.test")
            .starttls(tls)
            .probe(stream)
            .await
            .unwrap();
        task.await.unwrap();
        assert!(seen.lock().unwrap().done);
        assert!(report.tls.unwrap().verified);
        // HELO-less servers after TLS: the EHLO reply had no extensions.
        assert_eq!(report.capabilities.unwrap().domain, "tls.test");
    }
}

/// Each bad server, through the library: the error it must produce.
#[tokio::test]
async fn library_bad_servers() {
    type Check = fn(&SmtpError) -> bool;
    let cases: Vec<(&str, Vec<Step>, Check)> = vec![
        ("garbage code", vec![Send("HELLO there\r\n")], |e| {
            matches!(
                e,
                SmtpError::BadReply {
                    stage: Stage::Greeting,
                    ..
                }
            )
        }),
        (
            "code changed",
            vec![
                Send("220 ok\r\n"),
                Expect("EHLO"),
                Send("250-a\r\n251 b\r\n"),
            ],
            |e| {
                matches!(
                    e,
                    SmtpError::BadReply {
                        stage: Stage::Ehlo,
                        ..
                    }
                )
            },
        ),
        (
            "closed mid-reply",
            vec![Send("220-first\r\n220-second\r\n"), Close],
            |e| {
                matches!(
                    e,
                    SmtpError::ClosedMidReply {
                        stage: Stage::Greeting
                    }
                )
            },
        ),
        (
            "closed mid-line",
            vec![
                Send("220 ok\r\n"),
                Expect("EHLO"),
                Send("250-a\r\n250 b"),
                Close,
            ],
            |e| matches!(e, SmtpError::ClosedMidReply { stage: Stage::Ehlo }),
        ),
        ("closed before greeting", vec![Close], |e| {
            matches!(
                e,
                SmtpError::Closed {
                    stage: Stage::Greeting
                }
            )
        }),
        (
            "refused session",
            vec![
                Send("554 no service\r\n"),
                Expect("QUIT"),
                Send("221 bye\r\n"),
            ],
            |e| matches!(e, SmtpError::Unexpected { stage: Stage::Greeting, expected: 220, reply } if reply.code == 554),
        ),
        (
            "EHLO 421",
            vec![
                Send("220 ok\r\n"),
                Expect("EHLO"),
                Send("421 going down\r\n"),
                Close,
            ],
            |e| matches!(e, SmtpError::Unexpected { stage: Stage::Ehlo, reply, .. } if reply.code == 421),
        ),
        (
            "QUIT not 221",
            vec![
                Send("220 ok\r\n"),
                Expect("EHLO"),
                Send("250 ok\r\n"),
                Expect("QUIT"),
                Send("250 what\r\n"),
            ],
            |e| {
                matches!(
                    e,
                    SmtpError::Unexpected {
                        stage: Stage::Quit,
                        expected: 221,
                        ..
                    }
                )
            },
        ),
        (
            "no STARTTLS offered",
            vec![
                Send("220 ok\r\n"),
                Expect("EHLO"),
                Send("250 ok\r\n"),
                Expect("QUIT"),
                Send("221 bye\r\n"),
            ],
            |e| matches!(e, SmtpError::NoStartTls { helo: false }),
        ),
        (
            "data after STARTTLS 220",
            vec![
                Send("220 ok\r\n"),
                Expect("EHLO"),
                Send("250-ok\r\n250 STARTTLS\r\n"),
                Expect("STARTTLS"),
                Send("220 go ahead\r\n250 injected\r\n"),
            ],
            |e| matches!(e, SmtpError::DataAfterStartTls(14)),
        ),
    ];
    for (name, script, check) in cases {
        for ip in FAMILIES {
            let Some((addr, _seen, task)) = server(ip, script.clone()).await else {
                continue;
            };
            let stream = TcpStream::connect(addr).await.unwrap();
            let mut client = Client::new("c.test");
            if name.contains("STARTTLS") {
                client = client.starttls(StartTls::insecure());
            }
            let err = tokio::time::timeout(Duration::from_secs(30), client.probe(stream))
                .await
                .expect("no hang")
                .unwrap_err();
            assert!(check(&err.error), "{name} on {ip}: got {:?}", err.error);
            task.abort();
        }
    }
}

#[tokio::test]
async fn library_ten_megabytes_without_newline() {
    for ip in FAMILIES {
        let Some((addr, seen, task)) = server(ip, vec![Flood(10 << 20)]).await else {
            continue;
        };
        let stream = TcpStream::connect(addr).await.unwrap();
        let err = Client::new("c.test").probe(stream).await.unwrap_err();
        assert!(
            matches!(
                err.error,
                SmtpError::LineTooLong {
                    stage: Stage::Greeting,
                    max: 8192
                }
            ),
            "{:?}",
            err.error
        );
        assert_eq!(
            err.to_string(),
            "line too long (over 8192 bytes) in the greeting"
        );
        // The client stopped reading and closed: the server could not send it all.
        task.await.unwrap();
        let seen = seen.lock().unwrap();
        assert!(
            seen.flooded < 10 << 20,
            "server sent all {} bytes",
            seen.flooded
        );
    }
}
