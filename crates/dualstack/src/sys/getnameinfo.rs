//! `getnameinfo(3)` with `NI_NAMEREQD`: the system's reverse lookup (NSS: files, dns, ...).
//!
//! Blocking, and unbounded in time: glibc retries every name server `attempts` times with
//! `timeout` seconds each, so one call can take over a minute. Callers run it on a
//! bounded pool of threads they can abandon (see `crate::reverse`).

use std::ffi::CStr;
use std::net::{IpAddr, SocketAddr};

/// Why `getnameinfo` gave no name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NameInfoError {
    /// `EAI_NONAME`: no name for the address (NXDOMAIN or no PTR record).
    NoName,
    /// `EAI_AGAIN`: temporary failure (name server unreachable, SERVFAIL, timeout).
    Again,
    /// Any other error, with `gai_strerror`'s text.
    Other(String),
}

/// The host name of `ip` as the system resolves it, with `NI_NAMEREQD` so that a missing
/// name is an error instead of the numeric address.
pub(crate) fn lookup_name(ip: IpAddr) -> Result<String, NameInfoError> {
    let sa = socket2::SockAddr::from(SocketAddr::new(ip, 0));
    let mut host = [0 as libc::c_char; libc::NI_MAXHOST as usize];
    // SAFETY: `sa` is a valid sockaddr of `sa.len()` bytes; `host` is a writable buffer
    // of the length we pass; no service buffer is requested (null, length 0).
    let rc = unsafe {
        libc::getnameinfo(
            sa.as_ptr().cast::<libc::sockaddr>(),
            sa.len(),
            host.as_mut_ptr(),
            host.len() as _, // socklen_t on Linux and macOS, size_t on FreeBSD
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    match rc {
        0 => {
            // SAFETY: on success getnameinfo wrote a NUL-terminated string into `host`.
            let name = unsafe { CStr::from_ptr(host.as_ptr()) };
            Ok(name.to_string_lossy().into_owned())
        }
        libc::EAI_NONAME => Err(NameInfoError::NoName),
        libc::EAI_AGAIN => Err(NameInfoError::Again),
        code => Err(NameInfoError::Other(gai_message(code))),
    }
}

fn gai_message(code: libc::c_int) -> String {
    if code == libc::EAI_SYSTEM {
        return std::io::Error::last_os_error().to_string();
    }
    // SAFETY: gai_strerror returns a pointer to a static NUL-terminated string.
    let msg = unsafe { CStr::from_ptr(libc::gai_strerror(code)) };
    msg.to_string_lossy().into_owned()
}
