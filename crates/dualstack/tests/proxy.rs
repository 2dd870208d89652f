//! PROXY protocol v1/v2 on real loopback TCP connections: trusted, untrusted, missing,
//! malformed, slow, overlong, fragmented, IPv6, and the data after the header intact.
#![cfg(feature = "server")]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dualstack::addr::{Cidr, TrustedProxies};
use dualstack::whoami::proxy::{
    FirstSpeaker, HeaderFault, Origin, ProxyError, ProxyProtocol, Version,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const V2_SIG: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

fn trusting(nets: &[&str]) -> ProxyProtocol {
    let t: TrustedProxies = nets.iter().map(|n| n.parse::<Cidr>().unwrap()).collect();
    ProxyProtocol::new(t)
}

fn v2_header(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let mut h = V2_SIG.to_vec();
    h.push(0x21); // version 2, PROXY
    let body: Vec<u8> = match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            h.push(0x11); // TCP over IPv4
            [
                &s.ip().octets()[..],
                &d.ip().octets(),
                &s.port().to_be_bytes(),
                &d.port().to_be_bytes(),
            ]
            .concat()
        }
        (SocketAddr::V6(s), SocketAddr::V6(d)) => {
            h.push(0x21); // TCP over IPv6
            [
                &s.ip().octets()[..],
                &d.ip().octets(),
                &s.port().to_be_bytes(),
                &d.port().to_be_bytes(),
            ]
            .concat()
        }
        _ => unreachable!("same family"),
    };
    // One NOOP TLV (type 4) so the TLV area is exercised too.
    let tlv = [4u8, 0, 2, 0xaa, 0xbb];
    h.extend_from_slice(&((body.len() + tlv.len()) as u16).to_be_bytes());
    h.extend_from_slice(&body);
    h.extend_from_slice(&tlv);
    h
}

/// Accept one connection on `bind`, let `client` write to it, run the check, then return
/// its result and whatever the server can read afterwards (to see the data is intact).
async fn run(
    bind: &str,
    pp: ProxyProtocol,
    first: FirstSpeaker,
    client: impl FnOnce(TcpStream) -> tokio::task::JoinHandle<()>,
) -> (Result<Origin, ProxyError>, Vec<u8>, SocketAddr) {
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let c = TcpStream::connect(addr).await.unwrap();
    let client_addr = c.local_addr().unwrap();
    let task = client(c);
    let (mut s, peer) = listener.accept().await.unwrap();
    if first == FirstSpeaker::Server {
        // The server-first check looks only at bytes already here: wait for them
        // (`readable()` may report a false positive; a peek does not).
        s.peek(&mut [0u8; 1]).await.unwrap();
    }
    let local = s.local_addr().unwrap();
    let res = pp.accept(&mut s, peer, local, first).await;
    let mut rest = Vec::new();
    if res.is_ok() {
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest))
            .await
            .expect("client closes")
            .unwrap();
    }
    task.abort();
    (res, rest, client_addr)
}

fn send(data: Vec<u8>) -> impl FnOnce(TcpStream) -> tokio::task::JoinHandle<()> {
    move |mut c| {
        tokio::spawn(async move {
            c.write_all(&data).await.unwrap();
            c.shutdown().await.unwrap();
            // Keep the socket open until the server is done reading.
            let _ = c.read(&mut [0u8; 1]).await;
        })
    }
}

#[tokio::test]
async fn v1_trusted_shows_original_client_and_names_proxy() {
    let data = b"PROXY TCP4 192.0.2.1 198.51.100.1 4000 80\r\nGET / HTTP/1.1\r\n\r\n".to_vec();
    let (res, rest, client) = run(
        "127.0.0.1:0",
        trusting(&["127.0.0.0/8"]),
        FirstSpeaker::Client,
        send(data),
    )
    .await;
    let o = res.unwrap();
    assert_eq!(o.client, "192.0.2.1:4000".parse().unwrap());
    assert_eq!(o.local, "198.51.100.1:80".parse().unwrap());
    assert_eq!(o.proxy, Some(client));
    assert_eq!(rest, b"GET / HTTP/1.1\r\n\r\n");
    let lines = o.facts().to_lines();
    assert!(lines.contains("ip: 192.0.2.1\r\n"), "{lines}");
    assert!(lines.contains(&format!("proxy: {client}\r\n")), "{lines}");
}

