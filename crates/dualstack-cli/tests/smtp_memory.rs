//! Memory stays bounded: `dualstack smtp` against a server that sends 10 MB without a
//! newline must not use more memory than against a well-behaved server (plus a small
//! margin). Peak RSS of each run comes from `wait4(2)`'s rusage of that one child.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

/// Serve one client with `script` on 127.0.0.1; returns the port.
fn serve(script: fn(std::net::TcpStream)) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        if let Ok((s, _)) = l.accept() {
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
            script(s);
        }
    });
    port
}

fn good(mut s: std::net::TcpStream) {
    let mut buf = [0u8; 4096];
    let _ = s.write_all(b"220 ok\r\n");
    let _ = s.read(&mut buf);
    let _ = s.write_all(b"250 ok\r\n");
    let _ = s.read(&mut buf);
    let _ = s.write_all(b"221 bye\r\n");
}

fn flood(mut s: std::net::TcpStream) {
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..160 {
        if s.write_all(&chunk).is_err() {
            return;
        }
    }
}

/// Run `dualstack smtp 127.0.0.1 PORT`; exit code and peak RSS in KiB.
fn run(port: u16) -> (i32, i64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dualstack"))
        .args([
            "smtp",
            "127.0.0.1",
            &port.to_string(),
            "--reply-timeout",
            "20s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain wait4 on our own child, with valid pointers to locals.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    // Already reaped: std's Child must not wait again (it would get ECHILD), so forget it.
    let _ = child.stdin.take();
    std::mem::forget(child);
    assert!(libc::WIFEXITED(status));
    (libc::WEXITSTATUS(status), usage.ru_maxrss)
}

#[test]
fn ten_megabytes_without_newline_costs_no_extra_memory() {
    let (code, baseline) = run(serve(good));
    assert_eq!(code, 0);
    let (code, flooded) = run(serve(flood));
    assert_eq!(code, 1);
    eprintln!("peak RSS: good server {baseline} KiB, 10 MB flood {flooded} KiB");
    // Buffering the flood would add 10 MB or more; allow 4 MB of noise.
    assert!(
        flooded < baseline + 4 * 1024,
        "flood run peaked at {flooded} KiB vs {baseline} KiB for a good server"
    );
}
