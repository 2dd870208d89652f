//! Address parsing and classification: table-driven tests (one address inside and one
//! outside each class), property tests, and the `addr` subcommand through the real binary.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;

use dualstack::addr::{self, Class, Embedding};
use proptest::prelude::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn has(a: &str, c: Class) -> bool {
    addr::classify(ip(a)).classes.contains(&c)
}

/// (class, inside, outside): every class is tested both ways.
const TABLE: &[(Class, &[&str], &[&str])] = &[
    (Class::Unspecified, &["::", "0.0.0.0"], &["::1", "0.0.0.1"]),
    (
        Class::Loopback,
        &["::1", "127.0.0.1", "127.255.255.254"],
        &["::2", "128.0.0.1", "::ffff:127.0.0.1"],
    ),
    (
        Class::Multicast,
        &["ff02::1", "ff0e::101", "224.0.0.1", "239.255.255.250"],
        &["fe80::1", "223.255.255.255", "240.0.0.1"],
    ),
    (
        Class::LinkLocal,
        &["fe80::1", "febf:ffff::1", "169.254.1.1"],
        &["fec0::1", "fe7f::1", "169.253.1.1"],
    ),
    (
        Class::SiteLocal,
        &["fec0::1", "feff::1"],
        &["fe80::1", "fc00::1"],
    ),
    (
        Class::V4Mapped,
        &["::ffff:192.0.2.1", "::ffff:0.0.0.0"],
        &["::192.0.2.1", "::fffe:c000:201", "64:ff9b::192.0.2.1"],
    ),
    (
        Class::V4Compatible,
        &["::192.0.2.1", "::0.0.0.2"],
        &["::", "::1", "::ffff:192.0.2.1", "0:0:0:0:0:1::"],
    ),
    (
        Class::MulticastInterfaceLocal,
        &["ff01::1", "ff11::1"],
        &["ff02::1", "fe01::1"],
    ),
    (
        Class::MulticastLinkLocal,
        &["ff02::1", "ff12::1:2", "224.0.0.251"],
        &["ff05::2", "224.0.1.1"],
    ),
    (Class::MulticastRealmLocal, &["ff03::1"], &["ff04::1"]),
    (Class::MulticastAdminLocal, &["ff04::1"], &["ff05::1"]),
    (
        Class::MulticastSiteLocal,
        &["ff05::2", "ff15::1:3"],
        &["ff08::1", "fec0::1"],
    ),
    (
        Class::MulticastOrgLocal,
        &["ff08::1", "239.1.2.3"],
        &["ff0e::1", "238.1.2.3"],
    ),
    (
        Class::MulticastGlobal,
        &["ff0e::101", "ff1e::1", "233.252.0.1"],
        &["ff08::1", "2001:db8::1"],
    ),
    (
        Class::UniqueLocal,
        &["fc00::1", "fd12:3456::1"],
        &["fe00::1", "fbff::1"],
    ),
    (
        Class::Documentation,
        &[
            "2001:db8::1",
            "3fff::1",
            "3fff:fff::1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.255",
        ],
        &[
            "2001:db9::1",
            "3fff:1000::1",
            "192.0.3.1",
            "198.51.101.1",
            "203.0.114.1",
        ],
    ),
    (
        Class::SixToFour,
        &["2002::1", "2002:c000:204::1"],
        &["2003::1", "2001::1"],
    ),
    (
        Class::Teredo,
        &["2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2"],
        &["2001:1::1", "2001:db8::1"],
    ),
    (
        Class::Nat64,
        &["64:ff9b::192.0.2.33"],
        &["64:ff9b:1::1", "64:ff9a::1"],
    ),
    (
        Class::Nat64LocalUse,
        &["64:ff9b:1::c000:221", "64:ff9b:1:ffff::1"],
        &["64:ff9b:2::1", "64:ff9b::1"],
    ),
    (
        Class::Benchmarking,
        &[
            "2001:2::1",
            "2001:2:0:ffff::1",
            "198.18.0.1",
            "198.19.255.255",
        ],
        &["2001:2:1::1", "198.20.0.1", "198.17.0.1"],
    ),
    (
        Class::DiscardOnly,
        &["100::1", "100::ffff:ffff:ffff:ffff"],
        &["100:0:0:1::1", "101::1"],
    ),
    (
        Class::Orchid,
        &["2001:10::1", "2001:1f::1"],
        &["2001:20::1", "2001:f::1"],
    ),
    (
        Class::OrchidV2,
        &["2001:20::1", "2001:2f::1"],
        &["2001:30::1", "2001:10::1"],
    ),
    (
        Class::IetfProtocolAssignment,
        &["2001:1::1", "2001:1ff::1", "192.0.0.9", "192.0.0.170"],
        &["2001:200::1", "192.0.1.1"],
    ),
    (
        Class::Srv6Sid,
        &["5f00::1", "5f00:ffff::1"],
        &["5f01::1", "5eff::1"],
    ),
    (
        Class::GlobalUnicast,
        &["2606:4700::1", "2a00:1450::1", "3ffe::1"],
        &["2001:db8::1", "4000::1", "fc00::1", "1fff::1"],
    ),
    (
        Class::ThisNetwork,
        &["0.1.2.3", "0.255.255.255"],
        &["1.0.0.0", "0.0.0.0"],
    ),
    (
        Class::Private,
        &["10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1"],
        &["11.0.0.1", "172.32.0.1", "172.15.255.255", "192.169.0.1"],
    ),
    (
        Class::Shared,
        &["100.64.0.1", "100.127.255.255"],
        &["100.63.255.255", "100.128.0.0"],
    ),
    (Class::Broadcast, &["255.255.255.255"], &["255.255.255.254"]),
    (
        Class::Reserved,
        &[
            "240.0.0.1",
            "255.255.255.254",
            "4000::1",
            "1fff::1",
            "e000::1",
        ],
        &["239.255.255.255", "255.255.255.255", "2606::1", "::1"],
    ),
    (Class::SixToFourRelay, &["192.88.99.1"], &["192.88.98.1"]),
    (
        Class::DsLite,
        &["192.0.0.1", "192.0.0.7"],
        &["192.0.0.8", "192.0.0.9"],
    ),
    (
        Class::Public,
        &["8.8.8.8", "1.1.1.1", "192.31.196.1"],
        &["10.0.0.1", "192.0.2.1"],
    ),
];