#[tokio::test]
async fn v1_tcp6_over_ipv6() {
    let data = b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 443\r\nhello".to_vec();
    let (res, rest, client) = run(
        "[::1]:0",
        trusting(&["::1"]),
        FirstSpeaker::Server,
        send(data),
    )
    .await;
    let o = res.unwrap();
    assert_eq!(o.client, "[2001:db8::1]:4000".parse().unwrap());
    assert_eq!(o.local, "[2001:db8::2]:443".parse().unwrap());
    assert_eq!(o.proxy, Some(client));
    assert_eq!(rest, b"hello");
}

#[tokio::test]
async fn v2_trusted_ipv4_and_ipv6() {
    for (bind, src, dst) in [
        ("127.0.0.1:0", "192.0.2.7:5555", "198.51.100.9:8080"),
        ("[::1]:0", "[2001:db8::7]:5555", "[2001:db8::9]:8080"),
    ] {
        let (src, dst): (SocketAddr, SocketAddr) = (src.parse().unwrap(), dst.parse().unwrap());
        let mut data = v2_header(src, dst);
        data.extend_from_slice(b"\x00binary\xffdata");
        let (res, rest, client) = run(
            bind,
            trusting(&["127.0.0.1/32", "::1/128"]),
            FirstSpeaker::Client,
            send(data),
        )
        .await;
        let o = res.unwrap();
        assert_eq!((o.client, o.local, o.proxy), (src, dst, Some(client)));
        assert_eq!(rest, b"\x00binary\xffdata");
    }
}

#[tokio::test]
async fn v2_mapped_addresses_are_unmapped() {
    let src: SocketAddr = "[::ffff:192.0.2.1]:1000".parse().unwrap();
    let dst: SocketAddr = "[::ffff:198.51.100.1]:80".parse().unwrap();
    let (res, _, _) = run(
        "127.0.0.1:0",
        trusting(&["127.0.0.1"]),
        FirstSpeaker::Client,
        send(v2_header(src, dst)),
    )
    .await;
    let o = res.unwrap();
    assert_eq!(o.client, "192.0.2.1:1000".parse().unwrap());
    assert_eq!(o.local, "198.51.100.1:80".parse().unwrap());
    assert!(!o.facts().to_json().contains("ffff"));
}

#[tokio::test]
async fn unknown_and_local_keep_the_real_peer() {
    let mut local_cmd = V2_SIG.to_vec();
    local_cmd.extend_from_slice(&[0x20, 0x00, 0, 0]);
    for hdr in [b"PROXY UNKNOWN\r\n".to_vec(), local_cmd] {
        let mut data = hdr;
        data.extend_from_slice(b"after");
        let (res, rest, client) = run(
            "127.0.0.1:0",
            trusting(&["127.0.0.1"]),
            FirstSpeaker::Client,
            send(data),
        )
        .await;
        let o = res.unwrap();
        assert_eq!(o.client, client);
        assert_eq!(o.proxy, None);
        assert_eq!(rest, b"after");
    }
}

