//! `dualstack probe` through the real binary, checked against what the test itself sees,
//! and (as root) inside network namespaces the test builds.

#[path = "../../dualstack/tests/support/mod.rs"]
mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::dns::{FakeDns, Zone};
use support::netns::Netns;

fn probe(args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dualstack"))
        .arg("probe")
        .arg("--json")
        .args(args)
        .output()
        .expect("run dualstack");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        out.status.code().unwrap_or(-1),
        v,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sysctl(path: &str) -> Option<bool> {
    match std::fs::read_to_string(format!("/proc/sys/{path}"))
        .ok()?
        .trim()
    {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

/// Does a TCP connect from `ip` to `ip` work? (What the report's loopback check claims.)
fn loopback_works(ip: IpAddr) -> bool {
    let Ok(l) = TcpListener::bind((ip, 0)) else {
        return false;
    };
    let addr = l.local_addr().unwrap();
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

fn conclusions(v: &Value) -> Vec<String> {
    v["conclusions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap().to_owned())
        .collect()
}

fn addresses(v: &Value) -> Vec<IpAddr> {
    v["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["address"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn as_bool(v: &Value) -> Option<bool> {
    v.as_bool()
}

#[test]
fn json_report_matches_what_the_test_observes() {
    let (code, v, _) = probe(&[]);
    assert_eq!(code, 0);

    assert_eq!(as_bool(&v["bindv6only"]), sysctl("net/ipv6/bindv6only"));
    assert_eq!(
        as_bool(&v["disable_ipv6"]["all"]),
        sysctl("net/ipv6/conf/all/disable_ipv6")
    );
    assert_eq!(
        as_bool(&v["disable_ipv6"]["lo"]),
        sysctl("net/ipv6/conf/lo/disable_ipv6")
    );

    assert_eq!(
        v["loopback"]["ipv4"]["ok"],
        loopback_works(Ipv4Addr::LOCALHOST.into())
    );
    let v6_works = loopback_works(Ipv6Addr::LOCALHOST.into());
    assert_eq!(v["loopback"]["ipv6"]["ok"], v6_works);

    // Our own dual socket: AF_INET6, V6ONLY off, [::]:0, an IPv4 client.
    let s = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None).unwrap();
    let v6only_default = s.only_v6().unwrap();
    assert_eq!(
        as_bool(&v["dual_socket"]["v6only_default"]),
        Some(v6only_default)
    );
    s.set_only_v6(false).unwrap();
    s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)).into())
        .unwrap();
    s.listen(1).unwrap();
    let l: TcpListener = s.into();
    let port = l.local_addr().unwrap().port();
    let _c = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    let (_, peer) = l.accept().unwrap();
    assert_eq!(v["dual_socket"]["accepts_ipv4"], true);
    let mapped = matches!(peer.ip(), IpAddr::V6(a) if a.to_ipv4_mapped().is_some());
    assert_eq!(v["dual_socket"]["ipv4_client_seen_as_mapped"], mapped);
    assert_eq!(
        v["dual_socket"]["ipv4_client"], "127.0.0.1",
        "shown unmapped"
    );

    let addrs = addresses(&v);
    assert!(
        addrs.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)),
        "{addrs:?}"
    );
    if v6_works {
        assert!(
            addrs.contains(&IpAddr::V6(Ipv6Addr::LOCALHOST)),
            "{addrs:?}"
        );
    }
    for a in v["addresses"].as_array().unwrap() {
        let ip: IpAddr = a["address"].as_str().unwrap().parse().unwrap();
        if ip.is_loopback() {
            assert_eq!(a["scope"], "host", "{a}");
        }
        assert_eq!(a["family"], if ip.is_ipv4() { "IPv4" } else { "IPv6" });
    }

    // Resolver: the name servers of /etc/resolv.conf, in order.
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let ns: Vec<String> = resolv
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .filter_map(|l| l.split_whitespace().next())
        .map(|s| {
            s.parse::<IpAddr>()
                .map(|ip| ip.to_string())
                .unwrap_or_default()
        })
        .collect();
    let got: Vec<String> = v["resolver"]["nameservers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, ns);
    // localhost in /etc/hosts.
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let lh: Vec<IpAddr> = hosts
        .lines()
        .map(|l| l.split('#').next().unwrap())
        .filter(|l| {
            l.split_whitespace()
                .skip(1)
                .any(|w| w.eq_ignore_ascii_case("localhost"))
        })
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(
        v["resolver"]["localhost_ipv4"],
        lh.iter().any(IpAddr::is_ipv4)
    );
    assert_eq!(
        v["resolver"]["localhost_ipv6"],
        lh.iter().any(IpAddr::is_ipv6)
    );
    assert!(!conclusions(&v).is_empty());
    assert!(v.get("target").is_none(), "no --target, no target section");
}

#[test]
fn human_report_has_plain_conclusions() {
    let out = Command::new(env!("CARGO_BIN_EXE_dualstack"))
        .arg("probe")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "bindv6only",
        "Dual socket",
        "Default routes",
        "Addresses",
        "Resolver",
        "For servers",
        "For clients",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(
        !text.contains("::ffff:127"),
        "addresses are shown unmapped:\n{text}"
    );
}

#[tokio::test]
async fn target_connects_through_the_connector() {
    // A name served by the fake DNS, listening on ::1 only (if IPv6 loopback works) or 127.0.0.1.
    let v6 = loopback_works(Ipv6Addr::LOCALHOST.into());
    let ip: IpAddr = if v6 {
        Ipv6Addr::LOCALHOST.into()
    } else {
        Ipv4Addr::LOCALHOST.into()
    };
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let zone = if v6 {
        Zone::new().aaaa("probe.test", "::1", Duration::ZERO)
    } else {
        Zone::new().a("probe.test", "127.0.0.1", Duration::ZERO)
    };
    let dns = FakeDns::start("127.0.0.1:0".parse().unwrap(), zone)
        .await
        .unwrap();
    let dns_arg = dns.addr().to_string();
    let accept = tokio::spawn(async move { listener.accept().await.map(|(_, p)| p) });
    let port_s = port.to_string();
    let (code, v, err) = tokio::task::spawn_blocking(move || {
        probe(&[
            "--target",
            "probe.test",
            &port_s,
            "--dns-server",
            &dns_arg,
            "--timeout",
            "5s",
        ])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    let t = &v["target"];
    assert_eq!(t["ok"], true, "{t}");
    assert_eq!(t["peer"], SocketAddr::new(ip, port).to_string());
    assert_eq!(t["family"], if v6 { "IPv6" } else { "IPv4" });
    assert!(t["events"].as_array().is_some_and(|e| !e.is_empty()));
    accept.await.unwrap().unwrap();

    // A refused port: the report is still printed, the exit code says the connect failed.
    let free = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let free_s = free.to_string();
    let (code, v, _) = tokio::task::spawn_blocking(move || {
        probe(&["--target", "127.0.0.1", &free_s, "--timeout", "3s"])
    })
    .await
    .unwrap();
    assert_eq!(code, 1);
    assert_eq!(v["target"]["ok"], false);
    assert!(
        v["target"]["error"].as_str().unwrap().contains("127.0.0.1"),
        "{}",
        v["target"]
    );
    assert!(v["bindv6only"].is_boolean() || v["bindv6only"].is_null());
}

#[test]
fn bad_target_port_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_dualstack"))
        .args(["probe", "--target", "localhost", "http"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid port"));
}

#[test]
fn netns_with_ipv6_disabled_says_so() {
    let Some(()) = Netns::new()
        .setup("sysctl -qw net.ipv6.conf.all.disable_ipv6=1")
        .run("netns_with_ipv6_disabled_says_so", || async {
            let (code, v, _) = probe(&[]);
            assert_eq!(code, 0);
            assert_eq!(v["disable_ipv6"]["all"], true, "{}", v["disable_ipv6"]);
            assert_eq!(v["loopback"]["ipv6"]["ok"], false, "{}", v["loopback"]);
            assert_eq!(v["loopback"]["ipv4"]["ok"], true);
            let addrs = addresses(&v);
            assert!(
                addrs.iter().all(IpAddr::is_ipv4),
                "IPv6 addresses left: {addrs:?}"
            );
            assert!(
                addrs.contains(&"198.51.100.10".parse().unwrap()),
                "{addrs:?}"
            );
            let c = conclusions(&v).join("\n");
            assert!(c.contains("IPv6 is disabled on every interface"), "{c}");
            assert!(c.contains("::1 does not work"), "{c}");
            assert!(c.contains("No default route at all"), "{c}");
            assert_eq!(v["default_routes"]["ipv4"], serde_json::json!([]));
            assert_eq!(v["default_routes"]["ipv6"], serde_json::json!([]));
        })
    else {
        return;
    };
}

#[test]
fn netns_default_routes_and_scopes_are_read_from_the_kernel() {
    let Some(()) = Netns::new()
        .addr("fe80::99/64")
        // Routes via lo are turned into reject routes by the kernel: use a tap device
        // (no reader, so nothing is ever sent) to hold real default routes.
        .setup("ip tuntap add dev tap0 mode tap && ip link set tap0 up")
        .setup("ip addr add 198.51.100.20/24 dev tap0")
        .setup("ip -6 addr add 2001:db8:1::10/64 dev tap0 nodad")
        .setup("ip route add default via 198.51.100.1 dev tap0 metric 55")
        .setup("ip -6 route add default via 2001:db8:1::1 dev tap0 metric 77")
        .run("netns_default_routes_and_scopes_are_read_from_the_kernel", || async {
            let (_, v, _) = probe(&[]);
            let r4 = &v["default_routes"]["ipv4"];
            assert_eq!(r4, &serde_json::json!([{ "interface": "tap0", "gateway": "198.51.100.1", "metric": 55 }]), "{r4}");
            let r6 = &v["default_routes"]["ipv6"];
            assert_eq!(
                r6,
                &serde_json::json!([{ "interface": "tap0", "gateway": "2001:db8:1::1", "metric": 77 }]),
                "{r6}"
            );
            let scope = |ip: &str| {
                v["addresses"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|a| a["address"] == ip)
                    .unwrap_or_else(|| panic!("{ip} not reported: {}", v["addresses"]))["scope"]
                    .clone()
            };
            assert_eq!(scope("198.51.100.10"), "private");
            assert_eq!(scope("2001:db8::10"), "private");
            assert_eq!(scope("fe80::99"), "link");
            assert_eq!(scope("::1"), "host");
            assert_eq!(scope("127.0.0.1"), "host");
            let c = conclusions(&v).join("\n");
            assert!(c.contains("Both families have a default route"), "{c}");
        })
    else {
        return;
    };
}
