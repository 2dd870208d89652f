//! The IPv4/IPv6 interoperability matrix of UNIX Network Programming (Stevens, Fenner,
//! Rudoff), figure 12.1 and §12.2–12.3, run for real on loopback.
//!
//! Clients: an AF_INET socket to 127.0.0.1, an AF_INET6 socket to ::1, an AF_INET6 socket
//! to the mapped address ::ffff:127.0.0.1, and the dualstack connector (a name with both
//! A 127.0.0.1 and AAAA ::1 from a fake DNS server, and IP literals). Servers: an IPv4
//! listener (0.0.0.0), an IPv6 listener with IPV6_V6ONLY=1 ([::]), a dual socket ([::]
//! with IPV6_V6ONLY=0) and dualstack's `separate` mode (one socket per family).
//!
//! Each cell records whether the connect succeeded and which client address the server
//! saw: the raw `accept()` address and the address dualstack reports (unmapped). The
//! expected table is written in README.md (`### Interop matrix`); this test renders the
//! observed table in the same form and requires README to contain it verbatim.
//!
//! A server listens on one family only; the other family's port is held by a socket that
//! is bound but not listening, so a connect there is refused at once (RST) and no other
//! process can take the port during the test.

mod support;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use dualstack::addr::unmap_socket;
use dualstack::connect::{Connector, Event, EventKind, HickoryResolver};
use dualstack::listen::{self, BindOptions, ListenAddr, ListenMode, Listeners};
use socket2::{Domain, Socket, Type};
use support::dns::{FakeDns, Zone};
use tokio::net::TcpListener;

/// Every step on loopback is immediate; this only stops a broken cell from hanging.
const STEP: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Ipv4,
    Ipv6Only,
    Dual,
    Separate,
}

impl Server {
    const ALL: [Server; 4] = [
        Server::Ipv4,
        Server::Ipv6Only,
        Server::Dual,
        Server::Separate,
    ];

    fn title(self) -> &'static str {
        match self {
            Server::Ipv4 => "IPv4 listener `0.0.0.0`",
            Server::Ipv6Only => "IPv6 listener `[::]` V6ONLY=1",
            Server::Dual => "dual socket `[::]` V6ONLY=0",
            Server::Separate => "dualstack `separate`",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    /// AF_INET socket to 127.0.0.1.
    V4,
    /// AF_INET6 socket to ::1.
    V6,
    /// AF_INET6 socket (IPV6_V6ONLY=0) to ::ffff:127.0.0.1.
    V6Mapped,
    /// The connector, to a name with A 127.0.0.1 and AAAA ::1.
    ConnectorName,
    /// The connector, to the literal 127.0.0.1.
    ConnectorV4,
    /// The connector, to the literal ::1.
    ConnectorV6,
    /// The connector, to the literal ::ffff:127.0.0.1.
    ConnectorMapped,
}

impl Client {
    const ALL: [Client; 7] = [
        Client::V4,
        Client::V6,
        Client::V6Mapped,
        Client::ConnectorName,
        Client::ConnectorV4,
        Client::ConnectorV6,
        Client::ConnectorMapped,
    ];

    fn title(self) -> &'static str {
        match self {
            Client::V4 => "IPv4 socket → `127.0.0.1`",
            Client::V6 => "IPv6 socket → `::1`",
            Client::V6Mapped => "IPv6 socket → `::ffff:127.0.0.1`",
            Client::ConnectorName => "connector → `both.test` (A + AAAA)",
            Client::ConnectorV4 => "connector → `127.0.0.1`",
            Client::ConnectorV6 => "connector → `::1`",
            Client::ConnectorMapped => "connector → `::ffff:127.0.0.1`",
        }
    }
}

/// What one cell observed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Refused,
    /// Connected; the client address from `accept()` and the one dualstack reports.
    Accepted {
        raw: IpAddr,
        reported: IpAddr,
    },
}

impl Outcome {
    fn render(&self) -> String {
        match self {
            Outcome::Refused => "refused".into(),
            Outcome::Accepted { raw, reported } if raw == reported => format!("`{reported}`"),
            Outcome::Accepted { raw, reported } => format!("`{raw}` → `{reported}`"),
        }
    }
}

/// A running server of one kind on port `port` (both families' port held).
enum Running {
    Raw {
        listener: TcpListener,
        _reserved: Option<Socket>,
    },
    Separate(Listeners),
}

impl Running {
    /// The next connection's client address: raw `accept()` and reported.
    async fn accept(&mut self) -> io::Result<(SocketAddr, SocketAddr)> {
        match self {
            Running::Raw { listener, .. } => {
                let (_stream, raw) = listener.accept().await?;
                Ok((raw, unmap_socket(raw)))
            }
            Running::Separate(l) => {
                let a = l.accept().await.ok_or_else(|| io::Error::other("closed"))?;
                // One socket per family: accept() already gives the real family, and
                // `Accepted::peer` is what dualstack reports.
                Ok((a.peer, a.peer))
            }
        }
    }
}

