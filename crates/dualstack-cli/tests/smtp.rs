//! The SMTP client against scripted in-process servers on 127.0.0.1 and ::1, through the
//! library and through the real `dualstack` binary: the good path, a multi-line greeting,
//! the HELO fallback, STARTTLS, and each kind of bad server (endless line, garbage code,
//! close mid-reply, silence).

#[path = "../../dualstack/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::process::Output;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use dualstack::smtp::{Client, Direction, SmtpError, Stage, StartTls};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

trait Io: AsyncRead + AsyncWrite + Unpin + std::marker::Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + std::marker::Send> Io for T {}

/// One step of a scripted server.
#[derive(Clone, Debug)]
enum Step {
    /// Send these bytes as they are.
    Send(&'static str),
    /// Read one line; it must start with this (case-insensitive).
    Expect(&'static str),
    /// Send this many bytes of 'x' without a newline (bounded by the client closing).
    Flood(usize),
    /// Wait.
    Sleep(Duration),
    /// Close the connection.
    Close,
    /// TLS server handshake with a self-signed certificate.
    Tls,
}
use Step::*;

/// What the server saw.
#[derive(Debug, Default)]
struct Seen {
    lines: Vec<String>,
    /// A step failed (unexpected line, write error...).
    error: Option<String>,
    /// Bytes of a flood written before the client went away.
    flooded: usize,
    done: bool,
}

/// One self-signed certificate for "localhost", shared by every test server.
fn test_cert() -> &'static (
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivatePkcs8KeyDer<'static>,
) {
    static CERT: OnceLock<(
        rustls::pki_types::CertificateDer<'static>,
        rustls::pki_types::PrivatePkcs8KeyDer<'static>,
    )> = OnceLock::new();
    CERT.get_or_init(|| {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        (
            ck.cert.der().clone(),
            rustls::pki_types::PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()),
        )
    })
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    let (cert, key) = test_cert();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.clone()], key.clone_key().into())
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Listen on `ip`:0 and play `script` to the first client. `None` when the address
/// family is not available here.
async fn server(
    ip: &str,
    script: Vec<Step>,
) -> Option<(SocketAddr, Arc<Mutex<Seen>>, tokio::task::JoinHandle<()>)> {
    let listener = match TcpListener::bind((ip, 0)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("note: cannot listen on {ip} ({e}); skipping this family");
            return None;
        }
    };
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let seen2 = seen.clone();
    let task = tokio::spawn(async move {
        let Ok(Ok((stream, _))) =
            tokio::time::timeout(Duration::from_secs(30), listener.accept()).await
        else {
            seen2.lock().unwrap().error = Some("no client came".into());
            return;
        };
        let mut io: BufReader<Box<dyn Io>> = BufReader::new(Box::new(stream));
        for step in script {
            let r: Result<(), String> = async {
                match step {
                    Send(s) => io
                        .get_mut()
                        .write_all(s.as_bytes())
                        .await
                        .map_err(|e| e.to_string()),
                    Expect(prefix) => {
                        let mut line = String::new();
                        let n =
                            tokio::time::timeout(Duration::from_secs(20), io.read_line(&mut line))
                                .await
                                .map_err(|_| format!("timed out waiting for {prefix}"))?
                                .map_err(|e| e.to_string())?;
                        if n == 0 {
                            return Err(format!("client closed, expected {prefix}"));
                        }
                        let line = line.trim_end_matches(['\r', '\n']).to_string();
                        seen2.lock().unwrap().lines.push(line.clone());
                        if !line
                            .to_ascii_lowercase()
                            .starts_with(&prefix.to_ascii_lowercase())
                        {
                            return Err(format!("expected {prefix:?}, got {line:?}"));
                        }
                        Ok(())
                    }
                    Flood(total) => {
                        let chunk = vec![b'x'; 64 * 1024];
                        let mut sent = 0;
                        while sent < total {
                            let n = chunk.len().min(total - sent);
                            let w = tokio::time::timeout(
                                Duration::from_secs(20),
                                io.get_mut().write_all(&chunk[..n]),
                            )
                            .await;
                            match w {
                                Ok(Ok(())) => sent += n,
                                Ok(Err(e)) => {
                                    seen2.lock().unwrap().flooded = sent;
                                    return Err(format!("flood write failed: {e}"));
                                }
                                Err(_) => {
                                    seen2.lock().unwrap().flooded = sent;
                                    return Err("flood stalled".into());
                                }
                            }
                        }
                        seen2.lock().unwrap().flooded = sent;
                        Ok(())
                    }
                    Sleep(d) => {
                        tokio::time::sleep(d).await;
                        Ok(())
                    }
                    Close => {
                        let _ = io.get_mut().shutdown().await;
                        Ok(())
                    }
                    Tls => {
                        let acceptor = tls_acceptor();
                        let inner = std::mem::replace(
                            &mut io,
                            BufReader::new(Box::new(tokio::io::empty()) as Box<dyn Io>),
                        )
                        .into_inner();
                        let tls = acceptor.accept(inner).await.map_err(|e| e.to_string())?;
                        io = BufReader::new(Box::new(tls));
                        Ok(())
                    }
                }
            }
            .await;
            if let Err(e) = r {
                seen2.lock().unwrap().error = Some(e);
                return;
            }
        }
        seen2.lock().unwrap().done = true;
        // Keep the connection open until the client closes it (bounded).
        let mut rest = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), io.read_line(&mut rest)).await;
    });
    Some((addr, seen, task))
}

