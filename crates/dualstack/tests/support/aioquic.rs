//! A QUIC server that is not ours: aioquic (PyPI, installed by `.ci/install`) running
//! `quic_server.py` beside this file, with a certificate made here with rcgen. Skips
//! cleanly (returns `None` after a note) when python3 or aioquic is missing.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running aioquic server; killed on drop (and it stops by itself when the test
/// process dies: its stdin closes).
pub struct QuicPeer {
    child: Child,
    /// The UDP port it listens on.
    pub port: u16,
    /// The PEM file of its (self-signed) certificate, for `--cacert`.
    pub cacert: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for QuicPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `python3 -c 'import aioquic'` works. Prints the skip note when not.
pub fn available(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aioquic"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: {test}: python3 with aioquic is not available (bash .ci/install)");
    }
    ok
}

/// The server script's path.
pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dualstack/tests/support/quic_server.py")
}

/// Starts aioquic on `host` (`::` takes both families), port `port` (0: any), with a
/// certificate for `names` (DNS names or IP addresses). Call it from the thread whose
/// network namespace the server should live in. Panics if it does not come up within
/// 20 s; `None` when aioquic is missing.
pub fn start(test: &str, host: &str, port: u16, names: &[&str]) -> Option<QuicPeer> {
    if !available(test) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = super::tls::self_signed(dir.path(), names);
    let mut child = Command::new("python3")
        .arg(script())
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .args(["--host", host, "--port", &port.to_string(), "--watch-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn python3");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let mut peer = QuicPeer {
        child,
        port: 0,
        cacert: cert,
        _dir: dir,
    };
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("aioquic did not say it was ready within 20 s");
    peer.port = line
        .strip_prefix("ready ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("aioquic said {line:?}, not 'ready PORT'"));
    Some(peer)
}
