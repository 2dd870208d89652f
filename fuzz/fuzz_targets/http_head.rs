//! The HTTP whoami (`whoami::server`, public API only) fed arbitrary bytes as a client
//! would send them, over loopback TCP: the server never panics, every connection ends
//! (a `Connection: close` request follows the bytes; a 2 s header timeout backs that up),
//! and whatever it writes back is HTTP/1.x responses. A panic in a connection task is
//! caught by tokio, so the target also checks the server keeps answering.
#![no_main]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use dualstack::listen::Bound;
use dualstack::whoami::server::{Running, Server, ServerConfig, Service};
use libfuzzer_sys::fuzz_target;

fn stats() -> String {
    format!("{:?}", SERVER.get().map(|s| s.1.server().stats()))
}

static SERVER: OnceLock<(tokio::runtime::Runtime, Running, SocketAddr)> = OnceLock::new();

fn server() -> SocketAddr {
    SERVER
        .get_or_init(|| {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let bound = Bound::from_socket(socket2::Socket::from(l)).unwrap();
            let cfg = ServerConfig {
                header_timeout: Duration::from_secs(2),
                idle_timeout: Duration::from_secs(2),
                ..ServerConfig::default()
            };
            let running = rt.block_on(async {
                Server::new(cfg)
                    .start(vec![(Service::Http, bound)])
                    .unwrap()
            });
            (rt, running, addr)
        })
        .2
}

/// Send `data` then a closing request (hyper drops a connection whose client half-closes,
/// so the connection is ended by `Connection: close` instead) and read until the server
/// closes.
fn exchange(addr: SocketAddr, data: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may close early (a bad request): a write error is fine.
    let _ = c.write_all(data);
    let _ = c.write_all(CLOSE);
    let mut out = Vec::new();
    match c.read_to_end(&mut out) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the connection never ended: {e}"),
    }
    out
}

const CLOSE: &[u8] = b"GET /ip HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    let addr = server();
    let out = exchange(addr, data);
    if !out.is_empty() {
        assert!(
            out.starts_with(b"HTTP/1.1 ") || out.starts_with(b"HTTP/1.0 "),
            "{:?}",
            String::from_utf8_lossy(&out)
        );
    }
    let ok = exchange(addr, b"");
    assert!(
        ok.starts_with(b"HTTP/1.1 200"),
        "the server stopped answering: {:?} after {:?}; {}",
        String::from_utf8_lossy(&ok),
        String::from_utf8_lossy(&out),
        stats()
    );
});