const FAMILIES: [&str; 2] = ["127.0.0.1", "::1"];

fn good_script() -> Vec<Step> {
    vec![
        Send("220-mx.test ESMTP first line\r\n220-second line\r\n220 ready\r\n"),
        Expect("EHLO "),
        Send("250-mx.test greets you\r\n250-SIZE 10240000\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n"),
        Expect("QUIT"),
        Send("221 2.0.0 bye\r\n"),
        Close,
    ]
}

async fn run_bin(args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dualstack"))
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .expect("dualstack smtp finished within 60 s")
        .unwrap();
    (out, start.elapsed())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

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
        let script = vec![
            Send("220 tls.test\r\n"),
            Expect("EHLO "),
            Send("250-tls.test\r\n250-STARTTLS\r\n250 SIZE 100\r\n"),
            Expect("STARTTLS"),
            Send("220 2.0.0 go ahead\r\n"),
            Tls,
            Expect("EHLO "),
            Send("250-tls.test\r\n250-AUTH PLAIN\r\n250 SIZE 100\r\n"),
            Expect("QUIT"),
            Send("221 bye\r\n"),
        ];
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
        let script = vec![
            Send("220 tls.test\r\n"),
            Expect("EHLO "),
            Send("250-tls.test\r\n250 STARTTLS\r\n"),
            Expect("STARTTLS"),
            Send("220 go ahead\r\n"),
            Tls,
            Expect("EHLO "),
            Send("250 tls.test\r\n"),
            Expect("QUIT"),
            Send("221 bye\r\n"),
        ];
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

// -------------------------------------------------------------- through the binary

#[tokio::test]
async fn binary_good_path_both_families() {
    for ip in FAMILIES {
        let Some((addr, seen, task)) = server(ip, good_script()).await else {
            continue;
        };
        let port = addr.port().to_string();
        let (out, _) = run_bin(&["smtp", ip, &port]).await;
        task.await.unwrap();
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{ip}: {stdout}\n{}",
            text(&out.stderr)
        );
        let family = if ip == "::1" { "IPv6" } else { "IPv4" };
        let first = stdout.lines().next().unwrap();
        assert!(
            first.starts_with(&format!("connected to {addr} ({family}) from ")),
            "{first}"
        );
        for want in [
            " ms  S: 220-mx.test ESMTP first line",
            " ms  S: 220 ready",
            " ms  C: EHLO ",
            " ms  S: 250-SIZE 10240000",
            " ms  C: QUIT",
            " ms  S: 221 2.0.0 bye",
            "capabilities: SIZE 10240000, PIPELINING, 8BITMIME, SMTPUTF8, AUTH PLAIN LOGIN, ENHANCEDSTATUSCODES",
            "dialogue complete in ",
        ] {
            assert!(stdout.contains(want), "{ip}: missing {want:?} in\n{stdout}");
        }
        assert!(seen.lock().unwrap().done);
    }
}

