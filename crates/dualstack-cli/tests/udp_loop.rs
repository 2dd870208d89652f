//! Loop DoS (CVE-2024-2169) through the binary: two `dualstack serve --udp` in a private
//! network namespace, and a spoofed datagram from one to the other (or from one to
//! itself) sent with a raw socket. Before the fix each spoof started an endless
//! ping-pong (~70,000 datagrams/s); now the UDP datagram count of the namespace
//! (`/proc/net/snmp`, `Udp: InDatagrams`) stays flat. Needs root (raw socket and
//! namespace); skips cleanly otherwise.

mod common;
#[path = "../../dualstack/tests/support/mod.rs"]
mod support;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use support::netns::Netns;

use common::BIN;
const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// How long the datagram count is watched after a spoof.
const WINDOW: Duration = Duration::from_millis(1500);
/// Datagrams that may legitimately be read after one spoof: the spoof itself and one
/// reply (plus slack; a loop reads tens of thousands).
const MOST_EXPECTED: u64 = 10;

/// A `dualstack serve --udp` on 127.0.0.1 with JSON logs; its port and log lines.
struct Server {
    child: Child,
    port: u16,
    logs: mpsc::Receiver<Value>,
}

impl Server {
    fn start() -> Server {
        Server::start_with(&[])
    }

    fn start_with(args: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--json-logs", "--line", "off", "--http", "off"])
            .args(["--udp", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dualstack serve");
        let stderr = child.stderr.take().unwrap();
        let logs = common::json_lines(stderr);
        let mut port = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = logs.recv_timeout(left).expect("serve did not get ready");
            let msg = v["fields"]["message"].as_str().unwrap_or("");
            if msg == "listening" {
                let a: SocketAddr = v["fields"]["addr"].as_str().unwrap().parse().unwrap();
                port = Some(a.port());
            }
            if msg.starts_with("ready") {
                break;
            }
        }
        Server {
            child,
            port: port.expect("a listening line"),
            logs,
        }
    }

    /// The log lines written so far.
    fn drain_logs(&self) -> Vec<Value> {
        self.logs.try_iter().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `Udp: InDatagrams` of the calling thread's network namespace.
fn udp_in_datagrams() -> u64 {
    let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp").unwrap();
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next().unwrap(), udp.next().unwrap());
    let i = names
        .split_whitespace()
        .position(|n| n == "InDatagrams")
        .unwrap();
    values.split_whitespace().nth(i).unwrap().parse().unwrap()
}

/// Send one UDP datagram with any source address and port (IPPROTO_RAW: we write the IP
/// header; the kernel fills in its length and checksum, a zero UDP checksum means none).
fn spoof(from: SocketAddrV4, to: SocketAddrV4, payload: &[u8]) {
    let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(255))).unwrap();
    let udp_len = (8 + payload.len()) as u16;
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0];
    p.extend_from_slice(&from.ip().octets());
    p.extend_from_slice(&to.ip().octets());
    p.extend_from_slice(&from.port().to_be_bytes());
    p.extend_from_slice(&to.port().to_be_bytes());
    p.extend_from_slice(&udp_len.to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    let total = (p.len() as u16).to_be_bytes();
    p[2..4].copy_from_slice(&total);
    raw.send_to(&p, &SockAddr::from(to)).unwrap();
}

/// Datagrams received in the namespace during [`WINDOW`] after `f`.
fn count_after(f: impl FnOnce()) -> u64 {
    let before = udp_in_datagrams();
    f();
    std::thread::sleep(WINDOW);
    udp_in_datagrams() - before
}

