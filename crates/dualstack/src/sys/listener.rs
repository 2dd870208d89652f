//! A listening socket watched by Tokio without `TcpListener`, so that accepted connections
//! can be answered before (or without) their own registration with the runtime.

use std::io;

/// Watch a listening socket on the current Tokio runtime (readable: a connection is
/// waiting). Must be called inside a runtime.
///
/// # Errors
/// The runtime could not register it.
pub(crate) fn watch(
    listener: socket2::Socket,
) -> io::Result<tokio::io::unix::AsyncFd<socket2::Socket>> {
    // SAFETY: `Socket` owns its descriptor and offers no way to close or replace it while
    // it lives, and the `AsyncFd` owns the `Socket` until it is dropped: the descriptor
    // stays the same open file for the whole registration.
    let watched = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(listener, tokio::io::Interest::READABLE)
    };
    Ok(watched?)
}

/// Accept one connection, nonblocking and close-on-exec (as Tokio's own accept makes it),
/// without waiting: nothing pending is [`io::ErrorKind::WouldBlock`].
pub(crate) fn accept_nonblocking(
    listener: &socket2::Socket,
) -> io::Result<(std::net::TcpStream, socket2::SockAddr)> {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    let (socket, addr) = listener.accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)?;
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    let (socket, addr) = {
        let (socket, addr) = listener.accept()?;
        socket.set_nonblocking(true)?;
        (socket, addr)
    };
    Ok((socket.into(), addr))
}

/// Linux `TCP_DEFER_ACCEPT`: the kernel completes an accept only once the client has sent
/// data, or after about `wait` (rounded up to whole seconds, at least one). Like nginx's
/// `listen ... deferred` and systemd's `DeferAcceptSec=`.
///
/// # Errors
/// The kernel refused, or the platform has no such option ([`io::ErrorKind::Unsupported`]).
#[cfg(feature = "server")]
pub(crate) fn set_defer_accept(
    listener: &socket2::Socket,
    wait: std::time::Duration,
) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::fd::AsRawFd;
        let secs = wait.as_secs_f64().ceil().clamp(1.0, f64::from(i32::MAX)) as libc::c_int;
        // SAFETY: a valid descriptor, and a c_int option value with its exact length.
        let rc = unsafe {
            libc::setsockopt(
                listener.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                (&secs as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (listener, wait);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "deferred accept (TCP_DEFER_ACCEPT) is Linux only",
        ))
    }
}

/// Whether `listener` defers accepts until data arrives (`TCP_DEFER_ACCEPT` set, by us or
/// by whoever passed the socket, e.g. systemd's `DeferAcceptSec=`). False where unknown.
pub(crate) fn defers_accept(listener: &socket2::Socket) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::fd::AsRawFd;
        let mut secs: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a valid descriptor, and a c_int buffer with its exact length.
        let rc = unsafe {
            libc::getsockopt(
                listener.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                (&mut secs as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        rc == 0 && secs > 0
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = listener;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(feature = "server", any(target_os = "linux", target_os = "android")))]
    fn defer_accept_is_set_and_read_back() {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
        s.listen(8).unwrap();
        assert!(!defers_accept(&s));
        set_defer_accept(&s, std::time::Duration::from_millis(1)).unwrap();
        assert!(defers_accept(&s));
    }
}
