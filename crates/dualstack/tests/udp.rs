//! The UDP whoami on real loopback sockets: the reply comes from the exact address the
//! client sent to (wildcard, V6ONLY and dual sockets, both families), addresses are never
//! shown mapped, and the reply is never larger than the request.
#![cfg(feature = "server")]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use dualstack::whoami::udp::{UdpWhoami, FULL_REPLY_REQUEST};
use socket2::{Domain, Protocol, Socket, Type};
use support::netns::{sh, Netns, V4, V6};

mod support;
use tokio::net::UdpSocket;

const WAIT: Duration = Duration::from_secs(5);

fn bind(addr: &str, v6only: Option<bool>) -> std::net::UdpSocket {
    let addr: SocketAddr = addr.parse().unwrap();
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).unwrap();
    if let Some(v) = v6only {
        s.set_only_v6(v).unwrap();
    }
    s.bind(&addr.into()).unwrap();
    s.into()
}

/// Start a whoami on `sockets`; returns their ports in order.
fn serve(sockets: Vec<std::net::UdpSocket>) -> Vec<u16> {
    let ports = sockets
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect();
    let server = UdpWhoami::new(sockets).unwrap();
    tokio::spawn(server.run());
    ports
}

fn padded(keyword: &str) -> Vec<u8> {
    let mut v = keyword.as_bytes().to_vec();
    v.resize(FULL_REPLY_REQUEST, b' ');
    v
}

/// Send a padded request from a client connected to `to`; the reply must arrive (a reply
/// from any other source is filtered out by the kernel for a connected socket).
async fn ask_connected(to: SocketAddr, keyword: &str) -> (String, SocketAddr) {
    ask_connected_from(any_for(to), to, keyword).await
}

fn any_for(to: SocketAddr) -> IpAddr {
    if to.is_ipv4() {
        IpAddr::from([0, 0, 0, 0])
    } else {
        IpAddr::from([0u16; 8])
    }
}

