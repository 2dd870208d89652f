//! Who holds a port: listening sockets from `/proc/net/{tcp,tcp6,udp,udp6}` and the
//! process owning a socket inode (`/proc/PID/fd/N -> socket:[INODE]`). Linux only; on
//! other systems, and where /proc is unreadable, every lookup finds nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A socket as `/proc/net/*` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcSocket {
    /// Local address as the kernel reports it (an AF_INET6 socket shows `::`, never mapped).
    pub local: SocketAddr,
    /// The socket's inode, to find its process.
    pub inode: u64,
}

/// The transport protocol of a `/proc/net` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    Tcp,
    Udp,
}

/// A process holding a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pub pid: u32,
    /// `/proc/PID/comm`: the command name.
    pub name: String,
}

/// Sockets in the listening state (TCP `LISTEN`, UDP unconnected) for `proto`, IPv4 table
/// first, then IPv6.
pub(crate) fn listening(proto: Proto) -> Vec<ProcSocket> {
    let (v4, v6) = match proto {
        Proto::Tcp => ("/proc/net/tcp", "/proc/net/tcp6"),
        Proto::Udp => ("/proc/net/udp", "/proc/net/udp6"),
    };
    let mut out = Vec::new();
    for path in [v4, v6] {
        if let Ok(text) = std::fs::read_to_string(path) {
            out.extend(parse_proc_net(&text, proto));
        }
    }
    out
}

/// Parse one `/proc/net/{tcp,udp}{,6}` table, keeping listening sockets only.
///
/// Addresses are hex words in host byte order (`0100007F:1F90` is 127.0.0.1:8080 on a
/// little-endian machine); state `0A` is TCP_LISTEN, `07` (TCP_CLOSE) an unconnected UDP
/// socket.
pub(crate) fn parse_proc_net(text: &str, proto: Proto) -> Vec<ProcSocket> {
    let want_state = match proto {
        Proto::Tcp => "0A",
        Proto::Udp => "07",
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
            if f.len() < 10 || f[3] != want_state {
                return None;
            }
            let local = parse_hex_addr(f[1])?;
            let inode = f[9].parse().ok()?;
            Some(ProcSocket { local, inode })
        })
        .collect()
}

/// A TCP socket that is not listening (a connection, or what is left of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcConn {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The state's name: `ESTABLISHED`, `TIME_WAIT`, ... (include/net/tcp_states.h).
    pub state: &'static str,
}

/// TCP sockets in any state but `LISTEN`, IPv4 table first.
pub(crate) fn tcp_connections() -> Vec<ProcConn> {
    let mut out = Vec::new();
    for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(path) {
            out.extend(parse_tcp_connections(&text));
        }
    }
    out
}

/// Parse one `/proc/net/tcp{,6}` table, keeping every socket that is not listening.
pub(crate) fn parse_tcp_connections(text: &str) -> Vec<ProcConn> {
    const STATES: [&str; 12] = [
        "ESTABLISHED",
        "SYN_SENT",
        "SYN_RECV",
        "FIN_WAIT1",
        "FIN_WAIT2",
        "TIME_WAIT",
        "CLOSE",
        "CLOSE_WAIT",
        "LAST_ACK",
        "LISTEN",
        "CLOSING",
        "NEW_SYN_RECV",
    ];
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 4 {
                return None;
            }
            let st = usize::from(u8::from_str_radix(f[3], 16).ok()?);
            let state = *STATES.get(st.checked_sub(1)?)?;
            if state == "LISTEN" {
                return None;
            }
            Some(ProcConn {
                local: parse_hex_addr(f[1])?,
                remote: parse_hex_addr(f[2])?,
                state,
            })
        })
        .collect()
}

fn parse_hex_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(ip, 16).ok()?.to_ne_bytes(),
        )),
        32 => {
            let mut b = [0u8; 16];
            for (i, chunk) in b.chunks_mut(4).enumerate() {
                let w = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&w.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The process holding socket `inode`, found by scanning `/proc/*/fd`. Bounded: stops at
/// the first match and skips processes it may not inspect (another user's, without root).
pub(crate) fn owner_of(inode: u64) -> Option<Owner> {
    let target = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str()) {
                let name = std::fs::read_to_string(entry.path().join("comm"))
                    .map(|s| s.trim_end().to_owned())
                    .unwrap_or_default();
                return Some(Owner { pid, name });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcp_connections() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:1F91 0100007F:D431 06 00000000:00000000 03:00001234 00000000     0        0 0 3 0000000000000000\n   2: 0100007F:1F92 0100007F:D432 01 00000000:00000000 00:00000000 00000000  1000        0 4243 1 0000000000000000 100 0 0 10 0\n";
        let c = parse_tcp_connections(v4);
        assert_eq!(c.len(), 2, "LISTEN left out");
        assert_eq!(c[0].state, "TIME_WAIT");
        assert_eq!(c[0].local.port(), 0x1F91);
        assert_eq!(c[1].state, "ESTABLISHED");
        assert!(parse_tcp_connections("x\n 0: bad").is_empty());
        assert!(parse_tcp_connections("x\n 0: 0100007F:1F90 0100007F:1F90 00 y").is_empty());
    }

    #[test]
    fn parses_tcp_and_tcp6_tables() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:1F91 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 4243 1 0000000000000000 100 0 0 10 0\n";
        let got = parse_proc_net(v4, Proto::Tcp);
        if cfg!(target_endian = "little") {
            assert_eq!(
                got,
                vec![ProcSocket {
                    local: "127.0.0.1:8080".parse().unwrap(),
                    inode: 4242
                }]
            );
        }
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1 0000000000000000 100 0 0 10 0\n   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 78 1 0000000000000000 100 0 0 10 0\n";
        let got = parse_proc_net(v6, Proto::Tcp);
        assert_eq!(got[0].local, "[::]:8080".parse().unwrap());
        if cfg!(target_endian = "little") {
            assert_eq!(got[1].local, "[::1]:80".parse().unwrap());
        }
        assert!(parse_proc_net("header\ngarbage line\n", Proto::Tcp).is_empty());
    }

    #[test]
    fn finds_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let Some(s) = listening(Proto::Tcp)
            .into_iter()
            .find(|s| s.local.port() == port)
        else {
            eprintln!("note: /proc/net/tcp unreadable, skipping");
            return;
        };
        let owner = owner_of(s.inode).expect("our own fds are readable");
        assert_eq!(owner.pid, std::process::id());
    }
}
