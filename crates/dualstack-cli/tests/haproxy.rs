//! contrib/haproxy.cfg with a real HAProxy (Debian's, installed by .ci/install) in front
//! of three `dualstack serve` instances that speak PROXY protocol v2: requests over IPv4
//! and IPv6 reach every instance, and each reports the client's own address and port.
//! Everything listens on loopback; skips when haproxy is not installed.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{free_port, start_serve, Proc};
const INSTANCES: usize = 3;

fn haproxy() -> Option<String> {
    ["haproxy", "/usr/sbin/haproxy", "/usr/local/sbin/haproxy"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("-v")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(str::to_owned)
}

fn contrib_cfg() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/haproxy.cfg")
}

/// One `serve` instance: HTTP and line whoami on ephemeral 127.0.0.1 ports, trusting
/// PROXY headers from 127.0.0.1 (where HAProxy connects from) only.
struct Instance {
    proc: Proc,
    http: SocketAddr,
    line: SocketAddr,
}

fn start_instance() -> Instance {
    let (proc, listening) = start_serve(&[
        "--proxy-protocol",
        "--trusted-proxy",
        "127.0.0.1/32",
        "--http",
        "127.0.0.1:0",
        "--line",
        "127.0.0.1:0",
        "--udp",
        "off",
    ]);
    let find = |service: &str| {
        listening
            .iter()
            .find(|(s, _)| s == service)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no {service} listener"))
    };
    Instance {
        http: find("http"),
        line: find("line"),
        proc,
    }
}

struct Frontends {
    http_v4: SocketAddr,
    http_v6: SocketAddr,
    line_v4: SocketAddr,
    line_v6: SocketAddr,
}

/// Start HAProxy on contrib/haproxy.cfg, every address given through the environment.
/// The free ports are found before HAProxy binds them, so a lost race is retried.
fn start_haproxy(bin: &str, instances: &[Instance]) -> (Proc, Frontends) {
    for _attempt in 0..3 {
        let fe = Frontends {
            http_v4: SocketAddr::from(([127, 0, 0, 1], free_port("127.0.0.1"))),
            http_v6: format!("[::1]:{}", free_port("::1")).parse().unwrap(),
            line_v4: SocketAddr::from(([127, 0, 0, 1], free_port("127.0.0.1"))),
            line_v6: format!("[::1]:{}", free_port("::1")).parse().unwrap(),
        };
        let mut cmd = Command::new(bin);
        cmd.arg("-db").arg("-f").arg(contrib_cfg());
        cmd.env("DUALSTACK_HTTP_V4", fe.http_v4.to_string())
            .env("DUALSTACK_HTTP_V6", fe.http_v6.to_string())
            .env("DUALSTACK_LINE_V4", fe.line_v4.to_string())
            .env("DUALSTACK_LINE_V6", fe.line_v6.to_string());
        for (i, inst) in instances.iter().enumerate() {
            cmd.env(format!("DUALSTACK_HTTP_S{}", i + 1), inst.http.to_string())
                .env(format!("DUALSTACK_LINE_S{}", i + 1), inst.line.to_string());
        }
        let mut proc = Proc::spawn(cmd);
        // Listening once a frontend accepts; an exit means a bind failed (port taken).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(_)) = proc.child.try_wait() {
                eprintln!("haproxy exited, retrying:\n{}", proc.log().join("\n"));
                break;
            }
            let all_up = [fe.http_v4, fe.http_v6, fe.line_v4, fe.line_v6]
                .iter()
                .all(|a| TcpStream::connect_timeout(a, Duration::from_secs(1)).is_ok());
            if all_up {
                return (proc, fe);
            }
            assert!(
                Instant::now() < deadline,
                "haproxy not listening:\n{}",
                proc.log().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("haproxy did not start in 3 attempts");
}

/// GET /json through `front`; returns our own address and the reply.
fn get_json(front: SocketAddr) -> (SocketAddr, Value) {
    let mut c = TcpStream::connect_timeout(&front, Duration::from_secs(5)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let me = c.local_addr().unwrap();
    c.write_all(b"GET /json HTTP/1.1\r\nHost: whoami\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    let (head, body) = out
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP reply through {front}: {out:?}"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    (me, serde_json::from_str(body).expect("JSON body"))
}

/// Which instance logged the client `me` (its PROXY header names it); waits up to 5 s.
fn instance_that_saw(instances: &[Instance], me: SocketAddr) -> usize {
    let needle = format!("\"{me}\"");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let hits: Vec<usize> = (0..instances.len())
            .filter(|&i| instances[i].proc.log().iter().any(|l| l.contains(&needle)))
            .collect();
        match hits.as_slice() {
            [one] => return *one,
            [] if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => panic!("client {me} logged by instances {hits:?}"),
        }
    }
}

#[test]
fn haproxy_send_proxy_v2_reaches_every_instance_with_the_client_address() {
    let Some(bin) = haproxy() else {
        eprintln!("skipped: haproxy not installed (.ci/install installs Debian's haproxy)");
        return;
    };
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    let status = Command::new(&bin)
        .arg("-c")
        .arg("-f")
        .arg(contrib_cfg())
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "haproxy -c rejects contrib/haproxy.cfg: {}",
        String::from_utf8_lossy(&status.stderr)
    );

    let instances: Vec<Instance> = (0..INSTANCES).map(|_| start_instance()).collect();
    let (_haproxy, fe) = start_haproxy(&bin, &instances);

    // Alternate the families; round robin spreads them over the instances.
    let mut per_instance = [[0u32; 2]; INSTANCES];
    for round in 0..4 * INSTANCES {
        let (front, v6) = if round % 2 == 0 {
            (fe.http_v4, false)
        } else {
            (fe.http_v6, true)
        };
        let (me, j) = get_json(front);
        // The instance reports the client's own address, port and family, and the
        // frontend address it connected to — not HAProxy's side of the connection.
        assert_eq!(j["ip"], me.ip().to_string(), "{j}");
        assert_eq!(j["port"], me.port(), "{j}");
        assert_eq!(j["family"], if v6 { "IPv6" } else { "IPv4" }, "{j}");
        assert_eq!(j["local"], front.to_string(), "{j}");
        let proxy: SocketAddr = j["proxy"].as_str().expect("proxy field").parse().unwrap();
        assert_eq!(proxy.ip().to_string(), "127.0.0.1", "{j}");
        assert_ne!(proxy, me);
        per_instance[instance_that_saw(&instances, me)][usize::from(v6)] += 1;
    }
    eprintln!("requests per instance [IPv4, IPv6]: {per_instance:?}");
    for (i, counts) in per_instance.iter().enumerate() {
        assert!(
            counts[0] + counts[1] > 0,
            "instance {} got no request: {per_instance:?}",
            i + 1
        );
    }
    assert!(per_instance.iter().any(|c| c[0] > 0) && per_instance.iter().any(|c| c[1] > 0));

    // The line whoami through the TCP frontend: the same address facts as text.
    for front in [fe.line_v4, fe.line_v6] {
        let mut c = TcpStream::connect_timeout(&front, Duration::from_secs(5)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let me = c.local_addr().unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        assert!(out.contains(&format!("ip: {}\r\n", me.ip())), "{out:?}");
        assert!(out.contains(&format!("port: {}\r\n", me.port())), "{out:?}");
        instance_that_saw(&instances, me);
    }
}
