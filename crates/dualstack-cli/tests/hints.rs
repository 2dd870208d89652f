//! The CLI turns the library's typed error reasons into hints that name its flags; the
//! library's own messages name none.

use std::process::Command;

use dualstack::listen::{bind, BindOptions, ListenAddr, ListenMode};
use socket2::Type;

const BIN: &str = env!("CARGO_BIN_EXE_dualstack");

/// A dual-stack socket holds the IPv4 side of a port; `serve` on IPv4 only explains it and
/// suggests `--listen-mode dual`.
#[test]
fn dual_socket_holding_ipv4_hints_listen_mode_dual() {
    let opts = BindOptions {
        mode: ListenMode::Dual,
        ..BindOptions::default()
    };
    let Ok(held) = bind(&[ListenAddr::Port(0)], Type::STREAM, &opts) else {
        eprintln!("skipped: no IPv6 on this host");
        return;
    };
    if held.sockets[0].v6only != Some(false) {
        eprintln!("skipped: no dual-stack socket on this host");
        return;
    }
    let port = held.sockets[0].local.port();
    let out = Command::new(BIN)
        .args([
            "serve",
            "--line",
            "off",
            "--udp",
            "off",
            "--listen-mode",
            "ipv4",
        ])
        .args(["--http", &port.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds the IPv4 side of the port"), "{err}");
    let hint = "dualstack: hint: use --listen-mode dual here";
    assert!(err.lines().any(|l| l == hint), "{err}");
}
