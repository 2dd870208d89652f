//! Helpers shared by the tests that run several processes (serve instances, HAProxy).

#![allow(dead_code)] // each test file uses its own subset

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_dualstack");

/// A child process killed on drop, with its stderr lines collected.
pub struct Proc {
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Proc { child, lines }
    }

    pub fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Wait (at most 10 s) until a log line satisfies `want`.
    pub fn wait_for(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(l) = self.log().into_iter().find(|l| want(l)) {
                return l;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "exited with {status} before {what}:\n{}",
                    self.log().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no {what} within 10 s:\n{}", self.log().join("\n"));
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `dualstack serve --json-logs ARGS` and wait until it is ready; returns the
/// process and the (service, address) pairs it listed.
pub fn start_serve(args: &[&str]) -> (Proc, Vec<(String, SocketAddr)>) {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--json-logs"])
        .args(args)
        .env("RUST_LOG", "info");
    let mut proc = Proc::spawn(cmd);
    proc.wait_for("ready", |l| l.contains("ready;"));
    let mut listening = Vec::new();
    for l in proc.log() {
        let Ok(v) = serde_json::from_str::<Value>(&l) else {
            continue;
        };
        let f = &v["fields"];
        if f["message"] == "listening" {
            let addr: SocketAddr = f["addr"].as_str().unwrap().parse().unwrap();
            listening.push((f["service"].as_str().unwrap().to_owned(), addr));
        }
    }
    (proc, listening)
}

/// A port nobody listens on right now at `ip` (the kernel's pick for port 0).
pub fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Read a child's `--json-logs` stderr on a thread: one JSON value per line (a line that
/// is not JSON arrives as `{"raw": LINE}`), until the child closes stderr or the
/// receiver is dropped.
pub fn json_lines(stderr: std::process::ChildStderr) -> std::sync::mpsc::Receiver<Value> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let v =
                serde_json::from_str(&line).unwrap_or_else(|_| serde_json::json!({ "raw": line }));
            if tx.send(v).is_err() {
                break;
            }
        }
    });
    rx
}

/// The addresses a `connect --json --trace` report started attempts to, in order.
pub fn attempts_started(report: &Value) -> Vec<String> {
    report["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["event"] == "attempt_started")
        .map(|e| e["addr"].as_str().unwrap_or_default().to_owned())
        .collect()
}
