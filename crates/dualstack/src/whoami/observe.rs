//! Hooks for metrics: a server reports what happens (connections, refusals, requests, UDP
//! replies and drops) to an [`Observer`] set in
//! [`ServerConfig::observer`](super::server::ServerConfig::observer). The library keeps
//! no metrics registry of its own; the `dualstack` CLI turns these calls into Prometheus
//! metrics (`serve --metrics`).
//!
//! Calls are made on the connection's task, synchronously: an observer must be cheap
//! (atomic counters), and must not block.

use std::fmt;
use std::time::Duration;

use super::proxy::ProxyError;
use super::server::Service;
use super::udp::Refusal as UdpRefusal;
use crate::addr::Family;

/// Why a TCP connection was closed without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refused {
    /// The connection cap (`max_connections`) was reached.
    Limit,
    /// An untrusted source sent a PROXY header.
    UntrustedProxy,
    /// A trusted proxy sent no, a malformed or a truncated PROXY header.
    BadProxyHeader,
    /// No PROXY header or HTTP request head within the header timeout.
    HeaderTimeout,
}

impl Refused {
    /// The label value: `limit`, `untrusted_proxy`, `bad_proxy_header`, `header_timeout`.
    pub fn name(self) -> &'static str {
        match self {
            Refused::Limit => "limit",
            Refused::UntrustedProxy => "untrusted_proxy",
            Refused::BadProxyHeader => "bad_proxy_header",
            Refused::HeaderTimeout => "header_timeout",
        }
    }

    /// The refusal a PROXY check failure counts as; `None` for I/O errors, which are
    /// the network's doing rather than a refusal.
    pub fn of_proxy_error(e: &ProxyError) -> Option<Refused> {
        match e {
            ProxyError::Untrusted { .. } => Some(Refused::UntrustedProxy),
            ProxyError::Missing { .. }
            | ProxyError::Malformed { .. }
            | ProxyError::Closed { .. } => Some(Refused::BadProxyHeader),
            ProxyError::Timeout { .. } => Some(Refused::HeaderTimeout),
            _ => None,
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The route label of an HTTP request path: one of the whoami routes, or `other` (so a
/// client cannot create label values at will).
pub fn route_label(path: &str) -> &'static str {
    super::http::Route::of(path).map_or("other", super::http::Route::label)
}

/// Receives a server's events. Every method has an empty default.
pub trait Observer: fmt::Debug + Send + Sync {
    /// A TCP connection was accepted (within the cap) from a client of `family` (the
    /// TCP peer's family, before any PROXY header).
    fn connection(&self, service: Service, family: Family) {
        let _ = (service, family);
    }
    /// A TCP connection was closed without an answer.
    fn refused(&self, service: Service, reason: Refused) {
        let _ = (service, reason);
    }
    /// An HTTP request was answered: its route ([`route_label`]), the status, the
    /// client's family (after PROXY), and the time from the parsed request head to the
    /// response handed to hyper.
    fn request(&self, route: &'static str, status: u16, family: Family, elapsed: Duration) {
        let _ = (route, status, family, elapsed);
    }
    /// The UDP whoami answered a datagram from a client of `family`.
    fn udp_reply(&self, family: Family) {
        let _ = family;
    }
    /// The UDP whoami dropped a datagram.
    fn udp_drop(&self, reason: UdpRefusal) {
        let _ = reason;
    }
}
