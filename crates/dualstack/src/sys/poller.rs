//! A private readiness set for sockets the runtime does not watch (Linux `epoll`): each
//! socket is reported once, when it first becomes readable (`EPOLLONESHOT`), and the set
//! itself is watched by Tokio like any other descriptor.
//!
//! Why not Tokio's own registration: Tokio removes every socket it watches from its `epoll`
//! before closing it (`epoll_ctl(DEL)`, one more syscall per connection), and a watched
//! socket needs a task to wait on it. The kernel drops a closed socket from an `epoll` set
//! by itself, so a socket here costs one `epoll_ctl(ADD)` and nothing to leave.
//!
//! Elsewhere [`Poller::new`] fails with [`io::ErrorKind::Unsupported`] and callers keep
//! using a task per socket.

use std::io;
use std::os::fd::AsFd;

/// Most readiness events taken from the kernel in one [`Poller::ready`].
pub(crate) const BATCH: usize = 64;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use super::*;
    use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
    use std::os::fd::{AsRawFd, RawFd};
    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    /// An `epoll` descriptor, for [`AsyncFd`].
    #[derive(Debug)]
    struct Set(Epoll);

    impl AsRawFd for Set {
        fn as_raw_fd(&self) -> RawFd {
            self.0 .0.as_raw_fd()
        }
    }

    /// A private readiness set, itself watched by the current Tokio runtime.
    #[derive(Debug)]
    pub(crate) struct Poller {
        set: AsyncFd<Set>,
    }

    /// Readable, once; errors and hang-ups are always reported.
    const ONCE: EpollFlags = EpollFlags::EPOLLIN.union(EpollFlags::EPOLLONESHOT);

    impl Poller {
        /// A new, empty set, watched by the current runtime (must be called inside one).
        ///
        /// # Errors
        /// Out of descriptors or memory, or the runtime refused it.
        pub(crate) fn new() -> io::Result<Poller> {
            let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
            // SAFETY: `Epoll` owns its descriptor and offers no way to close or replace
            // it, and the `AsyncFd` owns the `Set` until it is dropped: the descriptor
            // stays the same open file for the whole registration.
            let set = unsafe { AsyncFd::register_with_interest(Set(epoll), Interest::READABLE) };
            Ok(Poller { set: set? })
        }

        /// Report `socket` under `key` once it is readable (data, the peer's close or an
        /// error). A socket in the set already (reported before, so disarmed) is armed
        /// again under the new key.
        ///
        /// # Errors
        /// The kernel refused (out of memory).
        pub(crate) fn watch(&self, socket: &impl AsFd, key: u64) -> io::Result<()> {
            let set = &self.set.get_ref().0;
            match set.add(socket, EpollEvent::new(ONCE, key)) {
                Err(nix::errno::Errno::EEXIST) => {
                    Ok(set.modify(socket, &mut EpollEvent::new(ONCE, key))?)
                }
                r => Ok(r?),
            }
        }

        /// Wait until some sockets are readable, then append the keys of at most
        /// [`BATCH`] of them to `keys`.
        ///
        /// # Cancel safety
        /// Cancel safe: keys are taken from the kernel only in the poll that returns.
        pub(crate) async fn ready(&self, keys: &mut Vec<u64>) -> io::Result<()> {
            // The set's single reader slot, not a waiter list entry per call.
            std::future::poll_fn(|cx| self.poll_ready(cx, keys)).await
        }

        fn poll_ready(
            &self,
            cx: &mut std::task::Context<'_>,
            keys: &mut Vec<u64>,
        ) -> std::task::Poll<io::Result<()>> {
            use std::task::Poll;
            loop {
                let mut guard = match self.set.poll_read_ready(cx) {
                    Poll::Ready(Ok(g)) => g,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                };
                let mut events = [EpollEvent::empty(); BATCH];
                match self.set.get_ref().0.wait(&mut events, EpollTimeout::ZERO) {
                    Ok(0) => guard.clear_ready(),
                    Ok(n) => {
                        if n < BATCH {
                            guard.clear_ready();
                        }
                        keys.extend(events[..n].iter().map(|e| e.data()));
                        return Poll::Ready(Ok(()));
                    }
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Poll::Ready(Err(e.into())),
                }
            }
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod imp {
    use super::*;

    /// Not available here: [`Poller::new`] fails.
    #[derive(Debug)]
    pub(crate) struct Poller(());

    impl Poller {
        pub(crate) fn new() -> io::Result<Poller> {
            Err(io::ErrorKind::Unsupported.into())
        }
        pub(crate) fn watch(&self, _: &impl AsFd, _: u64) -> io::Result<()> {
            Err(io::ErrorKind::Unsupported.into())
        }
        pub(crate) async fn ready(&self, _: &mut Vec<u64>) -> io::Result<()> {
            std::future::pending().await
        }
    }
}

pub(crate) use imp::Poller;

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    #[tokio::test]
    async fn reports_a_socket_once_when_readable_and_again_when_watched_again() {
        let p = Poller::new().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        p.watch(&s, 7).unwrap();
        let mut keys = Vec::new();
        let quiet = tokio::time::timeout(Duration::from_millis(50), p.ready(&mut keys)).await;
        assert!(quiet.is_err(), "reported before any data: {keys:?}");
        c.write_all(b"x").unwrap();
        tokio::time::timeout(Duration::from_secs(5), p.ready(&mut keys))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(keys, [7]);
        // Once: the byte is still unread, but the socket is not reported again...
        keys.clear();
        let again = tokio::time::timeout(Duration::from_millis(50), p.ready(&mut keys)).await;
        assert!(again.is_err(), "reported twice: {keys:?}");
        // ...until it is watched again (under a new key).
        p.watch(&s, 9).unwrap();
        tokio::time::timeout(Duration::from_secs(5), p.ready(&mut keys))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(keys, [9]);
    }
}