fn drops_logged(s: &Server) -> String {
    s.drain_logs()
        .iter()
        .filter_map(|v| v["fields"]["message"].as_str().map(str::to_owned))
        .filter(|m| m.contains("dropped"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn spoofed_datagrams_start_no_reply_loop() {
    Netns::new().run("spoofed_datagrams_start_no_reply_loop", || async {
        let a = Server::start();
        let b = Server::start();
        let pa = SocketAddrV4::new(LO, a.port);
        let pb = SocketAddrV4::new(LO, b.port);
        // A request large enough for a reply (the reply is never larger than it).
        let request = [b' '; 64];

        // The control: both servers answer a client, and a spoof from an ordinary port
        // is answered once (so the counts below can show a loop if there is one).
        let client = std::net::UdpSocket::bind((LO, 0)).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        for s in [pa, pb] {
            client.send_to(&request, s).unwrap();
            let mut buf = [0u8; 512];
            let (n, from) = client.recv_from(&mut buf).expect("a reply");
            assert_eq!(from, SocketAddr::V4(s));
            assert!(buf[..n].starts_with(b"ip: 127.0.0.1\r\n"));
        }
        let c = client.local_addr().unwrap().port();
        let n = count_after(|| {
            spoof(SocketAddrV4::new(LO, c), pa, &request);
            let mut buf = [0u8; 512];
            let (_, from) = client.recv_from(&mut buf).expect("a reply to the spoof");
            assert_eq!(from, SocketAddr::V4(pa));
        });
        // (Linux counts a datagram when a program reads it.)
        assert_eq!(n, 2, "the spoof and its one reply, both read");

        // B's port as the source: A answers B, B must not answer A's reply.
        let n = count_after(|| spoof(pb, pa, &request));
        eprintln!("B -> A spoof: {n} datagrams read in {WINDOW:?}");
        assert!(
            n <= MOST_EXPECTED,
            "{n} datagrams in {WINDOW:?}: a reply loop"
        );
        let logged = drops_logged(&b);
        assert!(
            logged.contains("our_reply=1"),
            "B logs the drop: {logged:?}"
        );

        // A's own address as the source: A must not answer itself.
        let n = count_after(|| spoof(pa, pa, &request));
        eprintln!("A -> A spoof: {n} datagrams read in {WINDOW:?}");
        assert!(
            n <= MOST_EXPECTED,
            "{n} datagrams in {WINDOW:?}: a self loop"
        );
        // A logged it (at most one summary a second: the line may come with a later drop).
        std::thread::sleep(Duration::from_millis(1000));
        let n = count_after(|| spoof(SocketAddrV4::new(LO, 53), pa, &request));
        assert_eq!(n, 1, "A read the spoof and sent nothing to port 53");
        let logged = drops_logged(&a);
        assert!(logged.contains("own_port=1"), "{logged:?}");
        assert!(logged.contains("service_port=1"), "{logged:?}");
    });
}

#[test]
fn reply_rate_per_source_is_configurable() {
    let s = Server::start_with(&["--udp-source-rate", "1", "--udp-source-burst", "3"]);
    let client = std::net::UdpSocket::bind((LO, 0)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    for _ in 0..10 {
        client.send_to(&[b' '; 64], (LO, s.port)).unwrap();
    }
    let mut replies = 0;
    let mut buf = [0u8; 512];
    while client.recv_from(&mut buf).is_ok() {
        replies += 1;
    }
    // 3 at once, maybe one more if a second passed while sending.
    assert!((3..=4).contains(&replies), "{replies} replies");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut logged = String::new();
    while !logged.contains("source_rate=") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        logged += &drops_logged(&s);
    }
    assert!(logged.contains("source_rate="), "{logged:?}");
}

#[test]
fn reply_limits_reject_zero_and_huge() {
    for flag in [
        "--udp-source-rate",
        "--udp-source-burst",
        "--udp-global-rate",
        "--udp-global-burst",
    ] {
        for v in ["0", "1000001", "-1"] {
            let out = Command::new(BIN)
                .args(["serve", "--udp", "127.0.0.1:0", &format!("{flag}={v}")])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(2), "{flag} {v}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("1..=1000000") || err.contains(flag), "{err}");
        }
    }
}