#[tokio::test]
async fn untrusted_header_is_rejected() {
    let v1 = b"PROXY TCP4 192.0.2.1 198.51.100.1 4000 80\r\n".to_vec();
    let v2 = v2_header(
        "192.0.2.1:1".parse().unwrap(),
        "198.51.100.1:2".parse().unwrap(),
    );
    for data in [v1, v2] {
        for first in [FirstSpeaker::Client, FirstSpeaker::Server] {
            // Trusts ::1 only: 127.0.0.1 is untrusted.
            let (res, _, client) =
                run("127.0.0.1:0", trusting(&["::1"]), first, send(data.clone())).await;
            match res {
                Err(ProxyError::Untrusted { peer }) => assert_eq!(peer, client),
                other => panic!("{first:?}: expected Untrusted, got {other:?}"),
            }
        }
    }
    // Even a bare "PROXY " with nothing valid after it is refused.
    let (res, _, _) = run(
        "127.0.0.1:0",
        ProxyProtocol::new(TrustedProxies::new()),
        FirstSpeaker::Client,
        send(b"PROXY garbage".to_vec()),
    )
    .await;
    assert!(matches!(res, Err(ProxyError::Untrusted { .. })), "{res:?}");
    let msg = res.unwrap_err().to_string();
    assert!(msg.contains("not a trusted proxy"), "{msg}");
}

#[tokio::test]
async fn untrusted_without_header_passes_untouched() {
    for first in [FirstSpeaker::Client, FirstSpeaker::Server] {
        let (res, rest, client) = run(
            "127.0.0.1:0",
            trusting(&["::1"]),
            first,
            send(b"PROXZ is not PROXY\r\n".to_vec()),
        )
        .await;
        let o = res.unwrap();
        assert_eq!((o.client, o.proxy), (client, None));
        assert_eq!(rest, b"PROXZ is not PROXY\r\n");
    }
}

