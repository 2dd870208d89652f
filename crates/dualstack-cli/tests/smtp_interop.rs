//! Interop: `dualstack smtp` (the real binary) against a real SMTP server, aiosmtpd
//! (`python3 -m aiosmtpd`, installed by `.ci/install`), listening on 127.0.0.1 and ::1,
//! plain and with STARTTLS. Skips with a note when aiosmtpd is not installed.

#[path = "../../dualstack/tests/support/mod.rs"]
mod support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running aiosmtpd; killed on drop.
struct Aiosmtpd {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Aiosmtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have_aiosmtpd() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("note: python3 -m aiosmtpd is not available (bash .ci/install); skipping");
    }
    ok
}

/// Start aiosmtpd on `ip` (a free port), with STARTTLS when `tls`. `None` if this
/// machine has no such address.
fn start(ip: &str, tls: bool) -> Option<Aiosmtpd> {
    // Pick a free port: bind, note, release (aiosmtpd cannot take a listening fd).
    let probe = match TcpListener::bind((ip, 0)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("note: cannot listen on {ip} ({e}); skipping this family");
            return None;
        }
    };
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink"])
        .args(["--size", "10485760", "--smtputf8"])
        .arg("-l")
        .arg(format!("{ip}:{}", addr.port()));
    if tls {
        let (cert, key) = support::tls::self_signed(dir.path(), &["localhost"]);
        cmd.arg("--tlscert").arg(&cert).arg("--tlskey").arg(&key);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Aiosmtpd {
        child,
        addr,
        _dir: dir,
    };
    // Wait (bounded) until it accepts connections.
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "aiosmtpd did not start on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(server)
}

fn run(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dualstack"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("dualstack {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Run the binary, expect success, and parse its `--json` output.
fn run_json(ip: &str, args: &[&str]) -> serde_json::Value {
    let out = run(args);
    assert!(
        out.status.success(),
        "{ip}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn aiosmtpd_plain_both_families() {
    if !have_aiosmtpd() {
        return;
    }
    for ip in ["127.0.0.1", "::1"] {
        let Some(server) = start(ip, false) else {
            continue;
        };
        let port = server.addr.port().to_string();
        let v = run_json(ip, &["smtp", ip, &port, "--ehlo-literal", "--json"]);
        assert_eq!(v["address"], server.addr.to_string());
        assert_eq!(v["family"], if ip == "::1" { "IPv6" } else { "IPv4" });
        assert_eq!(v["greeting"]["code"], 220);
        assert_eq!(v["hello"]["command"], "EHLO");
        let caps = &v["capabilities"];
        // aiosmtpd 1.4 with --size and --smtputf8: SIZE, 8BITMIME, SMTPUTF8 and HELP.
        assert_eq!(caps["size"], 10485760, "{caps}");
        assert_eq!(caps["8bitmime"], true);
        assert_eq!(caps["smtputf8"], true);
        assert_eq!(caps["starttls"], false);
        assert_eq!(caps["other"][0], "HELP");
        assert_eq!(v["quit"]["code"], 221);
    }
}

#[test]
fn aiosmtpd_starttls_both_families() {
    if !have_aiosmtpd() {
        return;
    }
    for ip in ["127.0.0.1", "::1"] {
        let Some(server) = start(ip, true) else {
            continue;
        };
        let port = server.addr.port().to_string();
        let v = run_json(
            ip,
            &["smtp", ip, &port, "--starttls", "--insecure", "--json"],
        );
        assert_eq!(v["capabilities_before_tls"]["starttls"], true);
        assert_eq!(v["capabilities"]["starttls"], false);
        let version = v["tls"]["version"].as_str().unwrap();
        assert!(version == "TLSv1.3" || version == "TLSv1.2", "{version}");
        assert_eq!(v["tls"]["verified"], false);
        assert_eq!(v["quit"]["code"], 221);

        // Without --insecure the self-signed certificate must be refused: exit 1.
        let out = run(&["smtp", ip, &port, "--starttls"]);
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with("dualstack: TLS handshake failed: invalid peer certificate"),
            "{stderr}"
        );
    }
}
