//! Creating the planned sockets: `IPV6_V6ONLY`, `SO_REUSEADDR`/`SO_REUSEPORT`, one
//! ephemeral port per group, missing families skipped, a dual socket falling back to IPv4.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use super::diagnose::classify;
use super::{plan, ListenAddr, ListenError, ListenMode, Planned};
use crate::addr::{unmap_socket, Family};
use crate::sys::errno::is_missing_family;

/// Options for [`bind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindOptions {
    /// How port-only addresses become sockets.
    pub mode: ListenMode,
    /// `SO_REUSEPORT`: let several processes (or sockets) share the port; the kernel
    /// spreads connections between them.
    pub reuse_port: bool,
    /// The `listen(2)` backlog for stream sockets. Default 1024.
    pub backlog: i32,
}

impl Default for BindOptions {
    fn default() -> Self {
        BindOptions {
            mode: ListenMode::Separate,
            reuse_port: false,
            backlog: 1024,
        }
    }
}

/// A bound (and, for TCP, listening) socket, non-blocking, ready for Tokio.
#[derive(Debug)]
pub struct Bound {
    /// The socket.
    pub socket: Socket,
    /// Its local address (unmapped; the actual port when 0 was asked for).
    pub local: SocketAddr,
    /// `IPV6_V6ONLY` for AF_INET6 sockets, `None` for AF_INET.
    pub v6only: Option<bool>,
}

impl Bound {
    /// The family of the socket itself (a dual socket is IPv6).
    pub fn family(&self) -> Family {
        match self.local {
            SocketAddr::V4(_) => Family::V4,
            SocketAddr::V6(_) => Family::V6,
        }
    }

    /// Describe an adopted socket (systemd socket activation): its local address and
    /// `IPV6_V6ONLY`.
    ///
    /// # Errors
    /// The descriptor is not an IP socket.
    pub fn from_socket(socket: Socket) -> io::Result<Bound> {
        let local = socket.local_addr()?.as_socket().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "not an IPv4/IPv6 socket")
        })?;
        let v6only = match local {
            SocketAddr::V6(_) => Some(socket.only_v6()?),
            SocketAddr::V4(_) => None,
        };
        socket.set_nonblocking(true)?;
        Ok(Bound {
            socket,
            local: if v6only == Some(false) {
                local
            } else {
                unmap_socket(local)
            },
            v6only,
        })
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.v6only {
            Some(v) => write!(f, "{} (v6only={})", self.local, u8::from(v)),
            None => write!(f, "{}", self.local),
        }
    }
}

/// An address skipped because the host lacks its family or the address.
#[derive(Debug)]
pub struct Skipped {
    /// The address that could not be bound.
    pub addr: SocketAddr,
    /// Why (`EAFNOSUPPORT`, `EADDRNOTAVAIL`).
    pub error: io::Error,
}

/// The outcome of [`bind`]: the sockets, and what was skipped with a warning.
#[derive(Debug, Default)]
pub struct Bindings {
    /// Every socket bound, in [`plan`] order.
    pub sockets: Vec<Bound>,
    /// Addresses skipped because the family or address is missing on this host.
    pub skipped: Vec<Skipped>,
}

/// Create, configure and bind one socket (and `listen` if `ty` is [`Type::STREAM`]).
///
/// Sets `SO_REUSEADDR` (stream sockets: restart while old connections are in TIME_WAIT),
/// `SO_REUSEPORT` if asked, `IPV6_V6ONLY` as planned, and non-blocking mode.
///
/// # Errors
/// The OS error of the first step that failed.
pub fn bind_one(p: &Planned, ty: Type, opts: &BindOptions) -> io::Result<Bound> {
    let domain = Domain::for_address(p.addr);
    let proto = if ty == Type::STREAM {
        Protocol::TCP
    } else {
        Protocol::UDP
    };
    let socket = Socket::new(domain, ty, Some(proto))?;
    if ty == Type::STREAM {
        socket.set_reuse_address(true)?;
    }
    if opts.reuse_port {
        socket.set_reuse_port(true)?;
    }
    if let Some(v6only) = p.v6only {
        socket.set_only_v6(v6only)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&p.addr.into())?;
    if ty == Type::STREAM {
        socket.listen(opts.backlog)?;
    }
    let local = socket
        .local_addr()?
        .as_socket()
        .map(|l| {
            if p.v6only == Some(false) {
                l
            } else {
                unmap_socket(l)
            }
        })
        .unwrap_or(p.addr);
    Ok(Bound {
        socket,
        local,
        v6only: p.v6only,
    })
}