#[test]
fn every_class_has_an_inside_and_an_outside_address() {
    for (class, inside, outside) in TABLE {
        assert!(!inside.is_empty() && !outside.is_empty(), "{class}");
        for a in *inside {
            assert!(
                has(a, *class),
                "{a} should be {class}: {:?}",
                addr::classify(ip(a)).classes
            );
        }
        for a in *outside {
            assert!(
                !has(a, *class),
                "{a} should not be {class}: {:?}",
                addr::classify(ip(a)).classes
            );
        }
    }
}

#[test]
fn global_reachability_follows_the_iana_registries() {
    let yes = [
        "8.8.8.8",
        "192.0.0.9",
        "192.31.196.1",
        "2606:4700::1",
        "64:ff9b::1.2.3.4",
        "2001:1::1",
        "2001:20::1",
        "ff0e::1",
        "233.252.0.1",
    ];
    let no = [
        "10.0.0.1",
        "100.64.0.1",
        "127.0.0.1",
        "169.254.0.1",
        "192.0.2.1",
        "198.18.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "0.0.0.0",
        "224.0.0.1",
        "239.1.1.1",
        "::",
        "::1",
        "::ffff:8.8.8.8",
        "2001:db8::1",
        "3fff::1",
        "fc00::1",
        "fe80::1",
        "fec0::1",
        "2001:2::1",
        "100::1",
        "64:ff9b:1::1",
        "2002::1",
        "2001::1",
        "5f00::1",
        "ff02::1",
        "ff05::1",
        "4000::1",
    ];
    for a in yes {
        assert!(
            addr::classify(ip(a)).globally_reachable,
            "{a} should be globally reachable"
        );
    }
    for a in no {
        assert!(
            !addr::classify(ip(a)).globally_reachable,
            "{a} should not be globally reachable"
        );
    }
}

#[test]
fn embedded_ipv4_addresses() {
    let cases = [
        ("::ffff:192.0.2.1", "192.0.2.1", Embedding::V4Mapped),
        ("::192.0.2.2", "192.0.2.2", Embedding::V4Compatible),
        ("2002:c000:204::1", "192.0.2.4", Embedding::SixToFour),
        ("64:ff9b::192.0.2.33", "192.0.2.33", Embedding::Nat64),
        // Local-use /48 prefix: the address straddles the "u" octet (RFC 6052 §2.2).
        ("64:ff9b:1:c000:2:2100::", "192.0.2.33", Embedding::Nat64),
    ];
    for (a, v4, how) in cases {
        let e = addr::classify(ip(a))
            .embedded_ipv4
            .unwrap_or_else(|| panic!("{a} embeds nothing"));
        assert_eq!((e.address.to_string().as_str(), e.how), (v4, how), "{a}");
    }
    assert!(addr::classify(ip("2001:db8::1")).embedded_ipv4.is_none());
}

