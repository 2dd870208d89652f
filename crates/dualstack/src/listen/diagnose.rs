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
    let (reason, inode) = explain_in_use(p, &table);
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
}
