//! `dualstack smtp` as a real process against scripted servers on 127.0.0.1 and ::1:
//! output, --json, STARTTLS, HELO fallback, bad servers (exit 1), usage errors (exit 2)
//! and Happy Eyeballs through the fake DNS server.

mod smtp_server;
#[path = "../../dualstack/tests/support/mod.rs"]
mod support;

use std::time::Duration;

use smtp_server::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

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
        let script = starttls_script(
            "250-tls.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
            "250-tls.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
        );
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
