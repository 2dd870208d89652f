//! Why listening failed, in words: `EADDRINUSE` explained from /proc (a true conflict, or
//! a dual-stack socket holding the other family's side of the port) and who holds it.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::Type;

use super::{Planned, Skipped};
use crate::addr::{unmap, unmap_socket};
use crate::sys::owner;

/// Why an `EADDRINUSE` happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InUseReason {
    /// Another socket listens on the same address and port.
    Conflict {
        /// The other socket's address, when /proc shows it.
        holder: Option<SocketAddr>,
    },
    /// We bind IPv4 and a dual socket (`[::]` with `IPV6_V6ONLY=0`, the default when
    /// `net.ipv6.bindv6only=0`) elsewhere holds the IPv4 side of the port.
    DualHoldsV4 {
        /// The dual socket's address (`[::]:port`).
        holder: SocketAddr,
    },
    /// We bind a dual socket, which needs the IPv4 port too, and an IPv4 socket holds it.
    V4HeldAgainstDual {
        /// The IPv4 socket's address.
        holder: SocketAddr,
    },
    /// No socket listens on the port, but a TCP connection uses it as its local port (an
    /// outgoing connection bound to it without `SO_REUSEADDR`, or what is left of one in
    /// `TIME_WAIT`, which blocks a bind until it expires, 60 s on Linux).
    Connection {
        /// The connection's peer (its local port is the one asked for).
        remote: SocketAddr,
        /// Its TCP state (`TIME_WAIT`, `ESTABLISHED`, ...).
        state: &'static str,
    },
}

impl fmt::Display for InUseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InUseReason::Conflict { holder: Some(h) } => {
                write!(f, "another socket listens on {}", unmap_socket(*h))
            }
            InUseReason::Conflict { holder: None } => {
                f.write_str("another socket listens on this address and port")
            }
            InUseReason::DualHoldsV4 { holder } => write!(
                f,
                "a dual-stack socket on {holder} (IPV6_V6ONLY=0) holds the IPv4 side of the \
                 port; start that program IPv6-only, or listen with one dual-stack socket here"
            ),
            InUseReason::V4HeldAgainstDual { holder } => write!(
                f,
                "a dual-stack socket needs the IPv4 side of the port too, and {holder} holds \
                 it; listen with one socket per family"
            ),
            InUseReason::Connection {
                remote,
                state: "TIME_WAIT",
            } => write!(
                f,
                "no socket listens on this port, but a closed TCP connection from it to {} \
                 is still in TIME_WAIT (it was bound without SO_REUSEADDR); it expires \
                 within 60 s",
                unmap_socket(*remote)
            ),
            InUseReason::Connection { remote, state } => write!(
                f,
                "no socket listens on this port, but a TCP connection from it to {} \
                 ({state}) uses it as its local port",
                unmap_socket(*remote)
            ),
        }
    }
}

