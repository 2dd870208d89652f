//! The losers of a Happy Eyeballs race are closed: over many connects to a host whose
//! IPv6 address is a black hole, the process's open file descriptors do not grow.
//! (Its own test binary: other tests running in parallel would disturb the count.)

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dualstack::addr::Family;
use dualstack::connect::{Connector, EventKind, HickoryResolver};
use socket2::{Domain, Socket, Type};
use support::dns::{FakeDns, Zone};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn listen(addr: SocketAddr, backlog: i32) -> Socket {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
    if addr.is_ipv6() {
        s.set_only_v6(true).unwrap();
    }
    s.bind(&addr.into()).unwrap();
    s.listen(backlog).unwrap();
    s
}

#[tokio::test]
async fn cancelled_attempts_close_their_sockets() {
    // [::1]:P is a black hole (listen(0) + one filler), 127.0.0.1:P accepts.
    let hole = listen("[::1]:0".parse().unwrap(), 0);
    let port = hole.local_addr().unwrap().as_socket().unwrap().port();
    let _filler = std::net::TcpStream::connect(("::1", port)).unwrap();
    let ok = listen(SocketAddr::from(([127, 0, 0, 1], port)), 128);
    let dns = FakeDns::start(
        "127.0.0.1:0".parse().unwrap(),
        Zone::new().aaaa("bh.test", "::1", Duration::ZERO).a(
            "bh.test",
            "127.0.0.1",
            Duration::ZERO,
        ),
    )
    .await
    .unwrap();
    let c = Connector::new()
        .resolver(Arc::new(HickoryResolver::with_name_servers(&[dns.addr()])))
        .attempt_delay(Duration::from_millis(10));

    let warm = c.connect("bh.test", port).await.unwrap();
    drop(warm);
    let _ = ok.accept().unwrap();
    let before = open_fds();
    for _ in 0..20 {
        let conn = c.connect("bh.test", port).await.unwrap();
        assert_eq!(conn.family(), Family::V4);
        assert!(conn
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Cancelled { .. })));
        // While we hold the winner, the loser is already closed: at most one more fd.
        assert!(open_fds() <= before + 1, "{} > {} + 1", open_fds(), before);
        drop(conn);
        let _ = ok.accept().unwrap();
    }
    let after = open_fds();
    assert!(after <= before, "fds grew from {before} to {after}");
}