#[tokio::test]
async fn binary_json_and_ehlo_literal() {
    for ip in FAMILIES {
        let Some((addr, seen, task)) = server(ip, good_script()).await else {
            continue;
        };
        let port = addr.port().to_string();
        let (out, _) = run_bin(&["smtp", ip, &port, "--ehlo-literal", "--json"]).await;
        task.await.unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let literal = if ip == "::1" {
            "[IPv6:::1]"
        } else {
            "[127.0.0.1]"
        };
        assert_eq!(v["ehlo_name"], literal);
        assert_eq!(seen.lock().unwrap().lines[0], format!("EHLO {literal}"));
        assert_eq!(v["address"], addr.to_string());
        assert_eq!(v["family"], if ip == "::1" { "IPv6" } else { "IPv4" });
        assert_eq!(v["ok"], true);
        assert_eq!(v["greeting"]["code"], 220);
        assert_eq!(v["greeting"]["lines"][2], "ready");
        assert_eq!(v["capabilities"]["size"], 10240000);
        assert_eq!(v["capabilities"]["auth"][1], "LOGIN");
        assert_eq!(v["quit"]["code"], 221);
        assert!(v["timings"]["total_ms"].as_f64().unwrap() > 0.0);
        let transcript = v["transcript"].as_array().unwrap();
        assert_eq!(transcript.len(), 13);
        assert_eq!(transcript[3]["dir"], "C");
        assert_eq!(transcript[3]["line"], format!("EHLO {literal}"));
    }
}

#[tokio::test]
async fn binary_starttls_insecure() {
    for ip in FAMILIES {
        let script = vec![
            Send("220 tls.test\r\n"),
            Expect("EHLO "),
            Send("250-tls.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n"),
            Expect("STARTTLS"),
            Send("220 2.0.0 go ahead\r\n"),
            Tls,
            Expect("EHLO "),
            Send("250-tls.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"),
            Expect("QUIT"),
            Send("221 bye\r\n"),
        ];
        let Some((addr, _seen, task)) = server(ip, script).await else {
            continue;
        };
        let port = addr.port().to_string();
        let (out, _) = run_bin(&["smtp", ip, &port, "--starttls", "--insecure"]).await;
        task.await.unwrap();
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
        assert!(
            stdout.contains(" ms  * TLS handshake done: TLSv1.3 TLS13_"),
            "{stdout}"
        );
        assert!(
            stdout.contains("capabilities: 8BITMIME, AUTH PLAIN LOGIN\n"),
            "{stdout}"
        );
        assert!(stdout.contains("tls: TLSv1.3 TLS13_"), "{stdout}");
    }
}

#[tokio::test]
async fn binary_helo_fallback() {
    let script = vec![
        Send("220 old.test\r\n"),
        Expect("EHLO "),
        Send("500 unknown command\r\n"),
        Expect("HELO "),
        Send("250 old.test\r\n"),
        Expect("QUIT"),
        Send("221 bye\r\n"),
    ];
    let (addr, _seen, task) = server("127.0.0.1", script).await.unwrap();
    let (out, _) = run_bin(&["smtp", "127.0.0.1", &addr.port().to_string()]).await;
    task.await.unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("capabilities: none (HELO only)"),
        "{stdout}"
    );
}

/// Every bad server ends with exit 1, a clear message on stderr, quickly.
#[tokio::test]
async fn binary_bad_servers_exit_1_with_clear_messages() {
    let cases: Vec<(Vec<Step>, &[&str], &str)> = vec![
        (vec![Flood(10 << 20)], &[], "dualstack: line too long (over 8192 bytes) in the greeting"),
        (
            vec![Send("HTTP/1.1 400 Bad Request\r\n")],
            &[],
            "dualstack: invalid reply in the greeting: garbage reply code: \"HTTP/1.1 400 Bad Request\"",
        ),
        (
            vec![Send("220 ok\r\n"), Expect("EHLO"), Send("250-one\r\n250-two\r\n"), Close],
            &[],
            "dualstack: connection closed mid-reply (reading the EHLO reply) (last reply: 220 ok)",
        ),
        (
            vec![Sleep(Duration::from_secs(10))],
            &["--reply-timeout", "1s"],
            "dualstack: timed out after 1s waiting for the greeting",
        ),
        (
            vec![Send("554 5.7.1 go away\r\n"), Expect("QUIT"), Send("221 bye\r\n")],
            &[],
            "dualstack: the greeting was not 220: 554 5.7.1 go away",
        ),
        (
            vec![Send("220 ok\r\n"), Expect("EHLO"), Send("250 ok\r\n"), Expect("QUIT"), Send("221 bye\r\n")],
            &["--starttls", "--insecure"],
            "dualstack: the server does not offer STARTTLS (last reply: 250 ok)",
        ),
    ];
    for (script, extra, want) in cases {
        for ip in FAMILIES {
            let Some((addr, _seen, task)) = server(ip, script.clone()).await else {
                continue;
            };
            let port = addr.port().to_string();
            let mut args = vec!["smtp", ip, &port];
            args.extend_from_slice(extra);
            let (out, took) = run_bin(&args).await;
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{want}: {stderr}");
            assert_eq!(stderr.trim_end(), want, "on {ip}");
            assert!(took < Duration::from_secs(20), "{want}: took {took:?}");
            task.abort();
        }
    }
}

