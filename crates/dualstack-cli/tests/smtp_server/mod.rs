//! A scripted SMTP server on 127.0.0.1 or ::1 for the smtp tests (library and binary):
//! each [`Step`] sends, expects, floods, sleeps, closes or starts TLS.
#![allow(dead_code)] // each test crate uses a different part of this module

use std::net::SocketAddr;
use std::process::Output;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

pub trait Io: AsyncRead + AsyncWrite + Unpin + std::marker::Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + std::marker::Send> Io for T {}

/// One step of a scripted server.
#[derive(Clone, Debug)]
pub enum Step {
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
pub use Step::*;

/// What the server saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub lines: Vec<String>,
    /// A step failed (unexpected line, write error...).
    pub error: Option<String>,
    /// Bytes of a flood written before the client went away.
    pub flooded: usize,
    pub done: bool,
}

/// One self-signed certificate for "localhost", shared by every test server.
pub fn test_cert() -> &'static (
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

pub fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
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
pub async fn server(
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

pub const FAMILIES: [&str; 2] = ["127.0.0.1", "::1"];

pub fn good_script() -> Vec<Step> {
    vec![
        Send("220-mx.test ESMTP first line\r\n220-second line\r\n220 ready\r\n"),
        Expect("EHLO "),
        Send("250-mx.test greets you\r\n250-SIZE 10240000\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n"),
        Expect("QUIT"),
        Send("221 2.0.0 bye\r\n"),
        Close,
    ]
}

pub async fn run_bin(args: &[&str]) -> (Output, Duration) {
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

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A server that offers STARTTLS in `first_ehlo`, upgrades, and answers the EHLO after
/// TLS with `second_ehlo`, then QUIT.
pub fn starttls_script(first_ehlo: &'static str, second_ehlo: &'static str) -> Vec<Step> {
    vec![
        Send("220 tls.test\r\n"),
        Expect("EHLO "),
        Send(first_ehlo),
        Expect("STARTTLS"),
        Send("220 2.0.0 go ahead\r\n"),
        Tls,
        Expect("EHLO "),
        Send(second_ehlo),
        Expect("QUIT"),
        Send("221 bye\r\n"),
    ]
}