#[tokio::test]
async fn untrusted_server_first_does_not_wait() {
    // A line-protocol client that sends nothing must be greeted at once.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let _c = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (mut s, peer) = listener.accept().await.unwrap();
    let local = s.local_addr().unwrap();
    let pp = ProxyProtocol::new(TrustedProxies::new()).with_header_timeout(Duration::from_secs(30));
    let started = Instant::now();
    let o = pp
        .accept(&mut s, peer, local, FirstSpeaker::Server)
        .await
        .unwrap();
    assert_eq!(o.client, peer);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn untrusted_partial_signature_then_rest_is_rejected() {
    let (res, _, _) = run(
        "127.0.0.1:0",
        ProxyProtocol::new(TrustedProxies::new()),
        FirstSpeaker::Client,
        |mut c| {
            tokio::spawn(async move {
                c.set_nodelay(true).unwrap();
                c.write_all(b"PRO").await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
                c.write_all(b"XY UNKNOWN\r\n").await.unwrap();
                let _ = c.read(&mut [0u8; 1]).await;
            })
        },
    )
    .await;
    assert!(matches!(res, Err(ProxyError::Untrusted { .. })), "{res:?}");
}

#[tokio::test]
async fn trusted_without_header_is_rejected() {
    let (res, _, client) = run(
        "127.0.0.1:0",
        trusting(&["127.0.0.1"]),
        FirstSpeaker::Client,
        send(b"GET / HTTP/1.1\r\n\r\n".to_vec()),
    )
    .await;
    match res {
        Err(ProxyError::Missing { peer }) => assert_eq!(peer, client),
        other => panic!("expected Missing, got {other:?}"),
    }
    // Closing without a byte is a missing header too.
    let (res, _, _) = run(
        "127.0.0.1:0",
        trusting(&["127.0.0.1"]),
        FirstSpeaker::Client,
        send(Vec::new()),
    )
    .await;
    assert!(matches!(res, Err(ProxyError::Missing { .. })), "{res:?}");
}

#[tokio::test]
async fn malformed_headers_are_rejected() {
    let cases: Vec<(Vec<u8>, Version)> = vec![
        (b"PROXY TCP4 192.0.2.1 nope 1 2\r\n".to_vec(), Version::V1),
        (
            b"PROXY TCP4 192.0.2.1 192.0.2.2 1 70000\r\n".to_vec(),
            Version::V1,
        ),
        (
            b"PROXY TCP4 2001:db8::1 192.0.2.2 1 2\r\n".to_vec(),
            Version::V1,
        ),
        (
            b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n".to_vec(),
            Version::V1,
        ),
        (
            b"PROXY SCTP 192.0.2.1 192.0.2.2 1 2\r\n".to_vec(),
            Version::V1,
        ),
        (
            [V2_SIG, &[0x31, 0x11, 0, 12], &[0; 12]].concat(),
            Version::V2,
        ),
        (
            [V2_SIG, &[0x21, 0x21, 0, 12], &[0; 12]].concat(),
            Version::V2,
        ),
        (
            [V2_SIG, &[0x2f, 0x11, 0, 12], &[0; 12]].concat(),
            Version::V2,
        ),
    ];
    for (data, want) in cases {
        let (res, _, _) = run(
            "127.0.0.1:0",
            trusting(&["127.0.0.1"]),
            FirstSpeaker::Client,
            send(data.clone()),
        )
        .await;
        match res {
            Err(ProxyError::Malformed { version, .. }) => {
                assert_eq!(version, want, "{:?}", String::from_utf8_lossy(&data))
            }
            other => panic!(
                "{:?}: expected Malformed, got {other:?}",
                String::from_utf8_lossy(&data)
            ),
        }
    }
}

#[tokio::test]
async fn overlong_headers_are_rejected() {
    let mut v1 = b"PROXY UNKNOWN ".to_vec();
    v1.resize(200, b'a');
    v1.extend_from_slice(b"\r\n");
    let mut v2 = V2_SIG.to_vec();
    v2.extend_from_slice(&[0x21, 0x11]);
    v2.extend_from_slice(&60000u16.to_be_bytes());
    for (data, limit) in [(v1, 107), (v2, 1024)] {
        let (res, _, _) = run(
            "127.0.0.1:0",
            trusting(&["127.0.0.1"]).with_max_v2_header(1024),
            FirstSpeaker::Client,
            send(data),
        )
        .await;
        match res {
            Err(ProxyError::Malformed {
                fault: HeaderFault::TooLong(l),
                ..
            }) => assert_eq!(l, limit),
            other => panic!("expected TooLong, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn slow_header_times_out() {
    let pp = trusting(&["127.0.0.1"]).with_header_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let (res, _, _) = run("127.0.0.1:0", pp, FirstSpeaker::Client, |mut c| {
        tokio::spawn(async move {
            c.write_all(b"PROXY TCP4 192.0.2.1 ").await.unwrap();
            // Never finishes the header; holds the connection open.
            tokio::time::sleep(Duration::from_secs(30)).await;
        })
    })
    .await;
    match res {
        Err(ProxyError::Timeout { timeout, .. }) => {
            assert_eq!(timeout, Duration::from_millis(300))
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

#[tokio::test]
async fn closed_inside_header() {
    let (res, _, _) = run(
        "127.0.0.1:0",
        trusting(&["127.0.0.1"]),
        FirstSpeaker::Client,
        send(b"PROXY TCP4 192.0.2.1".to_vec()),
    )
    .await;
    assert!(
        matches!(res, Err(ProxyError::Closed { got: 20, .. })),
        "{res:?}"
    );
}

#[tokio::test]
async fn fragmented_header_then_data() {
    // The header in 1..7-byte pieces with pauses, the data in the last piece: every
    // byte after the header must reach the protocol.
    let mut data = b"PROXY TCP6 2001:db8::aa 2001:db8::bb 65535 1\r\n".to_vec();
    let hdr_len = data.len();
    data.extend_from_slice(b"tail");
    let (res, rest, _) = run(
        "[::1]:0",
        trusting(&["::1"]),
        FirstSpeaker::Client,
        move |mut c| {
            tokio::spawn(async move {
                c.set_nodelay(true).unwrap();
                let mut i = 0;
                let mut step = 1;
                while i < hdr_len + 2 {
                    let end = (i + step).min(hdr_len + 2);
                    c.write_all(&data[i..end]).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(15)).await;
                    i = end;
                    step = step % 7 + 1;
                }
                c.write_all(&data[i..]).await.unwrap();
                c.shutdown().await.unwrap();
                let _ = c.read(&mut [0u8; 1]).await;
            })
        },
    )
    .await;
    let o = res.unwrap();
    assert_eq!(o.client, "[2001:db8::aa]:65535".parse().unwrap());
    assert_eq!(rest, b"tail");
}

#[tokio::test]
async fn dual_socket_mapped_peer_matches_ipv4_network() {
    // A dual AF_INET6 socket reports ::ffff:127.0.0.1; the IPv4 network still matches
    // and the proxy is named unmapped.
    let sock = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None).unwrap();
    sock.set_only_v6(false).unwrap();
    sock.bind(&"[::]:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    sock.listen(8).unwrap();
    sock.set_nonblocking(true).unwrap();
    let listener = TcpListener::from_std(sock.into()).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    c.write_all(b"PROXY TCP4 192.0.2.1 198.51.100.1 4000 80\r\n")
        .await
        .unwrap();
    let (mut s, peer) = listener.accept().await.unwrap();
    assert!(peer.to_string().contains("::ffff:"), "{peer}");
    let local = s.local_addr().unwrap();
    let o = trusting(&["127.0.0.1"])
        .accept(&mut s, peer, local, FirstSpeaker::Client)
        .await
        .unwrap();
    assert_eq!(o.proxy, Some(c.local_addr().unwrap()));
    assert_eq!(o.client, "192.0.2.1:4000".parse().unwrap());
}

/// A v2 header with `tlv_len` bytes of NOOP TLV after the IPv4 addresses.
fn v2_with_tlv(src: SocketAddr, dst: SocketAddr, tlv_len: usize) -> Vec<u8> {
    let mut h = v2_header(src, dst);
    let (SocketAddr::V4(s), SocketAddr::V4(d)) = (src, dst) else {
        unreachable!("IPv4 only")
    };
    h.truncate(16);
    let body = [
        &s.ip().octets()[..],
        &d.ip().octets(),
        &s.port().to_be_bytes(),
        &d.port().to_be_bytes(),
    ]
    .concat();
    let mut tlv = vec![4u8];
    tlv.extend_from_slice(&(tlv_len as u16).to_be_bytes());
    tlv.resize(3 + tlv_len, 0xab);
    h[14..16].copy_from_slice(&((body.len() + tlv.len()) as u16).to_be_bytes());
    h.extend_from_slice(&body);
    h.extend_from_slice(&tlv);
    h
}

#[tokio::test]
async fn large_v2_headers_are_accepted_up_to_the_cap() {
    let src: SocketAddr = "192.0.2.1:40000".parse().unwrap();
    let dst: SocketAddr = "198.51.100.1:443".parse().unwrap();
    // 2 KiB and the format's maximum (16 + 65535 bytes), then data that must arrive intact.
    for tlv_len in [2000, 65_535 - 12 - 3] {
        let mut data = v2_with_tlv(src, dst, tlv_len);
        let header_len = data.len();
        data.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        let (res, rest, _) = run(
            "127.0.0.1:0",
            trusting(&["127.0.0.1"]),
            FirstSpeaker::Client,
            send(data),
        )
        .await;
        let origin = res.unwrap_or_else(|e| panic!("{header_len}-byte header: {e}"));
        assert_eq!(origin.client, src);
        assert_eq!(rest, b"GET / HTTP/1.1\r\n\r\n", "{header_len}-byte header");
    }
    // A lower cap refuses the 2 KiB header as too long.
    let (res, _, _) = run(
        "127.0.0.1:0",
        trusting(&["127.0.0.1"]).with_max_v2_header(1024),
        FirstSpeaker::Client,
        send(v2_with_tlv(src, dst, 2000)),
    )
    .await;
    assert!(
        matches!(
            res,
            Err(ProxyError::Malformed {
                fault: HeaderFault::TooLong(1024),
                ..
            })
        ),
        "{res:?}"
    );
}