/// Bind every address of `addrs` (see [`plan`]) as sockets of type `ty`.
///
/// A missing family or address (`EAFNOSUPPORT`, `EADDRNOTAVAIL`) is skipped with a
/// `tracing` warning and listed in [`Bindings::skipped`]; a dual socket on a host without
/// IPv6 falls back to `0.0.0.0`. Port 0 within one [`ListenAddr`] gets the same
/// ephemeral port on every family.
///
/// # Examples
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use dualstack::listen::{bind, BindOptions, ListenAddr, Listeners, Type};
///
/// let addrs = [ListenAddr::parse("8080", 8080)?]; // every family, port 8080
/// let bound = bind(&addrs, Type::STREAM, &BindOptions::default())?;
/// for s in &bound.sockets {
///     println!("listening on {} ({})", s.local, s.family());
/// }
/// let mut listeners = Listeners::new(bound.sockets)?;
/// while let Some(conn) = listeners.accept().await {
///     println!("{} on {}", conn.peer, conn.local);
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`ListenError::AddrInUse`] with the reason and owner; [`ListenError::Io`] for other
/// errors; [`ListenError::NothingBound`] when everything was skipped.
pub fn bind(addrs: &[ListenAddr], ty: Type, opts: &BindOptions) -> Result<Bindings, ListenError> {
    let planned = plan(addrs, opts.mode)?;
    // Port 0 shared by several families: a later family may find the port taken; retry
    // a few times with a fresh ephemeral port.
    let mut attempt = 0;
    loop {
        match bind_planned(&planned, ty, opts) {
            Err(ListenError::AddrInUse { .. }) if attempt < 8 && shares_port_zero(&planned) => {
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn shares_port_zero(planned: &[Planned]) -> bool {
    planned.iter().any(|p| {
        p.addr.port() == 0
            && planned
                .iter()
                .filter(|q| q.group == p.group && q.addr.port() == 0)
                .count()
                > 1
    })
}

fn bind_planned(
    planned: &[Planned],
    ty: Type,
    opts: &BindOptions,
) -> Result<Bindings, ListenError> {
    let mut out = Bindings::default();
    let mut group_port: Vec<(usize, u16)> = Vec::new();
    for p in planned {
        let mut p = *p;
        if p.addr.port() == 0 {
            if let Some(&(_, port)) = group_port.iter().find(|(g, _)| *g == p.group) {
                p.addr.set_port(port);
                if let Some(f) = p.fallback.as_mut() {
                    f.set_port(port);
                }
            }
        }
        let bound = match bind_one(&p, ty, opts) {
            Ok(b) => b,
            Err(e) if is_missing_family(&e) => {
                tracing::warn!(addr = %p.addr, error = %e, "skipping an address this host lacks");
                let fallback = p.fallback;
                out.skipped.push(Skipped {
                    addr: p.addr,
                    error: e,
                });
                let Some(fb) = fallback else { continue };
                let fbp = Planned {
                    addr: fb,
                    v6only: None,
                    group: p.group,
                    fallback: None,
                };
                match bind_one(&fbp, ty, opts) {
                    Ok(b) => b,
                    Err(e) if is_missing_family(&e) => {
                        tracing::warn!(addr = %fb, error = %e, "skipping an address this host lacks");
                        out.skipped.push(Skipped { addr: fb, error: e });
                        continue;
                    }
                    Err(e) => return Err(classify(fbp, ty, e)),
                }
            }
            Err(e) => return Err(classify(p, ty, e)),
        };
        if p.addr.port() == 0 && !group_port.iter().any(|(g, _)| *g == p.group) {
            group_port.push((p.group, bound.local.port()));
        }
        out.sockets.push(bound);
    }
    if out.sockets.is_empty() {
        return Err(ListenError::NothingBound {
            skipped: out.skipped,
        });
    }
    Ok(out)
}

/// Adopt the sockets systemd passed (socket activation, sd_listen_fds(3)), with their
/// names (`FileDescriptorName=`). Empty when the process was not socket-activated.
/// The `LISTEN_*` variables are removed so the fds are adopted once.
///
/// # Errors
/// Malformed `LISTEN_*` variables, or a passed fd that is not an IP socket.
#[cfg(feature = "server")]
pub fn from_systemd() -> io::Result<Vec<(String, Bound)>> {
    crate::sys::activation::inherited_sockets()?
        .into_iter()
        .map(|(name, s)| Ok((name, Bound::from_socket(s)?)))
        .collect()
}
