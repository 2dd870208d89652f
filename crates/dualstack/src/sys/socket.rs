//! Socket calls the portable libraries do not offer.

use std::io;
use std::os::fd::AsRawFd;

/// Copy what has already arrived on a stream socket into `buf` without consuming it and
/// without waiting: `recv(2)` with `MSG_PEEK | MSG_DONTWAIT`. Nothing there yet is
/// [`io::ErrorKind::WouldBlock`]; 0 is the end of the stream.
pub(crate) fn peek_now(socket: &impl AsRawFd, buf: &mut [u8]) -> io::Result<usize> {
    use nix::sys::socket::{recv, MsgFlags};
    recv(
        socket.as_raw_fd(),
        buf,
        MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)
}

/// Read what has already arrived on a stream socket into `buf`, without waiting:
/// `recv(2)` with `MSG_DONTWAIT`, whatever an event loop believes about the socket's
/// readiness. Nothing there yet is [`io::ErrorKind::WouldBlock`]; 0 is the end of the
/// stream.
pub(crate) fn recv_now(socket: &impl AsRawFd, buf: &mut [u8]) -> io::Result<usize> {
    use nix::sys::socket::{recv, MsgFlags};
    recv(socket.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT).map_err(io::Error::from)
}

/// Send `bufs` with `MSG_MORE` (Linux: hold a partial segment until more data or the
/// close; elsewhere a plain vectored send).
pub(crate) fn send_more(
    socket: &impl std::os::fd::AsFd,
    bufs: &[io::IoSlice<'_>],
) -> io::Result<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let flags = libc::MSG_MORE | libc::MSG_NOSIGNAL;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let flags = 0;
    socket2::SockRef::from(socket).send_vectored_with_flags(bufs, flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn peeks_without_consuming_or_waiting() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        let mut buf = [0u8; 8];
        let e = peek_now(&s, &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        c.write_all(b"PROXY ").unwrap();
        // Loopback delivers at once, but give the kernel a bounded moment.
        let mut n = 0;
        for _ in 0..200 {
            match peek_now(&s, &mut buf) {
                Ok(k) => {
                    n = k;
                    break;
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        }
        assert_eq!(&buf[..n], b"PROXY ");
        assert_eq!(
            peek_now(&s, &mut buf).unwrap(),
            6,
            "peek consumed the bytes"
        );
    }
}