#[tokio::test]
async fn binary_usage_errors_exit_2() {
    let (out, _) = run_bin(&["smtp", "127.0.0.1", "--insecure"]).await;
    assert_eq!(out.status.code(), Some(2));
    // Checked before connecting (port 9 on loopback is never contacted).
    let (out, _) = run_bin(&["smtp", "127.0.0.1", "9", "--ehlo", "a b"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim_end(),
        "dualstack: invalid --ehlo name \"a b\": no spaces or control characters"
    );
}

#[tokio::test]
async fn binary_json_on_failure() {
    let script = vec![
        Send("220 ok\r\n"),
        Expect("EHLO"),
        Send("421 4.3.2 shutting down\r\n"),
        Close,
    ];
    let (addr, _seen, task) = server("127.0.0.1", script).await.unwrap();
    let (out, _) = run_bin(&["smtp", "127.0.0.1", &addr.port().to_string(), "--json"]).await;
    task.await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim_end(),
        "dualstack: the EHLO reply was not 250: 421 4.3.2 shutting down"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(
        v["error"],
        "the EHLO reply was not 250: 421 4.3.2 shutting down"
    );
    assert_eq!(v["last_reply"]["code"], 421);
    // 421 means the server is closing: no QUIT is sent after it.
    assert_eq!(v["transcript"].as_array().unwrap().len(), 3);
    assert!(v["quit"].is_null());
}

/// A name with AAAA ::1 and A 127.0.0.1 on the fake DNS server: Happy Eyeballs picks
/// IPv6 when it answers, IPv4 when ::1 refuses or with -4; never real DNS.
#[tokio::test]
async fn binary_connects_with_happy_eyeballs() {
    use support::dns::{FakeDns, Zone};
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("note: no IPv6 loopback; skipping");
        return;
    }
    let dns = FakeDns::start(
        "127.0.0.1:0".parse().unwrap(),
        Zone::new().aaaa("mx.test", "::1", Duration::ZERO).a(
            "mx.test",
            "127.0.0.1",
            Duration::ZERO,
        ),
    )
    .await
    .unwrap();
    let dns_addr = dns.addr().to_string();

    // Both families serve: IPv6 wins.
    let (v4, _, t4) = server("127.0.0.1", good_script()).await.unwrap();
    // Same port on ::1 (bound after the IPv4 one picked it).
    let l6 = TcpListener::bind(("::1", v4.port())).await;
    let Ok(l6) = l6 else {
        eprintln!("note: port {} is taken on ::1; skipping", v4.port());
        return;
    };
    let port = v4.port().to_string();
    let t6 = tokio::spawn(async move {
        let (mut s, _) = l6.accept().await.unwrap();
        s.write_all(b"220 six\r\n").await.unwrap();
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        r.get_mut().write_all(b"250 six\r\n").await.unwrap();
        line.clear();
        r.read_line(&mut line).await.unwrap();
        r.get_mut().write_all(b"221 bye\r\n").await.unwrap();
    });
    let (out, _) = run_bin(&[
        "smtp",
        "--dns-server",
        &dns_addr,
        "--trace",
        "mx.test",
        &port,
    ])
    .await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.starts_with(&format!("connected to [::1]:{port} (IPv6)")),
        "{stdout}"
    );
    assert!(stdout.contains("S: 220 six"), "{stdout}");
    assert!(
        !text(&out.stderr).is_empty(),
        "--trace prints the connect timeline"
    );
    t6.await.unwrap();

    // -4: the IPv4 server answers.
    let (out, _) = run_bin(&["smtp", "-4", "--dns-server", &dns_addr, "mx.test", &port]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.starts_with(&format!("connected to 127.0.0.1:{port} (IPv4)")),
        "{stdout}"
    );
    t4.await.unwrap();

    // Nothing on ::1 any more (refused): falls back to IPv4 at once.
    let (v4b, _, t4b) = server("127.0.0.1", good_script()).await.unwrap();
    let port = v4b.port().to_string();
    let (out, took) = run_bin(&[
        "smtp",
        "--dns-server",
        &dns_addr,
        "--json",
        "mx.test",
        &port,
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["family"], "IPv4");
    assert_eq!(v["address"], format!("127.0.0.1:{port}"));
    assert!(!v["connect_events"].as_array().unwrap().is_empty());
    assert!(took < Duration::from_secs(20));
    t4b.await.unwrap();
}