fn any(v6: bool, port: u16) -> SocketAddr {
    if v6 {
        SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port)
    } else {
        SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port)
    }
}

/// A socket of the family of `addr` bound to it, `IPV6_V6ONLY` as given for AF_INET6.
fn bound(addr: SocketAddr, v6only: Option<bool>) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if let Some(only) = v6only {
        s.set_only_v6(only)?;
    }
    s.bind(&addr.into())?;
    Ok(s)
}

fn raw_listener(s: Socket) -> io::Result<TcpListener> {
    s.listen(128)?;
    s.set_nonblocking(true)?;
    TcpListener::from_std(s.into())
}

async fn start(server: Server) -> io::Result<(Running, u16)> {
    if server == Server::Separate {
        let opts = BindOptions {
            mode: ListenMode::Separate,
            ..BindOptions::default()
        };
        let b =
            listen::bind(&[ListenAddr::Port(0)], Type::STREAM, &opts).map_err(io::Error::other)?;
        assert_eq!(b.sockets.len(), 2, "separate mode: one socket per family");
        let port = b.sockets[0].local.port();
        return Ok((Running::Separate(Listeners::new(b.sockets)?), port));
    }
    // Listen first, then hold the same port on the other family; retry (bounded) if
    // that port is taken there by someone else.
    let mut last = None;
    for _ in 0..20 {
        let (main, other) = match server {
            Server::Ipv4 => (bound(any(false, 0), None)?, Some((true, Some(true)))),
            Server::Ipv6Only => (bound(any(true, 0), Some(true))?, Some((false, None))),
            Server::Dual => (bound(any(true, 0), Some(false))?, None),
            Server::Separate => unreachable!(),
        };
        let port = main.local_addr()?.as_socket().unwrap().port();
        let reserved = match other {
            None => None,
            Some((v6, only)) => match bound(any(v6, port), only) {
                Ok(s) => Some(s),
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            },
        };
        let listener = raw_listener(main)?;
        return Ok((
            Running::Raw {
                listener,
                _reserved: reserved,
            },
            port,
        ));
    }
    Err(last.unwrap())
}

/// Connect one raw socket (blocking; loopback connects complete or fail at once).
/// Returns the socket and its local address.
fn raw_connect(client: Client, port: u16) -> io::Result<(Socket, SocketAddr)> {
    let (domain, dest): (Domain, IpAddr) = match client {
        Client::V4 => (Domain::IPV4, Ipv4Addr::LOCALHOST.into()),
        Client::V6 => (Domain::IPV6, Ipv6Addr::LOCALHOST.into()),
        Client::V6Mapped => (Domain::IPV6, Ipv4Addr::LOCALHOST.to_ipv6_mapped().into()),
        _ => unreachable!(),
    };
    let s = Socket::new(domain, Type::STREAM, None)?;
    if client == Client::V6Mapped {
        // A mapped destination needs a socket that may speak IPv4 (RFC 3493 §5.3).
        s.set_only_v6(false)?;
    }
    s.connect_timeout(&SocketAddr::new(dest, port).into(), STEP)?;
    let local = s.local_addr()?.as_socket().unwrap();
    if client == Client::V6Mapped {
        // The client's own socket shows the mapped form; the packets are IPv4.
        assert_eq!(
            local.ip(),
            IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
            "client side of a mapped connect"
        );
    }
    Ok((s, local))
}

async fn cell(server: Server, client: Client, connector: &Connector) -> Outcome {
    let (mut running, port) = start(server).await.expect("start the server");
    // The client end stays open until the server has accepted the connection.
    let (_client_end, local): (Box<dyn std::any::Any + Send>, SocketAddr) = match client {
        Client::V4 | Client::V6 | Client::V6Mapped => {
            match tokio::task::spawn_blocking(move || raw_connect(client, port))
                .await
                .unwrap()
            {
                Ok((sock, local)) => (Box::new(sock), unmap_socket(local)),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return Outcome::Refused,
                Err(e) => panic!("{client:?} → {server:?}: unexpected error {e}"),
            }
        }
        _ => {
            let host = match client {
                Client::ConnectorName => "both.test",
                Client::ConnectorV4 => "127.0.0.1",
                Client::ConnectorV6 => "::1",
                Client::ConnectorMapped => "::ffff:127.0.0.1",
                _ => unreachable!(),
            };
            match tokio::time::timeout(STEP, connector.connect(host, port))
                .await
                .expect("the connector gives up within its timeout")
            {
                Ok(conn) => {
                    if client == Client::ConnectorName {
                        check_happy_eyeballs(server, &conn.events);
                    }
                    let local = conn.local;
                    (Box::new(conn), local)
                }
                Err(e) => {
                    let text = e.to_string();
                    assert!(text.contains("refused"), "{client:?} → {server:?}: {text}");
                    return Outcome::Refused;
                }
            }
        }
    };
    let (raw, reported) = tokio::time::timeout(STEP, running.accept())
        .await
        .expect("the server accepts the connection the client made")
        .expect("accept");
    // It is our connection: the server's view of the client is the client's own view.
    assert_eq!(reported, local, "{client:?} → {server:?}");
    Outcome::Accepted {
        raw: raw.ip(),
        reported: reported.ip(),
    }
}

