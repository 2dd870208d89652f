//! Real sockets on loopback: listen modes × client families, skipped addresses,
//! EADDRINUSE explanations, one failing socket among several.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use dualstack::listen::{
    bind, BindOptions, InUseReason, ListenAddr, ListenError, ListenMode, Listeners,
};
use socket2::Type;
use tokio::net::TcpStream;
use tokio::time::timeout;

fn opts(mode: ListenMode) -> BindOptions {
    BindOptions {
        mode,
        ..BindOptions::default()
    }
}

fn ipv6_loopback_works() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// Connect to `ip:port`: Some(local address of the client) if accepted, None if refused.
async fn try_connect(ip: &str, port: u16) -> Option<(TcpStream, SocketAddr)> {
    let addr = SocketAddr::new(ip.parse().unwrap(), port);
    match timeout(Duration::from_secs(5), TcpStream::connect(addr))
        .await
        .expect("connect must not hang on loopback")
    {
        Ok(s) => {
            let me = s.local_addr().unwrap();
            Some((s, me))
        }
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => None,
        Err(e) => panic!("unexpected connect error to {addr}: {e}"),
    }
}

#[tokio::test]
async fn mode_by_client_family_matrix() {
    if !ipv6_loopback_works() {
        eprintln!("note: no IPv6 loopback here, skipping the matrix");
        return;
    }
    // (mode, IPv4 client accepted, IPv6 client accepted, sockets bound)
    let cases = [
        (ListenMode::Separate, true, true, 2),
        (ListenMode::Dual, true, true, 1),
        (ListenMode::Ipv4, true, false, 1),
        (ListenMode::Ipv6, false, true, 1),
    ];
    for (mode, v4_ok, v6_ok, n) in cases {
        let b = bind(&[ListenAddr::Port(0)], Type::STREAM, &opts(mode)).unwrap();
        assert_eq!(b.sockets.len(), n, "{mode}");
        let port = b.sockets[0].local.port();
        assert!(
            b.sockets.iter().all(|s| s.local.port() == port),
            "{mode}: one port"
        );
        match mode {
            ListenMode::Dual => assert_eq!(b.sockets[0].v6only, Some(false)),
            ListenMode::Ipv4 => assert_eq!(b.sockets[0].v6only, None),
            _ => assert_eq!(b.sockets[0].v6only, Some(true)),
        }
        let mut l = Listeners::new(b.sockets).unwrap();
        for (client, ok) in [("127.0.0.1", v4_ok), ("::1", v6_ok)] {
            let got = try_connect(client, port).await;
            assert_eq!(got.is_some(), ok, "{mode}: client {client}");
            if let Some((_s, me)) = got {
                let acc = timeout(Duration::from_secs(5), l.accept())
                    .await
                    .unwrap()
                    .unwrap();
                // Reported addresses are the client's own, unmapped, in both modes.
                assert_eq!(acc.peer, me, "{mode}: client {client}");
                assert_eq!(acc.local.ip(), client.parse::<IpAddr>().unwrap());
                assert!(!acc.peer.to_string().contains("ffff"));
            }
        }
    }
}

#[tokio::test]
async fn unavailable_address_is_skipped() {
    // 192.0.2.1 (TEST-NET-1) is on no interface here: EADDRNOTAVAIL, skipped.
    let addrs = [
        ListenAddr::Addr("192.0.2.1:0".parse().unwrap()),
        ListenAddr::Addr("127.0.0.1:0".parse().unwrap()),
    ];
    let b = bind(&addrs, Type::STREAM, &opts(ListenMode::Separate)).unwrap();
    assert_eq!(b.sockets.len(), 1);
    assert_eq!(b.skipped.len(), 1);
    assert_eq!(b.skipped[0].addr, "192.0.2.1:0".parse().unwrap());
    assert_eq!(b.skipped[0].error.kind(), ErrorKind::AddrNotAvailable);

    // Nothing at all: an error listing what was skipped.
    let err = bind(&addrs[..1], Type::STREAM, &BindOptions::default()).unwrap_err();
    assert!(matches!(err, ListenError::NothingBound { .. }));
    assert!(err.to_string().contains("192.0.2.1:0"), "{err}");
    // The same listing works for datagram sockets.
    let b = bind(&addrs, Type::DGRAM, &BindOptions::default()).unwrap();
    assert_eq!((b.sockets.len(), b.skipped.len()), (1, 1));
}

#[tokio::test]
async fn addr_in_use_true_conflict_names_owner() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap();
    let err = bind(
        &[ListenAddr::Addr(addr)],
        Type::STREAM,
        &BindOptions::default(),
    )
    .unwrap_err();
    let ListenError::AddrInUse {
        addr: a,
        reason,
        owner,
        ..
    } = &err
    else {
        panic!("want AddrInUse, got {err}");
    };
    assert_eq!(*a, addr);
    assert_eq!(*reason, InUseReason::Conflict { holder: Some(addr) });
    if std::path::Path::new("/proc/net/tcp").exists() {
        assert_eq!(owner.as_ref().map(|o| o.pid), Some(std::process::id()));
    }
    let msg = err.to_string();
    assert!(msg.contains(&addr.to_string()), "{msg}");
    assert!(msg.contains("already in use"), "{msg}");
}

