//! `EADDRINUSE` when no socket listens on the port, only a TCP connection uses it: the
//! error says which connection and its state (TIME_WAIT), not "another socket listens".

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use dualstack::listen::{bind, BindOptions, InUseReason, ListenAddr, ListenError};
use socket2::{Domain, Socket, Type};

/// A connection from 127.0.0.1:P (bound without SO_REUSEADDR) that we close first, so
/// P is left in TIME_WAIT on our side; returns P.
fn time_wait_port() -> u16 {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    client
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let port = client.local_addr().unwrap().as_socket().unwrap().port();
    client
        .connect(&server.local_addr().unwrap().into())
        .unwrap();
    let (accepted, _) = server.accept().unwrap();
    drop(client); // active close: TIME_WAIT is on this side
                  // Wait for the peer's FIN to be answered, then close the accepted end.
    std::thread::sleep(Duration::from_millis(50));
    drop(accepted);
    port
}

#[test]
fn time_wait_holder_is_named() {
    let port = time_wait_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(5);
    let err = loop {
        match bind(
            &[ListenAddr::Addr(addr)],
            Type::STREAM,
            &BindOptions::default(),
        ) {
            Err(e) => break e,
            // The kernel may still be closing (FIN_WAIT2): try again shortly.
            Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(_) => panic!("bind succeeded: no TIME_WAIT conflict on this kernel"),
        }
    };
    let ListenError::AddrInUse { reason, .. } = &err else {
        panic!("want AddrInUse, got {err}");
    };
    let InUseReason::Connection { state, .. } = reason else {
        panic!("want a connection as the holder, got {reason:?}: {err}");
    };
    assert_eq!(*state, "TIME_WAIT", "{err}");
    let text = err.to_string();
    assert!(text.contains("TIME_WAIT"), "{text}");
    assert!(!text.contains("another socket listens"), "{text}");
}
