//! systemd socket activation: adopt the descriptors passed in `LISTEN_FDS`
//! (sd_listen_fds(3)), with their `LISTEN_FDNAMES`.

use std::io;
use std::os::fd::FromRawFd;

use socket2::Socket;

/// The sockets systemd passed to this process, with their names (`FileDescriptorName=`,
/// or `unknown`/the unit name when unset). Empty when not socket-activated (no
/// `LISTEN_PID`, or it names another process).
///
/// The environment variables are removed afterwards so children do not adopt the fds.
/// Each descriptor is adopted at most once: a second call finds no variables.
pub(crate) fn inherited_sockets() -> io::Result<Vec<(String, Socket)>> {
    let fds: Vec<_> = sd_notify::listen_fds_with_names()?.collect();
    // Edition 2021: env mutation is safe to call. We do it once, at start-up, and it
    // guarantees the fds below are not adopted twice.
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    let mut out = Vec::with_capacity(fds.len());
    for (fd, name) in fds {
        // SAFETY: sd_listen_fds(3): descriptors SD_LISTEN_FDS_START.. (3 + LISTEN_FDS)
        // were passed to this process (LISTEN_PID matched) and nothing else owns them;
        // the variables are now unset, so this is the only adoption.
        let socket = unsafe { Socket::from_raw_fd(fd) };
        // A non-socket fd fails here instead of surprising us later.
        socket.r#type()?;
        out.push((name, socket));
    }
    Ok(out)
}