#[tokio::test]
async fn addr_in_use_by_a_dual_socket() {
    if !ipv6_loopback_works() {
        eprintln!("note: no IPv6 here, skipping");
        return;
    }
    // Someone else's dual socket on [::]:P holds 0.0.0.0:P too.
    let dual = bind(
        &[ListenAddr::Port(0)],
        Type::STREAM,
        &opts(ListenMode::Dual),
    )
    .unwrap();
    let port = dual.sockets[0].local.port();
    let err = bind(
        &[ListenAddr::Port(port)],
        Type::STREAM,
        &opts(ListenMode::Ipv4),
    )
    .unwrap_err();
    let ListenError::AddrInUse { reason, .. } = &err else {
        panic!("want AddrInUse, got {err}");
    };
    assert!(
        matches!(reason, InUseReason::DualHoldsV4 { holder } if holder.port() == port),
        "{err}"
    );
    assert!(err.to_string().contains("IPV6_V6ONLY=0"), "{err}");

    // The other way round: an IPv4 socket blocks a dual socket.
    let v4 = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = v4.local_addr().unwrap().port();
    let err = bind(
        &[ListenAddr::Port(port)],
        Type::STREAM,
        &opts(ListenMode::Dual),
    )
    .unwrap_err();
    let ListenError::AddrInUse { reason, .. } = &err else {
        panic!("want AddrInUse, got {err}");
    };
    assert!(
        matches!(reason, InUseReason::V4HeldAgainstDual { .. }),
        "{err}"
    );
    // Separate mode on the same port: IPv6-only binds fine, IPv4 is the true conflict.
    let err = bind(
        &[ListenAddr::Port(port)],
        Type::STREAM,
        &BindOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ListenError::AddrInUse { reason: InUseReason::Conflict { .. }, addr, .. } if addr.is_ipv4()),
        "{err}"
    );
}

#[tokio::test]
async fn reuse_port_lets_two_sockets_share() {
    let o = BindOptions {
        reuse_port: true,
        ..opts(ListenMode::Ipv4)
    };
    let a = bind(&[ListenAddr::Port(0)], Type::STREAM, &o).unwrap();
    let port = a.sockets[0].local.port();
    let b = bind(&[ListenAddr::Port(port)], Type::STREAM, &o).unwrap();
    assert_eq!(b.sockets[0].local.port(), port);
}

#[tokio::test]
async fn one_socket_fails_the_other_keeps_serving() {
    let addrs = [
        ListenAddr::Addr("127.0.0.1:0".parse().unwrap()),
        ListenAddr::Addr("127.0.0.1:0".parse().unwrap()),
    ];
    let b = bind(&addrs, Type::STREAM, &BindOptions::default()).unwrap();
    let (p0, p1) = (b.sockets[0].local.port(), b.sockets[1].local.port());
    // A second handle on the first socket lets us break it under the accept task:
    // shutdown(2) on a listening socket makes accept fail with EINVAL.
    let breaker = b.sockets[0].socket.try_clone().unwrap();
    let mut l = Listeners::new(b.sockets).unwrap();
    breaker.shutdown(std::net::Shutdown::Both).unwrap();
    // Give the accept task a moment to see the failure.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        try_connect("127.0.0.1", p0).await.is_none(),
        "broken socket refuses"
    );
    for _ in 0..3 {
        let (_s, me) = try_connect("127.0.0.1", p1)
            .await
            .expect("other socket serves");
        let acc = timeout(Duration::from_secs(5), l.accept())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(acc.peer, me);
    }
}

#[tokio::test]
async fn accepts_fairly_from_all_sockets() {
    let addrs = [
        ListenAddr::Addr("127.0.0.1:0".parse().unwrap()),
        ListenAddr::Addr("127.0.0.1:0".parse().unwrap()),
    ];
    let b = bind(&addrs, Type::STREAM, &BindOptions::default()).unwrap();
    let (p0, p1) = (b.sockets[0].local.port(), b.sockets[1].local.port());
    let mut l = Listeners::new(b.sockets).unwrap();
    // Flood the first socket, then one client on the second: it must not wait for the
    // whole flood to drain (the channel is bounded and serves the sockets in turn).
    let mut keep = Vec::new();
    for _ in 0..200 {
        keep.push(try_connect("127.0.0.1", p0).await.unwrap());
    }
    keep.push(try_connect("127.0.0.1", p1).await.unwrap());
    let mut pos = None;
    for i in 0..201 {
        let acc = timeout(Duration::from_secs(5), l.accept())
            .await
            .unwrap()
            .unwrap();
        if acc.local.port() == p1 {
            pos = Some(i);
            break;
        }
    }
    let pos = pos.expect("the quiet socket's connection was accepted");
    assert!(pos < 150, "quiet socket waited behind {pos} connections");
}
