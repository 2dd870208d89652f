//! The whoami service: tells a client which address and family it came from, and which
//! local address it reached. The same [`Facts`] are rendered for every protocol (line,
//! HTTP, UDP) so the answers agree.

use std::net::{IpAddr, SocketAddr};

use crate::addr::{unmap, unmap_socket, Family};

mod conn;
mod fast;
pub mod http;
pub mod line;
pub mod observe;
pub mod proxy;
pub mod ratelimit;
pub mod server;
pub mod udp;
mod waiting;

/// What a whoami reply says about one client. Every address is unmapped: a dual socket's
/// `::ffff:192.0.2.1` is shown as `192.0.2.1`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Facts {
    /// The client's address (the original client when a trusted PROXY header named one).
    pub ip: IpAddr,
    /// The client's port.
    pub port: u16,
    /// The client's address family.
    pub family: Family,
    /// The local address and port the request arrived on.
    pub local: SocketAddr,
    /// The client's reverse-DNS name, when looked up and found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reverse: Option<String>,
    /// The proxy that relayed the connection (PROXY protocol), when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<SocketAddr>,
}

impl Facts {
    /// Facts for a client at `peer` that reached us at `local`; both are unmapped.
    pub fn new(peer: SocketAddr, local: SocketAddr) -> Facts {
        let peer = unmap_socket(peer);
        Facts {
            ip: peer.ip(),
            port: peer.port(),
            family: Family::of(peer.ip()),
            local: unmap_socket(local),
            reverse: None,
            proxy: None,
        }
    }

    /// The client address as a socket address.
    pub fn peer(&self) -> SocketAddr {
        SocketAddr::new(unmap(self.ip), self.port)
    }

    /// `key: value` lines ending in CRLF, for the line (telnet) and UDP services.
    pub fn to_lines(&self) -> String {
        let mut s = format!(
            "ip: {}\r\nport: {}\r\nfamily: {}\r\nlocal: {}\r\n",
            self.ip, self.port, self.family, self.local
        );
        if let Some(r) = &self.reverse {
            s.push_str(&format!("reverse: {r}\r\n"));
        }
        if let Some(p) = &self.proxy {
            s.push_str(&format!("proxy: {p}\r\n"));
        }
        s
    }

    /// One JSON object: `{"ip","port","family","local","reverse"?,"proxy"?}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("Facts always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_peer_and_local_are_unmapped() {
        let f = Facts::new(
            "[::ffff:192.0.2.1]:4000".parse().unwrap(),
            "[::ffff:127.0.0.1]:2323".parse().unwrap(),
        );
        assert_eq!(f.ip, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert_eq!(f.family, Family::V4);
        assert_eq!(f.local, "127.0.0.1:2323".parse().unwrap());
        assert!(!f.to_lines().contains("ffff"));
        assert_eq!(
            f.to_json(),
            r#"{"ip":"192.0.2.1","port":4000,"family":"IPv4","local":"127.0.0.1:2323"}"#
        );
    }
}