/// With both A and AAAA, the first attempt goes to `::1` (RFC 6724: IPv6 first); an
/// IPv4-only server refuses it and the next attempt goes to 127.0.0.1.
fn check_happy_eyeballs(server: Server, events: &[Event]) {
    let steps: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AttemptStarted { addr, .. } => Some(format!("start {}", addr.ip())),
            EventKind::AttemptFailed { addr, .. } => Some(format!("fail {}", addr.ip())),
            EventKind::Connected { addr, .. } => Some(format!("connected {}", addr.ip())),
            _ => None,
        })
        .collect();
    let want: &[&str] = match server {
        Server::Ipv4 => &[
            "start ::1",
            "fail ::1",
            "start 127.0.0.1",
            "connected 127.0.0.1",
        ],
        _ => &["start ::1", "connected ::1"],
    };
    assert_eq!(steps, want, "{server:?}: {events:#?}");
}

/// The expected matrix: what Linux does with `net.ipv6.bindv6only=0`.
fn expected(client: Client, server: Server) -> Outcome {
    let v4: IpAddr = Ipv4Addr::LOCALHOST.into();
    let v6: IpAddr = Ipv6Addr::LOCALHOST.into();
    let mapped: IpAddr = Ipv4Addr::LOCALHOST.to_ipv6_mapped().into();
    let same = |ip| Outcome::Accepted {
        raw: ip,
        reported: ip,
    };
    // An IPv4 client of a dual socket is accepted as a mapped address (UNP §12.2);
    // dualstack reports the IPv4 address.
    let via_dual = Outcome::Accepted {
        raw: mapped,
        reported: v4,
    };
    use Client::*;
    use Server::*;
    match (client, server) {
        // IPv4 on the wire: 127.0.0.1, or ::ffff:127.0.0.1 mapped (UNP §12.3: the kernel
        // sends IPv4 when an AF_INET6 socket connects to a mapped address).
        (V4 | V6Mapped | ConnectorV4 | ConnectorMapped, Ipv4 | Separate) => same(v4),
        (V4 | V6Mapped | ConnectorV4 | ConnectorMapped, Ipv6Only) => Outcome::Refused,
        (V4 | V6Mapped | ConnectorV4 | ConnectorMapped, Dual) => via_dual,
        // IPv6 on the wire.
        (V6 | ConnectorV6, Ipv4) => Outcome::Refused,
        (V6 | ConnectorV6, Ipv6Only | Dual | Separate) => same(v6),
        // Happy Eyeballs: ::1 first (RFC 6724 prefers IPv6); refused at once by an
        // IPv4-only server, so 127.0.0.1 wins there.
        (ConnectorName, Ipv4) => same(v4),
        (ConnectorName, Ipv6Only | Dual | Separate) => same(v6),
    }
}

fn render(cells: &[(Client, Vec<Outcome>)]) -> String {
    let mut s = String::from("| client ↓ server → |");
    for srv in Server::ALL {
        s.push_str(&format!(" {} |", srv.title()));
    }
    s.push_str("\n|---|");
    for _ in Server::ALL {
        s.push_str("---|");
    }
    s.push('\n');
    for (client, row) in cells {
        s.push_str(&format!("| {} |", client.title()));
        for o in row {
            s.push_str(&format!(" {} |", o.render()));
        }
        s.push('\n');
    }
    s
}

fn ipv6_loopback_works() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_matrix_matches_readme() {
    if !ipv6_loopback_works() {
        eprintln!("note: no IPv6 loopback on this host; the interop matrix needs ::1, skipping");
        return;
    }
    let dns = FakeDns::start(
        "127.0.0.1:0".parse().unwrap(),
        Zone::new()
            .a("both.test", "127.0.0.1", Duration::ZERO)
            .aaaa("both.test", "::1", Duration::ZERO),
    )
    .await
    .unwrap();
    let connector = Connector::new()
        .resolver(Arc::new(HickoryResolver::with_name_servers(&[dns.addr()])))
        .nat64(false)
        .cache(None)
        .timeout(STEP);

    let mut observed = Vec::new();
    let mut wanted = Vec::new();
    for client in Client::ALL {
        let mut row = Vec::new();
        let mut want = Vec::new();
        for server in Server::ALL {
            row.push(cell(server, client, &connector).await);
            want.push(expected(client, server));
        }
        observed.push((client, row));
        wanted.push((client, want));
    }
    let observed = render(&observed);
    let wanted = render(&wanted);
    println!("{observed}");
    assert_eq!(
        observed, wanted,
        "observed matrix differs from the expected one"
    );
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    assert!(
        readme.contains(&wanted),
        "README.md must contain the interop matrix exactly as observed:\n{wanted}"
    );
}
