//! `serve --metrics`: drive every kind of event through a real server (both families,
//! PROXY refusals, a header timeout, UDP replies and drops), scrape `/metrics`, and parse
//! it with the Prometheus project's own Python parser (PyPI `prometheus-client`, OpenMetrics
//! parser), not with our own. Skips when that package is missing (.ci/install adds it).

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::start_serve;

const PARSE: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.append([fam.type, s.name, s.labels, s.value])
print(json.dumps(out))
"#;

fn have_parser() -> bool {
    Command::new("python3")
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One HTTP exchange on its own connection; returns the status line.
fn http(addr: SocketAddr, prefix: &[u8], request: &str) -> String {
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(prefix).unwrap();
    c.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    text.lines().next().unwrap_or_default().to_owned()
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
}

/// Samples keyed by "name{k=v,...}" (labels sorted), as the Python parser read them.
fn scrape(metrics: SocketAddr) -> (String, HashMap<String, f64>) {
    let mut c = TcpStream::connect_timeout(&metrics, Duration::from_secs(5)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("HTTP reply");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("application/openmetrics-text"),
        "content type: {head}"
    );
    let mut py = Command::new("python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    py.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let parsed = py.wait_with_output().unwrap();
    assert!(
        parsed.status.success(),
        "the Prometheus parser rejects our exposition: {}\n{body}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let samples: Vec<(String, String, HashMap<String, String>, f64)> =
        serde_json::from_slice(&parsed.stdout).unwrap();
    let mut map = HashMap::new();
    for (_type, name, labels, value) in samples {
        let mut l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        l.sort();
        map.insert(format!("{name}{{{}}}", l.join(",")), value);
    }
    (body.to_owned(), map)
}

#[test]
fn metrics_count_every_kind_of_event_and_parse_with_prometheus_client() {
    if !have_parser() {
        eprintln!("skipped: python3 prometheus-client not installed (.ci/install adds it)");
        return;
    }
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    let (_serve, listening) = start_serve(&[
        "--http",
        "127.0.0.1:0",
        "--http",
        "[::1]:0",
        "--line",
        "off",
        "--udp",
        "127.0.0.1:0",
        "--proxy-protocol",
        "--trusted-proxy",
        "127.0.0.1/32",
        "--header-timeout",
        "1s",
        "--metrics",
        "127.0.0.1:0",
    ]);
    let find = |service: &str, v6: bool| {
        listening
            .iter()
            .find(|(s, a)| s == service && a.is_ipv6() == v6)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no {service} listener: {listening:?}"))
    };
    let (http4, http6) = (find("http", false), find("http", true));
    let (udp, metrics) = (find("udp", false), find("metrics", false));

    // From ::1 (not a trusted proxy): served directly.
    assert!(http(http6, b"", &get("/json")).contains("200"));
    assert!(http(http6, b"", &get("/nope")).contains("404"));
    let post = "POST /ip HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    assert!(http(http6, b"", post).contains("405"));
    // ...and refused when it sends a PROXY header.
    let header = b"PROXY TCP4 192.0.2.9 198.51.100.1 5555 80\r\n";
    assert_eq!(http(http6, header, &get("/")), "");
    // From 127.0.0.1 (trusted): a header is required, then the client is 192.0.2.9.
    assert!(http(http4, header, &get("/")).contains("200"));
    assert_eq!(http(http4, b"", &get("/")), "");
    // A trusted proxy that sends nothing: refused at the header timeout (1 s).
    let idle = TcpStream::connect(http4).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let _ = (&idle).read(&mut [0u8; 16]);
    assert!(started.elapsed() < Duration::from_secs(9), "not closed");

    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    u.send_to(&[b'x'; 300], udp).unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = u.recv_from(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"ip: 127.0.0.1"));
    u.send_to(b"x", udp).unwrap(); // smaller than any reply: dropped

    // Counters are updated on the connection tasks: give the last ones a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (body, m) = loop {
        let (body, m) = scrape(metrics);
        let done = m.get("dualstack_udp_dropped_total{reason=too_small}") == Some(&1.0)
            && m.get("dualstack_refused_total{reason=header_timeout,service=http}") == Some(&1.0);
        if done || Instant::now() > deadline {
            break (body, m);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let want = [
        ("dualstack_connections_total{family=ipv6,service=http}", 4.0),
        ("dualstack_connections_total{family=ipv4,service=http}", 3.0),
        (
            "dualstack_refused_total{reason=untrusted_proxy,service=http}",
            1.0,
        ),
        (
            "dualstack_refused_total{reason=bad_proxy_header,service=http}",
            1.0,
        ),
        (
            "dualstack_refused_total{reason=header_timeout,service=http}",
            1.0,
        ),
        (
            "dualstack_http_requests_total{family=ipv6,route=/json,status=200}",
            1.0,
        ),
        (
            "dualstack_http_requests_total{family=ipv6,route=other,status=404}",
            1.0,
        ),
        (
            "dualstack_http_requests_total{family=ipv6,route=/ip,status=405}",
            1.0,
        ),
        // Through the PROXY header the client is 192.0.2.9: IPv4.
        (
            "dualstack_http_requests_total{family=ipv4,route=/,status=200}",
            1.0,
        ),
        (
            "dualstack_http_request_duration_seconds_count{route=/json}",
            1.0,
        ),
        (
            "dualstack_http_request_duration_seconds_bucket{le=+Inf,route=/json}",
            1.0,
        ),
        ("dualstack_udp_replies_total{family=ipv4}", 1.0),
        ("dualstack_udp_dropped_total{reason=too_small}", 1.0),
    ];
    for (key, value) in want {
        assert_eq!(m.get(key), Some(&value), "{key}\n{body}");
    }
    let fds = m["process_open_fds{}"];
    assert!((5.0..1000.0).contains(&fds), "open fds {fds}");
    assert!(m.contains_key("dualstack_connections_active{}"), "{body}");
    assert!(!m.keys().any(|k| k.contains("limit")), "no limit refusals");
}

#[test]
fn metrics_count_limit_refusals_and_active_connections() {
    if !have_parser() {
        eprintln!("skipped: python3 prometheus-client not installed (.ci/install adds it)");
        return;
    }
    let (_serve, listening) = start_serve(&[
        "--http",
        "127.0.0.1:0",
        "--line",
        "off",
        "--udp",
        "off",
        "--max-connections",
        "1",
        "--metrics",
        "127.0.0.1:0",
    ]);
    let find = |service: &str| {
        listening
            .iter()
            .find(|(s, _)| s == service)
            .map(|(_, a)| *a)
            .unwrap()
    };
    let (http4, metrics) = (find("http"), find("metrics"));
    // The one allowed connection stays open (idle, within the header timeout)...
    let _held = TcpStream::connect(http4).unwrap();
    // ...so the next is accepted and closed at once.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (body, m) = loop {
        let extra = TcpStream::connect(http4).unwrap();
        extra
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = (&extra).read(&mut [0u8; 16]);
        let (body, m) = scrape(metrics);
        if m.contains_key("dualstack_refused_total{reason=limit,service=http}")
            || Instant::now() > deadline
        {
            break (body, m);
        }
    };
    let refused = m
        .get("dualstack_refused_total{reason=limit,service=http}")
        .copied()
        .unwrap_or_else(|| panic!("no limit refusal\n{body}"));
    assert!(refused >= 1.0, "{body}");
    assert_eq!(
        m.get("dualstack_connections_total{family=ipv4,service=http}"),
        Some(&1.0),
        "{body}"
    );
    assert_eq!(
        m.get("dualstack_connections_active{}"),
        Some(&1.0),
        "{body}"
    );
}