#[test]
fn teredo_parts_are_deobfuscated() {
    let t = addr::classify(ip("2001:0:4136:e378:8000:63bf:3fff:fdd2"))
        .teredo
        .unwrap();
    assert_eq!(t.server, Ipv4Addr::new(65, 54, 227, 120));
    assert_eq!(t.client, Ipv4Addr::new(192, 0, 2, 45));
    assert_eq!(t.port, 40000);
    assert_eq!(t.flags, 0x8000);
    assert!(addr::classify(ip("2002::1")).teredo.is_none());
}

#[test]
fn reverse_names() {
    assert_eq!(
        addr::reverse_name(ip("192.0.2.4")),
        "4.2.0.192.in-addr.arpa."
    );
    assert_eq!(
        addr::reverse_name(ip("2001:db8::567:89ab")),
        "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
    );
}

#[test]
fn nat64_all_prefix_lengths_round_trip() {
    let v4 = Ipv4Addr::new(192, 0, 2, 33);
    let prefix: Ipv6Addr = "2001:db8:122:344::".parse().unwrap();
    // RFC 6052 §2.4 table, 192.0.2.33 under 2001:db8:122:344::/N.
    let expect = [
        (32, "2001:db8:c000:221::"),
        (40, "2001:db8:1c0:2:21::"),
        (48, "2001:db8:122:c000:2:2100::"),
        (56, "2001:db8:122:3c0:0:221::"),
        (64, "2001:db8:122:344:c0:2:2100:0"),
        (96, "2001:db8:122:344::c000:221"),
    ];
    for (len, text) in expect {
        let got = addr::nat64_synthesize(prefix, len, v4).unwrap();
        assert_eq!(got, text.parse::<Ipv6Addr>().unwrap(), "/{len}");
        assert_eq!(addr::nat64_extract(got, len), Some(v4), "/{len}");
    }
    assert_eq!(addr::nat64_synthesize(prefix, 33, v4), None);
    assert_eq!(addr::nat64_extract(prefix, 0), None);
}

#[test]
fn parse_accepts_every_written_form() {
    let ok = [
        ("192.0.2.1", "192.0.2.1", None, None),
        (" 192.0.2.1 ", "192.0.2.1", None, None),
        ("192.0.2.1:80", "192.0.2.1", None, Some(80)),
        ("2001:db8::1", "2001:db8::1", None, None),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1", None, None),
        (
            "2001:0db8:0000:0000:0000:0000:0000:0001",
            "2001:db8::1",
            None,
            None,
        ),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1", None, None),
        ("0:0:0:0:0:ffff:192.0.2.1", "::ffff:192.0.2.1", None, None),
        ("[::1]", "::1", None, None),
        ("[::1]:80", "::1", None, Some(80)),
        ("fe80::1%lo", "fe80::1", Some("lo"), None),
        ("fe80::1%2", "fe80::1", Some("2"), None),
        ("[fe80::1%eth0]:22", "fe80::1", Some("eth0"), Some(22)),
        ("::", "::", None, None),
        ("[::]:0", "::", None, Some(0)),
    ];
    for (input, addr_text, zone, port) in ok {
        let p = addr::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(p.ip, ip(addr_text), "{input}");
        assert_eq!(p.zone.as_deref(), zone, "{input}");
        assert_eq!(p.port, port, "{input}");
    }
}

#[test]
fn parse_rejects_bad_input_naming_it() {
    let bad = [
        "",
        "   ",
        "not-an-address",
        "1.2.3.4.5",
        "::g",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3",
        "[::1",
        "[::1]80",
        "[::1]:",
        "[::1]:65536",
        "::1:80:",
        "192.0.2.1:",
        "192.0.2.1:x",
        "192.0.2.1%eth0",
        "fe80::1%",
        "[192.0.2.1]:80",
        "2001:db8::1::2",
        ":::",
        "[]",
        "1.2.3.4:99999999999999999999",
        "::1%a%b",
        "fe80::1%\u{0}",
    ];
    for input in bad {
        let e = addr::parse(input).expect_err(input);
        assert_eq!(e.input, input);
        assert!(e.to_string().contains(&format!("{input:?}")), "{e}");
    }
}

