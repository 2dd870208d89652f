//! Errno classes the portable code asks about, so no `libc::E*` constant is named outside
//! `sys/`. Each is a question about an [`io::Error`]; the lists follow the man pages.

use std::io;

/// The host lacks the family or the address: `EAFNOSUPPORT` (no IPv6 in the kernel),
/// `EADDRNOTAVAIL` (no such local address), `EPROTONOSUPPORT`.
pub(crate) fn is_missing_family(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL | libc::EPROTONOSUPPORT)
    )
}

/// An `accept(2)` error that concerns one incoming connection only: accept again at once.
/// Linux passes already-pending network errors of the new socket to `accept` ("Error
/// handling" in accept(2)); `ENONET` exists on Linux (and Android) only.
pub(crate) fn is_accept_per_connection(e: &io::Error) -> bool {
    let Some(code) = e.raw_os_error() else {
        return e.kind() == io::ErrorKind::WouldBlock;
    };
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if code == libc::ENONET {
        return true;
    }
    matches!(
        code,
        libc::ECONNABORTED
            | libc::ECONNRESET
            | libc::EINTR
            | libc::EPROTO
            | libc::EPERM
            | libc::ENETDOWN
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH
            | libc::ETIMEDOUT
    ) || e.kind() == io::ErrorKind::WouldBlock
}

/// Out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`): back off, the
/// condition passes when connections close.
pub(crate) fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let os = io::Error::from_raw_os_error;
        assert!(is_missing_family(&os(libc::EAFNOSUPPORT)));
        assert!(!is_missing_family(&os(libc::EADDRINUSE)));
        assert!(is_accept_per_connection(&os(libc::ECONNABORTED)));
        assert!(is_accept_per_connection(&io::ErrorKind::WouldBlock.into()));
        assert!(!is_accept_per_connection(&os(libc::EMFILE)));
        assert!(is_resource_exhaustion(&os(libc::EMFILE)));
        assert!(!is_resource_exhaustion(&os(libc::EBADF)));
    }
}
