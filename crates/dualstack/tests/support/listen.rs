//! Listening sockets for tests that start the library's servers themselves.

use std::net::SocketAddr;

use dualstack::listen::Bound;
use socket2::{Domain, Socket, Type};

/// A TCP listener on `addr` (IPv6 sockets V6ONLY), or `None` when this host cannot bind
/// it (no IPv6, say).
pub fn tcp(addr: &str) -> Option<Bound> {
    let addr: SocketAddr = addr.parse().unwrap();
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
    if addr.is_ipv6() {
        s.set_only_v6(true).unwrap();
    }
    s.bind(&addr.into()).ok()?;
    s.listen(1024).unwrap();
    Some(Bound::from_socket(s).unwrap())
}