#[test]
fn unmap_and_family() {
    assert_eq!(addr::unmap(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
    assert_eq!(
        addr::unmap(ip("::10.0.0.1")),
        ip("::10.0.0.1"),
        "compatible is not mapped"
    );
    assert_eq!(addr::Family::of(ip("::ffff:10.0.0.1")), addr::Family::V4);
    let sa = addr::unmap_socket("[::ffff:127.0.0.1]:8080".parse().unwrap());
    assert_eq!(sa, "127.0.0.1:8080".parse().unwrap());
    let scoped = "[fe80::1%2]:80".parse().unwrap();
    assert_eq!(
        addr::unmap_socket(scoped),
        scoped,
        "scope id kept on real IPv6"
    );
}

proptest! {
    #[test]
    fn v4_mapped_round_trips(bits: u32) {
        let v4 = Ipv4Addr::from(bits);
        let mapped = addr::to_mapped(v4);
        prop_assert_eq!(addr::unmap(IpAddr::V6(mapped)), IpAddr::V4(v4));
        let c = addr::classify(IpAddr::V6(mapped));
        prop_assert!(c.classes.contains(&Class::V4Mapped));
        prop_assert_eq!(c.embedded_ipv4.map(|e| e.address), Some(v4));
    }

    #[test]
    fn text_parse_text_is_stable(bits: u128, v4: u32, port: Option<u16>, v6: bool) {
        let ip = if v6 { IpAddr::V6(Ipv6Addr::from(bits)) } else { IpAddr::V4(Ipv4Addr::from(v4)) };
        let first = addr::ParsedAddr { ip, zone: None, port }.to_string();
        let parsed = addr::parse(&first).unwrap();
        prop_assert_eq!(parsed.ip, ip);
        prop_assert_eq!(parsed.port, port);
        prop_assert_eq!(parsed.to_string(), first);
    }

    #[test]
    fn classify_never_panics_and_is_consistent(bits: u128) {
        let a = Ipv6Addr::from(bits);
        let c = addr::classify(IpAddr::V6(a));
        prop_assert!(!c.classes.is_empty(), "{} has no class", a);
        prop_assert_eq!(c.reverse_name.len(), 73);
        prop_assert_eq!(c.classes.contains(&Class::Multicast), a.is_multicast());
    }

    #[test]
    fn parse_never_panics(s in "\\PC{0,64}") {
        let _ = addr::parse(&s);
    }
}

fn dualstack(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dualstack"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_json_for_the_issue_examples() {
    let out = dualstack(&[
        "addr",
        "--json",
        "::ffff:192.0.2.1",
        "2001:db8::1",
        "2002:c000:204::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "64:ff9b::192.0.2.33",
        "fe80::1%lo",
        "10.1.2.3",
        "100.64.0.1",
    ]);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8);
    let classes = |i: usize| {
        lines[i]["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(classes(0), ["v4-mapped"]);
    assert_eq!(lines[0]["embedded_ipv4"]["address"], "192.0.2.1");
    assert_eq!(classes(1), ["documentation"]);
    assert_eq!(lines[2]["embedded_ipv4"]["address"], "192.0.2.4");
    assert_eq!(lines[3]["teredo"]["server"], "65.54.227.120");
    assert_eq!(lines[3]["teredo"]["client"], "192.0.2.45");
    assert_eq!(lines[3]["teredo"]["port"], 40000);
    assert_eq!(lines[4]["embedded_ipv4"]["address"], "192.0.2.33");
    assert_eq!(classes(4), ["nat64"]);
    assert_eq!(lines[5]["zone"], "lo");
    assert_eq!(classes(5), ["link-local"]);
    assert_eq!(classes(6), ["private"]);
    assert_eq!(classes(7), ["shared"]);
    assert_eq!(lines[7]["globally_reachable"], false);
}

#[test]
fn cli_bad_input_exits_2_naming_it_and_reports_the_rest() {
    let out = dualstack(&["addr", "not-an-address"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("dualstack: ") && err.contains("not-an-address"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let out = dualstack(&["addr", "1.2.3.4.5", "::1", "::g"]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("::1\n") && stdout.contains("loopback"),
        "{stdout}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"1.2.3.4.5\"") && err.contains("\"::g\""),
        "{err}"
    );
}

#[test]
fn cli_usage_errors_exit_2_and_help_has_an_example() {
    assert_eq!(dualstack(&["addr"]).status.code(), Some(2));
    assert_eq!(dualstack(&["no-such-command"]).status.code(), Some(2));
    let help = dualstack(&["addr", "--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("dualstack addr --json"));
}

#[test]
fn cli_closed_stdout_exits_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let args: Vec<String> = std::iter::once("addr".to_owned())
        .chain((0..20_000).map(|i| format!("10.0.{}.{}", i / 256 % 256, i % 256)))
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dualstack"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then drop: pipe closed
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {err}");
    assert!(err.is_empty(), "no message on a closed pipe: {err}");
}