/// A process that holds a socket, found through /proc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketOwner {
    /// Its process id.
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`).
    pub name: String,
}

/// Why listening failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// The address is in use.
    #[error(
        "cannot listen on {addr}: address already in use: {reason}{}",
        owner_text(owner)
    )]
    AddrInUse {
        /// The address we tried to bind (unmapped).
        addr: SocketAddr,
        /// Why it is taken.
        reason: InUseReason,
        /// Who holds it, when /proc can tell.
        owner: Option<SocketOwner>,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Any other error creating, binding or listening.
    #[error("cannot listen on {addr}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A host name did not resolve.
    #[error("cannot resolve listen address {host:?}")]
    Resolve {
        /// The name.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// Every address was skipped (or none was given).
    #[error("nothing to listen on: {}", skipped_text(skipped))]
    NothingBound {
        /// What was skipped, and why.
        skipped: Vec<Skipped>,
    },
}

fn owner_text(owner: &Option<SocketOwner>) -> String {
    match owner {
        Some(o) => format!(" (held by process {} {:?})", o.pid, o.name),
        None => String::new(),
    }
}

fn skipped_text(skipped: &[Skipped]) -> String {
    if skipped.is_empty() {
        return "no addresses given".into();
    }
    skipped
        .iter()
        .map(|s| format!("{}: {}", s.addr, s.error))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Turn a bind error into a [`ListenError`], explaining `EADDRINUSE` from /proc.
pub(super) fn classify(p: Planned, ty: Type, e: io::Error) -> ListenError {
    let addr = unmap_socket(p.addr);
    if e.kind() != io::ErrorKind::AddrInUse {
        return ListenError::Io { addr, source: e };
    }
    let proto = if ty == Type::STREAM {
        owner::Proto::Tcp
    } else {
        owner::Proto::Udp
    };
    let table = owner::listening(proto);
    let (mut reason, inode) = explain_in_use(p, &table);
    if reason == (InUseReason::Conflict { holder: None }) && proto == owner::Proto::Tcp {
        if let Some(r) = explain_by_connection(p, &owner::tcp_connections()) {
            reason = r;
        }
    }
    let owner = inode.and_then(owner::owner_of).map(|o| SocketOwner {
        pid: o.pid,
        name: o.name,
    });
    ListenError::AddrInUse {
        addr,
        reason,
        owner,
        source: e,
    }
}

/// Pure part of [`classify`]: which listed socket conflicts with `p`, and how.
fn explain_in_use(p: Planned, table: &[owner::ProcSocket]) -> (InUseReason, Option<u64>) {
    let port = p.addr.port();
    let same_port = |s: &&owner::ProcSocket| s.local.port() == port;
    let overlaps = |a: IpAddr, b: IpAddr| a.is_unspecified() || b.is_unspecified() || a == b;
    let want = unmap(p.addr.ip());
    // Exact family match first: a true conflict.
    if let Some(s) = table
        .iter()
        .filter(same_port)
        .find(|s| s.local.is_ipv4() == want.is_ipv4() && overlaps(s.local.ip(), want))
    {
        return (
            InUseReason::Conflict {
                holder: Some(s.local),
            },
            Some(s.inode),
        );
    }
    match want {
        IpAddr::V4(_) => {
            // No IPv4 socket holds it: a dual `[::]` (or `[::ffff:a.b.c.d]`) socket does.
            if let Some(s) = table.iter().filter(same_port).find(|s| match s.local.ip() {
                IpAddr::V6(v6) => v6.is_unspecified() || v6.to_ipv4_mapped().is_some(),
                IpAddr::V4(_) => false,
            }) {
                return (InUseReason::DualHoldsV4 { holder: s.local }, Some(s.inode));
            }
        }
        IpAddr::V6(v6) if p.v6only == Some(false) && v6.is_unspecified() => {
            if let Some(s) = table.iter().filter(same_port).find(|s| s.local.is_ipv4()) {
                return (
                    InUseReason::V4HeldAgainstDual { holder: s.local },
                    Some(s.inode),
                );
            }
        }
        IpAddr::V6(_) => {}
    }
    (InUseReason::Conflict { holder: None }, None)
}

/// When no listener explains an `EADDRINUSE`: a connection on the port (one in
/// `TIME_WAIT` first, the usual culprit), if /proc shows one.
fn explain_by_connection(p: Planned, conns: &[owner::ProcConn]) -> Option<InUseReason> {
    let want = unmap(p.addr.ip());
    let on_port = |c: &&owner::ProcConn| {
        let ip = unmap(c.local.ip());
        c.local.port() == p.addr.port()
            && (want.is_unspecified() || ip == want)
            && (p.v6only != Some(true) || ip.is_ipv6())
            && (p.addr.is_ipv6() || ip.is_ipv4())
    };
    let c = conns
        .iter()
        .filter(on_port)
        .find(|c| c.state == "TIME_WAIT")
        .or_else(|| conns.iter().find(on_port))?;
    Some(InUseReason::Connection {
        remote: c.remote,
        state: c.state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn explains_in_use() {
        let ps = |s: &str, inode| owner::ProcSocket {
            local: sa(s),
            inode,
        };
        let v4 = Planned {
            addr: sa("0.0.0.0:80"),
            v6only: None,
            group: 0,
            fallback: None,
        };
        // Only a [::]:80 listener: it must be a dual socket holding the IPv4 side.
        let (r, i) = explain_in_use(v4, &[ps("[::]:80", 7), ps("0.0.0.0:81", 8)]);
        assert_eq!(
            r,
            InUseReason::DualHoldsV4 {
                holder: sa("[::]:80")
            }
        );
        assert_eq!(i, Some(7));
        let (r, i) = explain_in_use(v4, &[ps("[::]:80", 7), ps("127.0.0.1:80", 9)]);
        assert_eq!(
            r,
            InUseReason::Conflict {
                holder: Some(sa("127.0.0.1:80"))
            }
        );
        assert_eq!(i, Some(9));
        let dual = Planned {
            addr: sa("[::]:80"),
            v6only: Some(false),
            ..v4
        };
        let (r, _) = explain_in_use(dual, &[ps("127.0.0.1:80", 9)]);
        assert_eq!(
            r,
            InUseReason::V4HeldAgainstDual {
                holder: sa("127.0.0.1:80")
            }
        );
        let (r, i) = explain_in_use(dual, &[]);
        assert_eq!((r, i), (InUseReason::Conflict { holder: None }, None));
    }

    #[test]
    fn explains_by_connection() {
        let c = |l: &str, r: &str, state| owner::ProcConn {
            local: sa(l),
            remote: sa(r),
            state,
        };
        let p = Planned {
            addr: sa("127.0.0.1:8080"),
            v6only: None,
            group: 0,
            fallback: None,
        };
        let conns = [
            c("127.0.0.1:8081", "127.0.0.1:80", "TIME_WAIT"),
            c("127.0.0.1:8080", "127.0.0.1:443", "ESTABLISHED"),
            c("127.0.0.1:8080", "127.0.0.1:80", "TIME_WAIT"),
        ];
        let r = explain_by_connection(p, &conns).unwrap();
        assert_eq!(
            r,
            InUseReason::Connection {
                remote: sa("127.0.0.1:80"),
                state: "TIME_WAIT"
            }
        );
        assert!(r.to_string().contains("TIME_WAIT"), "{r}");
        assert!(!r.to_string().contains("listens on 127"), "{r}");
        assert_eq!(
            explain_by_connection(p, &conns[1..2]).unwrap().to_string(),
            "no socket listens on this port, but a TCP connection from it to \
             127.0.0.1:443 (ESTABLISHED) uses it as its local port"
        );
        // Another address, or the other family on a V6ONLY socket: not ours to blame.
        let other = Planned {
            addr: sa("127.0.0.2:8080"),
            ..p
        };
        assert_eq!(explain_by_connection(other, &conns), None);
        let v6only = Planned {
            addr: sa("[::]:8080"),
            v6only: Some(true),
            ..p
        };
        assert_eq!(explain_by_connection(v6only, &conns), None);
        let wildcard = Planned {
            addr: sa("0.0.0.0:8080"),
            ..p
        };
        assert!(explain_by_connection(wildcard, &conns).is_some());
    }
}