async fn ask_connected_from(from: IpAddr, to: SocketAddr, keyword: &str) -> (String, SocketAddr) {
    let c = UdpSocket::bind((from, 0)).await.unwrap();
    c.connect(to).await.unwrap();
    c.send(&padded(keyword)).await.unwrap();
    let mut buf = [0u8; 2048];
    let n = tokio::time::timeout(WAIT, c.recv(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("no reply from {to} to a connected client"))
        .unwrap();
    (
        String::from_utf8(buf[..n].to_vec()).unwrap(),
        c.local_addr().unwrap(),
    )
}

/// Send from an unconnected client and return the reply and the address it came from.
async fn ask_unconnected(to: SocketAddr, request: &[u8]) -> Option<(String, SocketAddr)> {
    ask_unconnected_from(any_for(to), to, request).await
}

async fn ask_unconnected_from(
    from: IpAddr,
    to: SocketAddr,
    request: &[u8],
) -> Option<(String, SocketAddr)> {
    let c = UdpSocket::bind((from, 0)).await.unwrap();
    c.send_to(request, to).await.unwrap();
    let mut buf = [0u8; 2048];
    let wait = if request.len() < 16 {
        Duration::from_millis(500)
    } else {
        WAIT
    };
    let (n, from) = tokio::time::timeout(wait, c.recv_from(&mut buf))
        .await
        .ok()?
        .unwrap();
    Some((String::from_utf8(buf[..n].to_vec()).unwrap(), from))
}

/// Both ways of asking `to`: the reply comes from `to` and describes it as the local
/// address; the client's own address is shown unmapped.
async fn check_source(to: SocketAddr) {
    check_source_from(any_for(to), to).await
}

async fn check_source_from(from: IpAddr, to: SocketAddr) {
    let (reply, client) = ask_connected_from(from, to, "").await;
    assert!(reply.contains(&format!("local: {to}\r\n")), "{to}: {reply}");
    assert!(
        reply.contains(&format!("port: {}\r\n", client.port())),
        "{reply}"
    );
    let family = if to.is_ipv4() { "IPv4" } else { "IPv6" };
    assert!(reply.contains(&format!("family: {family}\r\n")), "{reply}");
    assert!(!reply.contains("ffff"), "mapped address shown: {reply}");

    let (reply, source) = ask_unconnected_from(from, to, &padded("json"))
        .await
        .expect("reply");
    assert_eq!(source, to, "reply came from the wrong source address");
    let v: serde_json::Value = serde_json::from_str(reply.trim_end()).unwrap();
    assert_eq!(v["local"], to.to_string());
    assert_eq!(v["family"], family);
    let ip: IpAddr = v["ip"].as_str().unwrap().parse().unwrap();
    if from.is_unspecified() {
        assert!(ip.is_loopback(), "{ip}");
    } else {
        assert_eq!(ip, from);
    }
    assert!(!reply.contains("ffff"), "{reply}");
}

fn at(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

#[tokio::test]
async fn ipv4_wildcard_replies_from_the_address_asked() {
    let ports = serve(vec![bind("0.0.0.0:0", None)]);
    for ip in ["127.0.0.1", "127.0.0.2", "127.3.4.5"] {
        check_source(at(ip, ports[0])).await;
    }
}

#[tokio::test]
async fn ipv6_wildcard_v6only_replies_from_the_address_asked() {
    // The port's IPv4 side is held for this test by a socket connected elsewhere: no other
    // test's IPv4 wildcard socket can draw the same port and answer in our server's place
    // (a CI run got a reply that way), and the kernel gives the guard no datagram from our
    // client, so the client still gets the ICMP port unreachable.
    let (_guard, ports) = (0..20)
        .find_map(|_| {
            let guard = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            guard.connect("127.0.0.1:9").unwrap();
            let port = guard.local_addr().unwrap().port();
            let v6 = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)).unwrap();
            v6.set_only_v6(true).unwrap();
            let addr: SocketAddr = at("::", port);
            v6.bind(&addr.into()).ok()?;
            Some((guard, serve(vec![v6.into()])))
        })
        .expect("a port free on both families");
    check_source(at("::1", ports[0])).await;
    // V6ONLY: the IPv4 side of the port is not ours.
    // A connected client learns it at once from the ICMP port unreachable.
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    c.connect(at("127.0.0.1", ports[0])).await.unwrap();
    c.send(&padded("")).await.unwrap();
    let r = tokio::time::timeout(WAIT, c.recv(&mut [0u8; 512]))
        .await
        .expect("refused, not silent");
    assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn dual_socket_replies_from_the_address_asked_both_families() {
    let ports = serve(vec![bind("[::]:0", Some(false))]);
    for ip in ["127.0.0.2", "127.0.0.1", "::1"] {
        check_source(at(ip, ports[0])).await;
    }
}

#[tokio::test]
async fn separate_sockets_in_one_server() {
    // The same port on both families, like `--listen-mode separate`.
    let v6 = bind("[::]:0", Some(true));
    let port = v6.local_addr().unwrap().port();
    let v4 = bind(&format!("0.0.0.0:{port}"), None);
    serve(vec![v4, v6]);
    check_source(at("127.0.0.2", port)).await;
    check_source(at("::1", port)).await;
}

#[tokio::test]
async fn specific_address_binds() {
    let ports = serve(vec![bind("127.0.0.2:0", None), bind("[::1]:0", None)]);
    check_source(at("127.0.0.2", ports[0])).await;
    check_source(at("::1", ports[1])).await;
}

#[tokio::test]
async fn naive_wildcard_reply_comes_from_the_wrong_source() {
    // The control experiment: without IP_PKTINFO the kernel picks the source by route,
    // 127.0.0.1 for a client on 127.0.0.1, although the client asked 127.0.0.2. This is
    // what the tests above would catch.
    let s = UdpSocket::from_std({
        let s = bind("0.0.0.0:0", None);
        s.set_nonblocking(true).unwrap();
        s
    })
    .unwrap();
    let port = s.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut buf = [0u8; 64];
        let (n, peer) = s.recv_from(&mut buf).await.unwrap();
        s.send_to(&buf[..n], peer).await.unwrap();
    });
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    c.send_to(b"x", at("127.0.0.2", port)).await.unwrap();
    let mut buf = [0u8; 64];
    let (_, from) = tokio::time::timeout(WAIT, c.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from, at("127.0.0.1", port));
}

