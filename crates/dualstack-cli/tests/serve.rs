//! `dualstack serve` as a real process on loopback: replies on both families, limits,
//! PROXY protocol, socket activation, sd_notify and graceful shutdown.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::BIN;

fn ipv6_loopback_works() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// A running `dualstack serve --json-logs`, its log lines and the sockets it listed.
struct Served {
    child: Child,
    logs: mpsc::Receiver<Value>,
    seen: Vec<Value>,
    /// (service, address, v6only) from the startup listing.
    sockets: Vec<(String, SocketAddr, Option<bool>)>,
}

impl Served {
    fn start(args: &[&str]) -> Served {
        Served::start_cmd(Command::new(BIN), args)
    }

    fn start_cmd(mut cmd: Command, args: &[&str]) -> Served {
        cmd.args(["serve", "--json-logs"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start dualstack serve");
        let stderr = child.stderr.take().unwrap();
        let rx = common::json_lines(stderr);
        let mut s = Served {
            child,
            logs: rx,
            seen: Vec::new(),
            sockets: Vec::new(),
        };
        s.wait_log(|m, _| m == "ready; SIGINT or SIGTERM stops");
        for v in &s.seen {
            if msg(v) == "listening" {
                let f = &v["fields"];
                s.sockets.push((
                    f["service"].as_str().unwrap().to_owned(),
                    f["addr"].as_str().unwrap().parse().unwrap(),
                    f["v6only"].as_bool(),
                ));
            }
        }
        s
    }

    /// Wait (at most 10 s) for a log line whose message and fields match.
    fn wait_log(&mut self, want: impl Fn(&str, &Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.logs.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if want(msg(&v), &v["fields"]) {
                        return v;
                    }
                }
                Err(_) => panic!("log line not seen; got: {:#?}", self.seen),
            }
        }
    }

