//! `dualstack connect` racing QUIC against TCP (draft-ietf-happy-happyeyeballs-v3-04)
//! with a QUIC server that is not ours, aioquic (`.ci/install` installs it; skipped with a
//! note when missing): on loopback for both families, the relay over one bidirectional
//! stream, the "QUIC broken" memory; in a network namespace (root; skipped otherwise) with
//! UDP dropped by nftables to one family or to both. Time is asserted by the order of the
//! attempts in the trace, never by the wall clock.

mod common;
#[path = "../../dualstack/tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::dns::{FakeDns, Zone};
use support::netns::{nft_available, skip, Netns};

fn dualstack(args: &[String], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dualstack"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Each JSON report line of stdout.
fn reports(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The attempts a report's timeline started, in order: ("quic" | "tcp", address).
fn attempts(report: &Value) -> Vec<(String, String)> {
    report["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "attempt_started")
        .map(|e| {
            (
                e["protocol"].as_str().unwrap().to_owned(),
                e["addr"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {err}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    err
}

#[test]
fn quic_h3_wins_over_both_families_against_aioquic() {
    let test = "quic_h3_wins_over_both_families_against_aioquic";
    let Some(peer) = support::aioquic::start(test, "::", 0, &["localhost", "127.0.0.1", "::1"])
    else {
        return;
    };
    for ip in ["127.0.0.1", "::1"] {
        // A TCP listener on the same port: both transports can win; QUIC goes first and
        // has a 2 s attempt delay to itself, so a loaded machine cannot flip the result.
        let _tcp = TcpListener::bind((ip, peer.port));
        let cacert = peer.cacert.display().to_string();
        let args = strings(&[
            "connect",
            "-z",
            "--json",
            "--alpn",
            "h3",
            "--cacert",
            &cacert,
            "--attempt-delay",
            "2s",
            "--timeout",
            "20s",
            ip,
            &peer.port.to_string(),
        ]);
        let out = dualstack(&args, b"");
        let err = ok(&out);
        let r = &reports(&out)[0];
        assert_eq!(r["protocol"], "quic", "{r}");
        assert_eq!(r["alpn"], "h3", "{r}");
        let fam = if ip.contains(':') { "IPv6" } else { "IPv4" };
        assert_eq!(r["family"], fam, "{r}");
        assert_eq!(attempts(r)[0].0, "quic", "{r}");
        assert!(err.contains(" over QUIC h3"), "{err}");
        assert!(!r["local"].as_str().unwrap().contains("0.0.0.0"), "{r}");
    }
}

#[test]
fn quic_relay_rides_one_bidirectional_stream() {
    let test = "quic_relay_rides_one_bidirectional_stream";
    let Some(peer) = support::aioquic::start(test, "::", 0, &["localhost", "127.0.0.1", "::1"])
    else {
        return;
    };
    let cacert = peer.cacert.display().to_string();
    let args = strings(&[
        "connect",
        "--alpn",
        "h3",
        "--cacert",
        &cacert,
        "--attempt-delay",
        "2s",
        "--timeout",
        "20s",
        "::1",
        &peer.port.to_string(),
    ]);
    let out = dualstack(&args, b"hello over QUIC\n");
    let err = ok(&out);
    // The server echoes the stream back and finishes it when we finish ours.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello over QUIC\n",
        "{err}"
    );
    assert!(err.contains("over QUIC h3"), "{err}");
}

#[test]
fn wrong_certificate_fails_the_quic_attempt_and_tcp_wins() {
    let test = "wrong_certificate_fails_the_quic_attempt_and_tcp_wins";
    let Some(peer) = support::aioquic::start(test, "::", 0, &["other.test"]) else {
        return;
    };
    let Ok(_tcp) = TcpListener::bind(("127.0.0.1", peer.port)) else {
        return skip(test, "the TCP port of the QUIC server is taken");
    };
    let cacert = peer.cacert.display().to_string();
    let args = strings(&[
        "connect",
        "-z",
        "--json",
        "--trace",
        "--alpn",
        "h3",
        "--cacert",
        &cacert,
        "--timeout",
        "20s",
        "127.0.0.1",
        &peer.port.to_string(),
    ]);
    let out = dualstack(&args, b"");
    let err = ok(&out);
    let r = &reports(&out)[0];
    assert_eq!(r["protocol"], "tcp", "{r}");
    assert!(err.contains("over QUIC failed: QUIC handshake"), "{err}");
    assert!(err.contains("over TCP"), "{err}");
}

/// Nothing answers UDP on the port (TCP does): the QUIC attempt hangs, TCP wins one
/// attempt delay later, and the next connect to the same name in the same process makes
/// no QUIC attempt ("QUIC broken" is remembered per host and port).
#[test]
fn quic_broken_is_remembered_and_the_repeat_goes_straight_to_tcp() {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    // `localhost` from /etc/hosts (getaddrinfo): a name, so the outcome cache applies.
    let args = strings(&[
        "connect",
        "-z",
        "--json",
        "--trace",
        "--alpn",
        "h3",
        "--insecure",
        "--repeat",
        "2",
        "--resolver",
        "system",
        "-4",
        "--attempt-delay",
        "100ms",
        "--timeout",
        "20s",
        "localhost",
        &port.to_string(),
    ]);
    let out = dualstack(&args, b"");
    let err = ok(&out);
    assert!(err.contains("WARNING: --insecure"), "{err}");
    let r = reports(&out);
    assert_eq!(r.len(), 2);
    let a = format!("127.0.0.1:{port}");
    assert_eq!(r[0]["protocol"], "tcp");
    assert_eq!(
        attempts(&r[0]),
        [
            ("quic".to_string(), a.clone()),
            ("tcp".to_string(), a.clone())
        ]
    );
    assert!(
        err.contains("over QUIC"),
        "the trace shows the QUIC attempt: {err}"
    );
    assert_eq!(r[1]["protocol"], "tcp");
    assert_eq!(attempts(&r[1]), [("tcp".to_string(), a.clone())]);
    assert!(err.contains("QUIC lost to TCP: TCP only"), "{err}");
    assert!(r[1]["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["quic_broken"] == true));
    assert!(
        err.contains("#1    connected to") && err.contains("#2    connected to"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.ends_with(" over TCP")).count(),
        2,
        "{err}"
    );

    // Across processes with --history: the file says `noquic`, a fresh process goes
    // straight to TCP.
    let dir = tempfile::tempdir().unwrap();
    let hist = dir.path().join("hist").display().to_string();
    let once = |hist: &str| {
        let args = strings(&[
            "connect",
            "-z",
            "--json",
            "--alpn",
            "h3",
            "--insecure",
            "--history",
            hist,
            "--resolver",
            "system",
            "-4",
            "--attempt-delay",
            "100ms",
            "--timeout",
            "20s",
            "localhost",
            &port.to_string(),
        ]);
        let out = dualstack(&args, b"");
        ok(&out);
        reports(&out).remove(0)
    };
    let first = once(&hist);
    assert_eq!(attempts(&first)[0].0, "quic", "{first}");
    let text = std::fs::read_to_string(&hist).unwrap();
    assert!(text.contains(&format!("dest localhost {port} ")), "{text}");
    assert!(text.contains(" noquic\n"), "{text}");
    let second = once(&hist);
    assert_eq!(
        attempts(&second),
        [("tcp".to_string(), a.clone())],
        "{second}"
    );
}

/// HTTPS record `alpn=h3,h2` for a name with both families; UDP to the IPv6 address is
/// dropped, TCP works: QUIC over IPv4 wins, started one attempt delay after the first.
/// Then with all UDP dropped: TCP wins, and the repeat goes straight to TCP.
#[test]
fn netns_udp_black_holes() {
    let test = "netns_udp_black_holes";
    if !nft_available() {
        return skip(test, "needs root, network namespaces and nftables");
    }
    let drop_v6_udp = "nft add table inet q && \
        nft add chain inet q in '{ type filter hook input priority 0; }' && \
        nft add rule inet q in ip6 daddr 2001:db8::10 meta l4proto udp drop";
    let drop_v4_udp = "nft add rule inet q in ip daddr 198.51.100.10 meta l4proto udp drop";
    let _ = Netns::new().setup(drop_v6_udp).run(test, || async {
        let Some(peer) = support::aioquic::start(test, "::", 0, &["h.test", "b.test"]) else {
            return;
        };
        let p = peer.port;
        let tcp = std::net::TcpListener::bind(("::", p)).expect("TCP on the QUIC port");
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while let Ok((s, _)) = tcp.accept() {
                held.push(s);
            }
        });
        let pre = |h: &str| format!("_{p}._https.{h}");
        let zone = Zone::new()
            .https(&pre("h.test"), "1 . alpn=h3,h2", Duration::ZERO)
            .aaaa("h.test", "2001:db8::10", Duration::ZERO)
            .a("h.test", "198.51.100.10", Duration::ZERO)
            .https(&pre("b.test"), "1 . alpn=h3,h2", Duration::ZERO)
            .aaaa("b.test", "2001:db8::10", Duration::ZERO)
            .a("b.test", "198.51.100.10", Duration::ZERO);
        let dns = FakeDns::start("127.0.0.1:0".parse().unwrap(), zone)
            .await
            .unwrap();
        let cacert = peer.cacert.display().to_string();
        let dns_s = dns.addr().to_string();
        let run = move |host: &str, extra: &[&str]| {
            let mut a = strings(&[
                "connect",
                "-z",
                "--json",
                "--svcb",
                "--quic",
                "--cacert",
                &cacert,
                "--dns-server",
                &dns_s,
                "--timeout",
                "20s",
            ]);
            a.extend(strings(extra));
            a.push(host.into());
            a.push(p.to_string());
            tokio::task::spawn_blocking(move || dualstack(&a, b""))
        };
        let v6 = format!("[2001:db8::10]:{p}");
        let v4 = format!("198.51.100.10:{p}");

        // UDP to the IPv6 address dropped: QUIC v6 hangs, QUIC v4 starts one attempt
        // delay later and wins; no TCP attempt was needed.
        let out = run("h.test", &[]).await.unwrap();
        ok(&out);
        let r = &reports(&out)[0];
        assert_eq!(r["protocol"], "quic", "{r}");
        assert_eq!(r["peer"], v4, "{r}");
        assert_eq!(
            attempts(r),
            [("quic".into(), v6.clone()), ("quic".into(), v4.clone())],
            "{r}"
        );

        // All UDP dropped: both QUIC attempts hang, TCP (IPv6 first) wins; the repeat
        // (same process, same cache) makes no QUIC attempt at all.
        support::netns::sh(drop_v4_udp).unwrap();
        let out = run("b.test", &["--repeat", "2"]).await.unwrap();
        ok(&out);
        let r = reports(&out);
        assert_eq!(r[0]["protocol"], "tcp", "{}", r[0]);
        assert_eq!(
            attempts(&r[0]),
            [
                ("quic".into(), v6.clone()),
                ("quic".into(), v4.clone()),
                ("tcp".into(), v6.clone())
            ],
            "{}",
            r[0]
        );
        assert_eq!(r[1]["protocol"], "tcp", "{}", r[1]);
        assert_eq!(attempts(&r[1]), [("tcp".into(), v6.clone())], "{}", r[1]);
        drop(peer);
    });
}
