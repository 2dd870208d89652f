//! `serve --reuse-port`: N processes on one host share one port per family (SO_REUSEPORT)
//! and the kernel spreads connections over all of them; without the flag a second
//! process cannot bind. Loopback only.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_port, start_serve, Proc, BIN};

const PROCESSES: usize = 4;
/// Connections per family. The kernel picks a socket by a hash of the 4-tuple, so with
/// 4 processes the chance that one gets none of 48 is (3/4)^48 ≈ 1e-6 per family.
const CONNECTIONS: usize = 48;

/// GET /family from `addr`; returns our own address.
fn request(addr: SocketAddr) -> SocketAddr {
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let me = c.local_addr().unwrap();
    c.write_all(b"GET /family HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out:?}");
    let want = if addr.is_ipv6() { "IPv6" } else { "IPv4" };
    assert!(
        out.ends_with(want) || out.trim_end().ends_with(want),
        "{out:?}"
    );
    me
}

/// Index of the process whose log names the client `me` (waits up to 5 s).
fn who_served(procs: &[Proc], me: SocketAddr) -> usize {
    let needle = format!("\"{me}\"");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let hits: Vec<usize> = (0..procs.len())
            .filter(|&i| procs[i].log().iter().any(|l| l.contains(&needle)))
            .collect();
        match hits.as_slice() {
            [one] => return *one,
            [] if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => panic!("client {me} logged by processes {hits:?}"),
        }
    }
}

/// One port free on both loopback addresses (the kernel's pick on 127.0.0.1, checked on
/// ::1), so the processes can bind 127.0.0.1:P and [::1]:P.
fn port_free_on_both() -> u16 {
    for _ in 0..20 {
        let p = free_port("127.0.0.1");
        if TcpListener::bind(("::1", p)).is_ok() {
            return p;
        }
    }
    panic!("no port free on both 127.0.0.1 and ::1");
}

#[test]
fn reuse_port_spreads_connections_over_every_process_on_both_families() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    let port = port_free_on_both();
    let v4 = SocketAddr::from(([127, 0, 0, 1], port));
    let v6: SocketAddr = format!("[::1]:{port}").parse().unwrap();
    let (v4s, v6s) = (v4.to_string(), v6.to_string());
    let args = [
        "--reuse-port",
        "--http",
        &v4s,
        "--http",
        &v6s,
        "--line",
        "off",
        "--udp",
        "off",
    ];
    let procs: Vec<Proc> = (0..PROCESSES)
        .map(|_| {
            let (proc, listening) = start_serve(&args);
            let addrs: Vec<SocketAddr> = listening.iter().map(|(_, a)| *a).collect();
            assert_eq!(addrs, [v4, v6], "each process binds both addresses itself");
            proc
        })
        .collect();

    // Without --reuse-port the port is taken: exit 1, "in use".
    let out = Command::new(BIN)
        .args(["serve", "--http", &v4s, "--line", "off", "--udp", "off"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("in use"), "{err}");

    let mut per_process = [[0usize; 2]; PROCESSES];
    for i in 0..2 * CONNECTIONS {
        let (addr, fam) = if i % 2 == 0 { (v4, 0) } else { (v6, 1) };
        let me = request(addr);
        per_process[who_served(&procs, me)][fam] += 1;
    }
    eprintln!("connections per process [IPv4, IPv6]: {per_process:?}");
    for (i, counts) in per_process.iter().enumerate() {
        assert!(
            counts[0] > 0 && counts[1] > 0,
            "process {i} missed a family: {per_process:?}"
        );
    }
    let total: usize = per_process.iter().map(|c| c[0] + c[1]).sum();
    assert_eq!(total, 2 * CONNECTIONS);
}