    fn addr(&self, service: &str, v6: bool) -> SocketAddr {
        self.sockets
            .iter()
            .find(|(s, a, _)| s == service && a.is_ipv6() == v6)
            .unwrap_or_else(|| panic!("no {service} socket (v6={v6}): {:?}", self.sockets))
            .1
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// Wait (at most 20 s) for the process to exit; its exit code.
    fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "serve did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn msg(v: &Value) -> &str {
    v["fields"]["message"].as_str().unwrap_or("")
}

/// Connect to `addr` (a wildcard address means loopback of its family).
fn connect(addr: SocketAddr) -> TcpStream {
    let target = loopback(addr);
    let s = TcpStream::connect_timeout(&target, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn loopback(addr: SocketAddr) -> SocketAddr {
    if !addr.ip().is_unspecified() {
        return addr;
    }
    let ip: std::net::IpAddr = if addr.is_ipv6() {
        "::1".parse().unwrap()
    } else {
        "127.0.0.1".parse().unwrap()
    };
    SocketAddr::new(ip, addr.port())
}

fn http_get(addr: SocketAddr, path: &str) -> (String, String, SocketAddr) {
    let mut s = connect(addr);
    let me = s.local_addr().unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("a full response");
    (head.to_owned(), body.to_owned(), me)
}

#[test]
fn line_and_http_on_both_families() {
    if !ipv6_loopback_works() {
        eprintln!("note: no IPv6 loopback here, skipping");
        return;
    }
    let s = Served::start(&["--line", "0", "--http", "0", "--udp", "off"]);
    // Separate mode: two sockets per service, the IPv6 one IPv6-only.
    assert_eq!(s.sockets.len(), 4, "{:?}", s.sockets);
    assert!(s
        .sockets
        .iter()
        .all(|(_, a, v)| *v == a.is_ipv6().then_some(true)));
    for v6 in [false, true] {
        let (head, body, me) = http_get(s.addr("http", v6), "/json");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let j: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(j["ip"], me.ip().to_string());
        assert_eq!(j["port"], me.port());
        assert_eq!(j["family"], if v6 { "IPv6" } else { "IPv4" });
        let (_, body, me) = http_get(s.addr("http", v6), "/");
        assert_eq!(body, format!("{}\n", me.ip()));

        let mut c = connect(s.addr("line", v6));
        let me = c.local_addr().unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        assert!(
            out.starts_with(&format!("ip: {}\r\nport: {}\r\n", me.ip(), me.port())),
            "{out}"
        );
        assert!(out.ends_with("\r\n") && !out.contains("ffff"), "{out}");
    }
}

#[test]
fn dual_mode_reports_unmapped_ipv4() {
    if !ipv6_loopback_works() {
        eprintln!("note: no IPv6 loopback here, skipping");
        return;
    }
    let mut s = Served::start(&[
        "--listen-mode",
        "dual",
        "--http",
        "0",
        "--line",
        "off",
        "--udp",
        "off",
    ]);
    assert_eq!(s.sockets.len(), 1);
    assert_eq!(s.sockets[0].2, Some(false), "dual socket has v6only=0");
    let port = s.sockets[0].1.port();
    let (_, body, me) = http_get(SocketAddr::new("127.0.0.1".parse().unwrap(), port), "/ip");
    assert_eq!(body, format!("{}\n", me.ip()));
    // The connection log line shows the IPv4 address, not ::ffff:127.0.0.1.
    let v = s.wait_log(|m, _| m == "connection");
    assert_eq!(v["fields"]["peer"], me.to_string());
    assert_eq!(v["fields"]["local"], format!("127.0.0.1:{port}"));
}

#[test]
fn header_timeout_cuts_slow_client() {
    let mut s = Served::start(&[
        "--http",
        "127.0.0.1:0",
        "--line",
        "off",
        "--udp",
        "off",
        "--header-timeout",
        "1s",
    ]);
    for partial in [&b""[..], b"GET / HTTP/1.1\r\nHost: slo"] {
        let mut c = connect(s.addr("http", false));
        let t0 = Instant::now();
        c.write_all(partial).unwrap();
        let mut buf = [0u8; 512];
        // Closed (EOF or reset), possibly after a 408 from hyper, but within bounds.
        let closed_at = loop {
            match c.read(&mut buf) {
                Ok(0) => break t0.elapsed(),
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break t0.elapsed(),
                Err(e) => panic!("slow client not cut: {e}"),
            }
        };
        assert!(closed_at >= Duration::from_millis(900), "{closed_at:?}");
        assert!(closed_at < Duration::from_secs(8), "{closed_at:?}");
    }
    s.wait_log(|m, _| m == "request head too slow; closed");
}

#[test]
fn max_connections_closes_the_excess() {
    let mut s = Served::start(&[
        "--http",
        "127.0.0.1:0",
        "--line",
        "off",
        "--udp",
        "off",
        "--max-connections",
        "2",
    ]);
    let addr = s.addr("http", false);
    let held: Vec<TcpStream> = (0..2).map(|_| connect(addr)).collect();
    for _ in &held {
        s.wait_log(|m, _| m == "connection");
    }
    let mut extra = connect(addr);
    let mut buf = [0u8; 16];
    // Closed at once, without a reply.
    match extra.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("excess connection not closed: {other:?}"),
    }
    let v = s.wait_log(|m, _| m == "connection limit reached; closing the new connection");
    assert_eq!(v["fields"]["max"], 2);
    // Free a slot: the next client is served.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = connect(addr);
        c.write_all(b"GET /family HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        if out.ends_with("IPv4\n") {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn proxy_protocol_from_trusted_source() {
    let s = Served::start(&[
        "--http",
        "127.0.0.1:0",
        "--line",
        "off",
        "--udp",
        "off",
        "--proxy-protocol",
        "--trusted-proxy",
        "127.0.0.0/8",
    ]);
    let mut c = connect(s.addr("http", false));
    let me = c.local_addr().unwrap();
    c.write_all(b"PROXY TCP4 192.0.2.9 198.51.100.1 5555 80\r\nGET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    let body = out.split_once("\r\n\r\n").unwrap().1;
    let j: Value = serde_json::from_str(body).unwrap();
    assert_eq!(j["ip"], "192.0.2.9");
    assert_eq!(j["port"], 5555);
    assert_eq!(j["local"], "198.51.100.1:80");
    assert_eq!(j["proxy"], me.to_string());

    // A trusted source without a header is refused.
    let mut c = connect(s.addr("http", false));
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
}

#[test]
fn addr_in_use_exits_1_with_reason() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--line", "off", "--udp", "off", "--http"])
        .arg(addr.to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "dualstack: cannot listen on {addr}: address already in use"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("held by process {}", std::process::id())),
        "{err}"
    );
}

#[test]
fn bad_options_exit_2() {
    for args in [
        &["serve", "--http", "nope:x"][..],
        &["serve", "--listen-mode", "both"],
        &["serve", "--line", "off", "--line", "2323"],
        &["serve", "--proxy-protocol"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn graceful_shutdown_finishes_in_flight_request() {
    let mut s = Served::start(&[
        "--http",
        "127.0.0.1:0",
        "--line",
        "off",
        "--udp",
        "off",
        "--shutdown-timeout",
        "10s",
    ]);
    let addr = s.addr("http", false);
    let mut c = connect(addr);
    c.write_all(b"GET /family HTTP/1.1\r\nHost: x\r\n").unwrap();
    s.wait_log(|m, _| m == "connection");
    // Let hyper read the partial head first: a connection whose bytes it has not read yet
    // counts as idle, and graceful shutdown closes idle connections (a known limit, see
    // the issue note), so signalling at once made this test race under load.
    std::thread::sleep(Duration::from_millis(300));
    s.signal("TERM");
    s.wait_log(|m, _| m.starts_with("shutting down"));
    // Stopped accepting...
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    // ...but the request in progress completes.
    std::thread::sleep(Duration::from_millis(200));
    c.write_all(b"\r\n").unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("IPv4\n"), "{out}");
    assert_eq!(s.wait_exit(), 0);
}

#[test]
fn socket_activation_and_sd_notify() {
    let tool = std::path::Path::new("/usr/bin/systemd-socket-activate");
    if !tool.exists() {
        eprintln!("note: systemd-socket-activate missing, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let notify_path = dir.path().join("notify");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The tool wants a fixed port: take a free one (another test may grab it in between;
    // ephemeral ports make that unlikely).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(tool);
    cmd.args([
        "-l",
        &listen,
        "--fdname=http",
        "-E",
        "RUST_LOG",
        "-E",
        "NOTIFY_SOCKET",
        BIN,
    ])
    .env("NOTIFY_SOCKET", &notify_path);
    // systemd-socket-activate starts the program on the first connection: make one
    // (retrying until the tool listens); it is served once the program runs.
    let first = std::thread::spawn(move || {
        let addr: SocketAddr = listen.parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
            assert!(
                Instant::now() < deadline,
                "systemd-socket-activate never listened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // That probe connection started the program; now a real request.
        http_get(addr, "/family")
    });
    let mut s = Served::start_cmd(cmd, &[]);
    let (_, body, _) = first.join().unwrap();
    assert_eq!(body, "IPv4\n");
    // Only the passed socket: no default ports bound.
    assert_eq!(s.sockets.len(), 1, "{:?}", s.sockets);
    assert_eq!(s.sockets[0].0, "http");
    let origin = s.seen.iter().find(|v| msg(v) == "listening").unwrap()["fields"]["origin"].clone();
    assert_eq!(origin, "systemd");
    let mut buf = [0u8; 256];
    let n = notify.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    let (head, body, me) = http_get(s.addr("http", false), "/ip");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, format!("{}\n", me.ip()));
    s.signal("TERM");
    let n = notify.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1"));
    assert_eq!(s.wait_exit(), 0);
}

#[test]
fn unavailable_address_is_skipped_with_a_warning() {
    // 192.0.2.1 (TEST-NET-1) is on no interface: skipped, the loopback address serves.
    let mut s = Served::start(&[
        "--http",
        "192.0.2.1:0",
        "--http",
        "127.0.0.1:0",
        "--line",
        "off",
        "--udp",
        "off",
    ]);
    let warned = s
        .seen
        .iter()
        .find(|v| msg(v) == "skipping an address this host lacks")
        .cloned()
        .unwrap_or_else(|| s.wait_log(|m, _| m == "skipping an address this host lacks"));
    assert_eq!(warned["level"], "WARN");
    assert_eq!(warned["fields"]["addr"], "192.0.2.1:0");
    assert_eq!(s.sockets.len(), 1);
    let (_, body, me) = http_get(s.addr("http", false), "/ip");
    assert_eq!(body, format!("{}\n", me.ip()));
}

#[test]
fn udp_whoami_is_served() {
    let v6 = ipv6_loopback_works();
    let s = Served::start(&["--udp", "0", "--line", "off", "--http", "off"]);
    assert_eq!(s.sockets.len(), if v6 { 2 } else { 1 }, "{:?}", s.sockets);
    for fam_v6 in [false, true] {
        if fam_v6 && !v6 {
            continue;
        }
        let target = loopback(s.addr("udp", fam_v6));
        let bind = if fam_v6 { "[::1]:0" } else { "127.0.0.1:0" };
        let c = std::net::UdpSocket::bind(bind).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // A request as large as the full reply (the reply is never larger than the request).
        c.send_to(&[b' '; 300], target).unwrap();
        let mut buf = [0u8; 1500];
        let (n, from) = c.recv_from(&mut buf).unwrap();
        assert_eq!(from, target, "reply from the address we sent to");
        let me = c.local_addr().unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(
            text.starts_with(&format!("ip: {}\r\nport: {}\r\n", me.ip(), me.port())),
            "{text}"
        );
    }
}

/// Read one HTTP response with a Content-Length body from a keep-alive connection.
fn read_one_response(c: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            if body.len() >= len {
                return text;
            }
        }
        match c.read(&mut buf) {
            Ok(0) => return format!("{text}(EOF)"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return format!("{text}(error: {e})"),
        }
    }
}

/// Issue 13.3: at SIGTERM, every request already in the server's receive queue is
/// answered (with `Connection: close` when the answer comes during the drain). Twenty
/// clients send keep-alive requests back to back while the signal comes; a request whose
/// `write` returned before `kill` was called must get its response. Before: hyper closed
/// connections it saw idle with the request unread (11 of 20 lost in one run).
#[test]
fn sigterm_answers_requests_already_received() {
    // The loss needed a request to land in a narrow window: three rounds make a server
    // that loses requests fail this test nearly every time.
    for _ in 0..3 {
        sigterm_round();
    }
}

fn sigterm_round() {
    let mut s = Served::start(&[
        "--http",
        "127.0.0.1:0",
        "--line",
        "off",
        "--udp",
        "off",
        "--shutdown-timeout",
        "20s",
    ]);
    let addr = s.addr("http", false);
    let signalled: std::sync::Arc<std::sync::OnceLock<Instant>> = Default::default();
    let clients: Vec<_> = (0..100)
        .map(|_| {
            let signalled = signalled.clone();
            let mut c = connect(addr);
            std::thread::spawn(move || {
                let mut served = 0;
                for _ in 0..100_000 {
                    if c.write_all(b"GET /family HTTP/1.1\r\nHost: x\r\n\r\n")
                        .is_err()
                    {
                        return (served, None);
                    }
                    let written = Instant::now();
                    let r = read_one_response(&mut c);
                    if r.starts_with("HTTP/1.1 200") {
                        served += 1;
                        if r.contains("connection: close") {
                            return (served, None);
                        }
                        continue;
                    }
                    // Unanswered: a loss only if the request was there before the signal.
                    let lost = match signalled.get() {
                        Some(t) if written < *t => Some(r),
                        None => Some(r),
                        _ => None,
                    };
                    return (served, lost);
                }
                (served, None)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    signalled.set(Instant::now()).unwrap();
    s.signal("TERM");
    let mut lost = Vec::new();
    let mut served = 0;
    for t in clients {
        let (n, l) = t.join().unwrap();
        served += n;
        lost.extend(l);
    }
    assert!(served > 20, "{served}");
    assert!(
        lost.is_empty(),
        "{} of 100 connections lost a request: {lost:?}",
        lost.len()
    );
    assert_eq!(s.wait_exit(), 0);
}

/// A second signal during the drain exits at once, with status 1 when connections were
/// cut.
#[test]
fn second_signal_cuts_the_drain() {
    let mut s = Served::start(&[
        "--http",
        "127.0.0.1:0",
        "--line",
        "off",
        "--udp",
        "off",
        "--shutdown-timeout",
        "60s",
    ]);
    let mut c = connect(s.addr("http", false));
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap(); // never finished
    s.wait_log(|m, _| m == "connection");
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    s.signal("TERM");
    s.wait_log(|m, _| m.starts_with("shutting down"));
    s.signal("INT");
    assert_eq!(s.wait_exit(), 1);
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    let v = s.wait_log(|m, _| m == "connections cut before they finished");
    assert_eq!(v["fields"]["cut"], 1);
}

/// Issue 13.4: refusals at the connection limit are logged at most once per second,
/// plus a summary with the count.
#[test]
fn connection_limit_warnings_are_rate_limited() {
    let mut s = Served::start(&[
        "--http",
        "127.0.0.1:0",
        "--line",
        "off",
        "--udp",
        "off",
        "--max-connections",
        "1",
    ]);
    let addr = s.addr("http", false);
    let _held = connect(addr);
    s.wait_log(|m, _| m == "connection");
    let t0 = Instant::now();
    for _ in 0..300 {
        let mut c = connect(addr);
        let _ = c.read(&mut [0u8; 8]); // closed by the server
    }
    let elapsed = t0.elapsed();
    let v = s.wait_log(|m, _| m == "connection limit reached; more connections closed");
    let suppressed = v["fields"]["suppressed"].as_u64().unwrap();
    // Let any late line arrive, then count.
    std::thread::sleep(Duration::from_millis(1500));
    while let Ok(v) = s.logs.try_recv() {
        s.seen.push(v);
    }
    let lines = s
        .seen
        .iter()
        .filter(|v| msg(v).starts_with("connection limit reached"))
        .count() as u64;
    let seconds = elapsed.as_secs() + 2;
    assert!(lines <= 2 * seconds, "{lines} warnings in {elapsed:?}");
    assert!((1..300).contains(&suppressed), "{suppressed}");
}

/// Start `serve` with `args` on HTTP and line (ephemeral ports, no UDP) and check that
/// both answer on every loopback family; the line service within 3 s.
fn serve_http_and_line(args: &[&str]) -> Served {
    let v6 = ipv6_loopback_works();
    let mut all = args.to_vec();
    all.extend(["--line", "0", "--http", "0", "--udp", "off"]);
    let s = Served::start(&all);
    for v6 in if v6 { &[false, true][..] } else { &[false][..] } {
        let (head, body, me) = http_get(s.addr("http", *v6), "/");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(body, format!("{}\n", me.ip()));
        let mut line = connect(s.addr("line", *v6));
        line.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut out = String::new();
        line.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("ip: "), "{out}");
    }
    s
}

/// `--workers 1` serves every service from the main thread (no worker pool, as nginx
/// with `worker_processes 1`), and still shuts down cleanly on SIGTERM.
#[test]
fn one_worker_serves_from_one_thread() {
    let mut s = serve_http_and_line(&["--workers", "1"]);
    let pid = s.child.id();
    let names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("tokio-runtime")),
        "worker threads with --workers 1: {names:?}"
    );
    s.signal("TERM");
    assert_eq!(s.wait_exit(), 0);
}

/// `--defer-accept` defers the HTTP sockets only: HTTP answers on both families, and the
/// line service, where the server speaks first, still answers a client that sends
/// nothing at once (deferred, it would wait in the kernel for the whole 30 s).
#[test]
fn defer_accept_applies_to_http_only() {
    let mut s = serve_http_and_line(&["--defer-accept", "30s"]);
    s.signal("TERM");
    assert_eq!(s.wait_exit(), 0);
}
