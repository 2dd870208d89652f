//! Duration and count options through the binary: out of range or a meaningless zero is
//! a usage error (exit 2) naming the range, never a panic, a silent clamp or a server
//! that starts and then fails every connection.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dualstack");

/// Run the binary with `args`; its exit code and stderr. A run that is still going after
/// 10 s (a server that started) is killed and reported as `None`.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            return (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (None, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `serve` on loopback port 0 with nothing else, plus `extra`.
fn serve(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "serve",
        "--line",
        "127.0.0.1:0",
        "--http",
        "off",
        "--udp",
        "off",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn assert_usage(args: &[&str], range: &str) {
    let (code, err) = run(args);
    assert_eq!(code, Some(2), "{args:?}: exit {code:?}, stderr {err}");
    assert!(
        err.contains(range),
        "{args:?}: range {range:?} not named: {err}"
    );
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

#[test]
fn timeouts_out_of_range_exit_2_naming_the_range() {
    for v in ["0", "0s", "300000000000y", "18446744073709551615s", "2days"] {
        for cmd in [
            &["connect", "-z", "::1", "9", "--timeout", v][..],
            &["resolve", "localhost", "--timeout", v],
            &["reverse", "127.0.0.1", "--timeout", v],
            &["smtp", "::1", "--reply-timeout", v],
            &["smtp", "::1", "--dialogue-timeout", v],
        ] {
            assert_usage(cmd, "1ms to 1day");
        }
        for flag in ["--idle-timeout", "--header-timeout", "--reverse-timeout"] {
            let args = serve(&[flag, v]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            assert_usage(&args, "1ms to 1day");
        }
    }
    let args = serve(&["--shutdown-timeout", "300000000000y"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_usage(&args, "0 to 1day");
}

#[test]
fn delays_out_of_range_exit_2() {
    assert_usage(
        &["connect", "-z", "::1", "9", "--attempt-delay", "5s"],
        "10ms to 2s",
    );
    assert_usage(
        &["connect", "-z", "::1", "9", "--attempt-delay", "1ms"],
        "10ms to 2s",
    );
    assert_usage(
        &["resolve", "localhost", "--resolution-delay", "3s"],
        "0 to 2s",
    );
}

#[test]
fn meaningless_zero_counts_exit_2() {
    let args = serve(&["--max-connections", "0"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_usage(&args, "1..=1000000");
    assert_usage(
        &["connect", "-z", "::1", "9", "--first-family-count", "0"],
        "1..=64",
    );
    assert_usage(
        &[
            "reverse",
            "127.0.0.1",
            "--resolver",
            "system",
            "--threads",
            "0",
        ],
        "1..=1024",
    );
    assert_usage(&["smtp", "::1", "--max-line", "0"], "1..=16777216");
}

#[test]
fn in_range_values_are_accepted() {
    // A refused connect (nothing listens on port 9 of ::1... or the host has no IPv6):
    // exit 1, not 2: the timeout itself was accepted.
    let (code, err) = run(&["connect", "-z", "127.0.0.1", "9", "--timeout", "1day"]);
    assert_eq!(code, Some(1), "{err}");
    let (code, err) = run(&["connect", "-z", "127.0.0.1", "9", "--timeout", "1ms"]);
    assert_eq!(code, Some(1), "{err}");
}

#[test]
fn bad_hosts_exit_2_before_any_io() {
    let long = "a".repeat(300);
    let label = format!("{}.example", "b".repeat(64));
    for (host, says) in [
        ("", "the host is empty"),
        ("[::1", "missing ']'"),
        ("%", "not a valid IP address"),
        ("fe80::1%nosuchif", "names no network interface"),
        (long.as_str(), "at most 253 characters, this one 300"),
        (label.as_str(), "at most 63 characters"),
        ("a b.example", "' ' cannot appear"),
        ("1.2.3.256", "neither an IP address"),
        ("[::1]:80", "has a port"),
    ] {
        for cmd in [
            &["connect", "-z", host, "80"][..],
            &["resolve", host],
            &["smtp", host],
        ] {
            assert_usage(cmd, says);
        }
    }
}
