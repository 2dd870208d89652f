//! `dualstack connect` and `dualstack resolve` as a user runs them: the real binary,
//! loopback listeners and the fake DNS server (`--dns-server`), never real DNS.

#[path = "../../dualstack/tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::dns::{FakeDns, Zone};

const BIN: &str = env!("CARGO_BIN_EXE_dualstack");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Run the binary off the async runtime so the fake DNS server keeps answering.
async fn run_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || Command::new(BIN).args(&args).output().unwrap())
        .await
        .unwrap()
}

#[test]
fn probe_reports_winner_family_and_time() {
    let l = std::net::TcpListener::bind("[::1]:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let out = run(&["connect", "-z", "::1", &port]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!("connected to [::1]:{port} (IPv6) in ")),
        "{err}"
    );

    let out = run(&["connect", "-z", "--json", "--trace", "::1", &port]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["family"], "IPv6");
    assert_eq!(v["peer"], format!("[::1]:{port}"));
    assert_eq!(v["events"][0]["event"], "literal");
    assert!(
        text(&out.stderr).contains(" ms  connecting to [::1]:"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn refused_exits_1_listing_the_address() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    let out = run(&["connect", "-z", "127.0.0.1", &port]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("dualstack: cannot connect to 127.0.0.1 port "),
        "{err}"
    );
    assert!(
        err.contains(&format!("127.0.0.1:{port} (IPv4): Connection refused")),
        "{err}"
    );
}

#[test]
fn bad_input_exits_2() {
    for args in [
        &["connect", "-z", "::1", "0"][..],
        &["connect", "-z", "--attempt-delay", "soon", "::1", "80"],
        &["connect", "-z", "--prefer", "ipx", "::1", "80"],
        &["connect", "-4", "-6", "::1", "80"],
        &["connect", "--source", "not-an-ip", "::1", "80"],
    ] {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = run(&["connect", "-z", "-6", "127.0.0.1", "80"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("127.0.0.1 is an IPv4 address"));
}

#[test]
fn relay_half_closes_and_waits_for_the_answer() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap(); // ends only on the client's half-close
        std::thread::sleep(Duration::from_millis(100));
        s.write_all(b"got: ").unwrap();
        s.write_all(&got).unwrap();
    });
    let mut child = Command::new(BIN)
        .args(["connect", "127.0.0.1", &port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    server.join().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "got: hello\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_and_connect_by_name_with_a_fake_dns_server() {
    let dns = FakeDns::start(
        "127.0.0.1:0".parse().unwrap(),
        Zone::new()
            .aaaa("h.test", "::1", Duration::from_millis(300))
            .a("h.test", "127.0.0.1", Duration::ZERO),
    )
    .await
    .unwrap();
    let server = dns.addr().to_string();
    let out = run_async(
        ["resolve", "--json", "--dns-server", &server, "h.test"]
            .map(String::from)
            .to_vec(),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["order"], serde_json::json!(["::1", "127.0.0.1"]));
    assert_eq!(v["answers"][0]["family"], "IPv4", "A answered first");
    assert!(v["answers"][1]["elapsed_ms"].as_f64().unwrap() >= 300.0);

    let out = run_async(
        ["resolve", "--dns-server", &server, "h.test"]
            .map(String::from)
            .to_vec(),
    )
    .await;
    let s = text(&out.stdout);
    assert!(s.contains("try order: ::1, 127.0.0.1"), "{s}");

    // AAAA is 300 ms late: connect goes to IPv4 after the 50 ms resolution delay.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let out = run_async(
        [
            "connect",
            "-z",
            "--trace",
            "--dns-server",
            &server,
            "h.test",
            &port,
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("resolution delay"), "{err}");
    assert!(
        err.contains(&format!("connected to 127.0.0.1:{port} (IPv4)")),
        "{err}"
    );
}

#[test]
fn all_dead_exits_1_within_the_timeout() {
    // Two black holes (listen(0) + a filler each) on one port.
    let l = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    l.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    l.listen(0).unwrap();
    let port = l.local_addr().unwrap().as_socket().unwrap().port();
    let _filler = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let t0 = Instant::now();
    let out = run(&[
        "connect",
        "-z",
        "--timeout",
        "500ms",
        "127.0.0.1",
        &port.to_string(),
    ]);
    let took = t0.elapsed();
    assert_eq!(out.status.code(), Some(1));
    assert!(took < Duration::from_millis(1500), "{took:?}");
    let err = text(&out.stderr);
    assert!(err.contains("timed out after 500 ms"), "{err}");
    assert!(
        err.contains("no answer before the overall timeout"),
        "{err}"
    );
}