#[tokio::test]
async fn reply_is_never_larger_than_the_request() {
    let ports = serve(vec![bind("[::]:0", Some(false))]);
    for to in [at("127.0.0.2", ports[0]), at("::1", ports[0])] {
        // Empty and tiny requests: no reply at all.
        assert_eq!(ask_unconnected(to, b"").await, None, "{to}");
        assert_eq!(ask_unconnected(to, b"hi\n").await, None, "{to}");
        // Every size: whole lines, ip first, never more bytes than sent.
        for len in [16usize, 20, 24, 30, 40, 60, 90, 120] {
            let req = vec![b' '; len];
            match ask_unconnected(to, &req).await {
                None => assert!(len < format!("ip: {}\r\n", to.ip()).len(), "{to} {len}"),
                Some((reply, from)) => {
                    assert_eq!(from, to);
                    assert!(reply.len() <= len, "{len}-byte request, reply {reply:?}");
                    assert!(reply.starts_with("ip: "), "{reply:?}");
                    assert!(reply.ends_with("\r\n"), "{reply:?}");
                }
            }
        }
        // JSON: the short object when the full one does not fit.
        let mut req = b"json".to_vec();
        req.resize(40, 0);
        let (reply, _) = ask_unconnected(to, &req).await.expect("short json");
        let v: serde_json::Value = serde_json::from_str(reply.trim_end()).unwrap();
        assert!(v.get("ip").is_some() && v.get("local").is_none(), "{reply}");
        assert!(reply.len() <= 40);
    }
}

#[tokio::test]
async fn oversized_request_gets_the_full_reply() {
    // A datagram longer than the receive buffer still counts at its full length.
    let ports = serve(vec![bind("127.0.0.1:0", None)]);
    let mut req = b"json".to_vec();
    req.resize(9000, b' ');
    let (reply, from) = ask_unconnected(at("127.0.0.1", ports[0]), &req)
        .await
        .unwrap();
    assert_eq!(from, at("127.0.0.1", ports[0]));
    assert!(reply.contains("\"local\":"), "{reply}");
}

#[tokio::test]
async fn many_clients_each_get_their_own_answer() {
    let ports = serve(vec![bind("[::]:0", Some(false))]);
    let mut tasks = Vec::new();
    for i in 0..50u32 {
        let to = if i % 2 == 0 {
            at("127.0.0.2", ports[0])
        } else {
            at("::1", ports[0])
        };
        tasks.push(tokio::spawn(async move {
            let (reply, client) = ask_connected(to, "").await;
            assert!(reply.contains(&format!("port: {}\r\n", client.port())));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[test]
fn netns_several_addresses_each_answered_from_itself() {
    // 198.51.100.10/.11 and 2001:db8::10/::11 on lo. Each client is bound to the *other*
    // address of its family, so a reply whose source the kernel picked by route would
    // come from the client's own address and be dropped: only pktinfo gets it right.
    let ran = Netns::new()
        .addr("198.51.100.11/32")
        .addr("2001:db8::11/128")
        .run(
            "netns_several_addresses_each_answered_from_itself",
            || async {
                // The kernel installs an IPv6 address's local route from a work queue, even
                // with `nodad`: datagrams sent in the first moments can vanish. Wait for it.
                for _ in 0..200 {
                    let routes = sh("ip -6 route show table local").unwrap();
                    if routes.contains("2001:db8::10 ") && routes.contains("2001:db8::11 ") {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let v4b: IpAddr = "198.51.100.11".parse().unwrap();
                let v6b: IpAddr = "2001:db8::11".parse().unwrap();
                let pairs = [
                    (IpAddr::V4(V4), v4b),
                    (v4b, IpAddr::V4(V4)),
                    (IpAddr::V6(V6), v6b),
                    (v6b, IpAddr::V6(V6)),
                ];
                // separate sockets (v4 wildcard + v6only wildcard) on one port, and a dual one
                let v6 = bind("[::]:0", Some(true));
                let sep = v6.local_addr().unwrap().port();
                let v4 = bind(&format!("0.0.0.0:{sep}"), None);
                serve(vec![v4, v6]);
                let dual = serve(vec![bind("[::]:0", Some(false))])[0];
                for port in [sep, dual] {
                    for (from, to) in pairs {
                        check_source_from(from, SocketAddr::new(to, port)).await;
                    }
                }
                // The control: a plain send_to from a wildcard socket answers from the
                // client's address here, so the checks above can fail.
                let naive = UdpSocket::bind("0.0.0.0:0").await.unwrap();
                let port = naive.local_addr().unwrap().port();
                let c = UdpSocket::bind((V4, 0)).await.unwrap();
                c.send_to(b"x", (v4b, port)).await.unwrap();
                let mut buf = [0u8; 8];
                let (n, peer) = naive.recv_from(&mut buf).await.unwrap();
                naive.send_to(&buf[..n], peer).await.unwrap();
                let (_, source) = tokio::time::timeout(WAIT, c.recv_from(&mut buf))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(source, SocketAddr::new(IpAddr::V4(V4), port));
            },
        );
    if ran.is_none() {
        eprintln!("(the loopback tests above still ran)");
    }
}
