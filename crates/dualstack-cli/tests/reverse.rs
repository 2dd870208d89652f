//! Reverse lookups against the fake DNS server on loopback: names, NXDOMAIN, SERVFAIL,
//! a PTR query that never answers, forward confirmation, mapped addresses, many at once;
//! the library and the `dualstack reverse` binary. Never real DNS.

#[path = "../../dualstack/tests/support/mod.rs"]
mod support;

use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use dualstack::reverse::{Reverse, ReverseError};
use support::dns::{FakeDns, RecordType, Zone};

/// Real sockets and a loaded 2-core machine: bounds are generous, never speed claims.
const SLACK: Duration = Duration::from_secs(2);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn zone() -> Zone {
    Zone::new()
        .ptr("192.0.2.1", "good.test")
        .a("good.test", "192.0.2.1", Duration::ZERO)
        // A PTR name whose A record points elsewhere: must not be confirmed.
        .ptr("192.0.2.4", "liar.test")
        .a("liar.test", "192.0.2.99", Duration::ZERO)
        // A PTR name with no address at all.
        .ptr("192.0.2.5", "orphan.test")
        .ptr("2001:db8::1", "six.test")
        .aaaa("six.test", "2001:db8::1", Duration::ZERO)
        .never_ptr("192.0.2.3")
        .servfail("6.2.0.192.in-addr.arpa", RecordType::PTR)
}

async fn server() -> FakeDns {
    FakeDns::start("127.0.0.1:0".parse().unwrap(), zone())
        .await
        .expect("fake DNS binds on loopback")
}

fn reverse(dns: &FakeDns) -> Reverse {
    Reverse::with_name_servers(&[dns.addr()]).unwrap()
}

#[tokio::test]
async fn a_name_that_answers() {
    let dns = server().await;
    let r = reverse(&dns);
    assert_eq!(r.lookup(ip("192.0.2.1")).await.unwrap(), "good.test");
    assert_eq!(r.lookup(ip("2001:db8::1")).await.unwrap(), "six.test");
    let ptr = dns.queries_for("1.2.0.192.in-addr.arpa", RecordType::PTR);
    assert_eq!(ptr.len(), 1, "{:?}", dns.queries());
}

#[tokio::test]
async fn nxdomain_is_not_found() {
    let dns = server().await;
    let err = reverse(&dns).lookup(ip("192.0.2.2")).await.unwrap_err();
    assert_eq!(
        err,
        ReverseError::NotFound {
            ip: ip("192.0.2.2"),
            nxdomain: true
        }
    );
    assert_eq!(err.to_string(), "no PTR record for 192.0.2.2 (NXDOMAIN)");
}

#[tokio::test]
async fn servfail_is_a_failure_not_a_hang() {
    let dns = server().await;
    let r = reverse(&dns).timeout(Duration::from_secs(1));
    let start = Instant::now();
    let err = r.lookup(ip("192.0.2.6")).await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(1) + SLACK);
    assert_eq!(
        err,
        ReverseError::Failed {
            ip: ip("192.0.2.6"),
            reason: "the name server answered Server Failure".into()
        }
    );
}

#[tokio::test]
async fn a_ptr_query_that_never_answers_times_out() {
    let dns = server().await;
    let timeout = Duration::from_millis(300);
    let r = reverse(&dns).timeout(timeout);
    let start = Instant::now();
    let err = r.lookup(ip("192.0.2.3")).await.unwrap_err();
    let elapsed = start.elapsed();
    assert_eq!(
        err,
        ReverseError::Timeout {
            ip: ip("192.0.2.3"),
            timeout
        }
    );
    assert!(elapsed >= timeout, "{elapsed:?}");
    assert!(elapsed < timeout + SLACK, "{elapsed:?}");
    assert!(!dns
        .queries_for("3.2.0.192.in-addr.arpa", RecordType::PTR)
        .is_empty());
}

/// On a paused clock the deadline is exact: every never-answered lookup ends at the
/// timeout to the nanosecond, however many run at once.
#[tokio::test(start_paused = true)]
async fn many_never_answered_lookups_end_exactly_at_the_deadline() {
    let mut zone = Zone::new();
    let ips: Vec<IpAddr> = (10..60).map(|i| ip(&format!("192.0.2.{i}"))).collect();
    for a in &ips {
        zone = zone.never_ptr(&a.to_string());
    }
    let dns = FakeDns::start("127.0.0.1:0".parse().unwrap(), zone)
        .await
        .unwrap();
    let timeout = Duration::from_millis(500);
    let r = reverse(&dns).timeout(timeout);
    let start = tokio::time::Instant::now();
    let results = r.lookup_all(ips.clone()).await;
    assert_eq!(tokio::time::Instant::now() - start, timeout);
    assert_eq!(results.len(), ips.len());
    for ((got_ip, res), want) in results.iter().zip(&ips) {
        assert_eq!(got_ip, want);
        assert_eq!(res, &Err(ReverseError::Timeout { ip: *want, timeout }));
    }
}

#[tokio::test]
async fn many_addresses_concurrently_each_within_the_timeout() {
    let mut zone = Zone::new();
    let mut ips = Vec::new();
    for i in 10..40 {
        let a = format!("192.0.2.{i}");
        // Each answer takes 200 ms: one after another they would need 6 s.
        zone = zone.ptr_delayed(&a, &format!("h{i}.test"), Duration::from_millis(200));
        ips.push(ip(&a));
    }
    for i in 40..60 {
        let a = format!("192.0.2.{i}");
        zone = zone.never_ptr(&a);
        ips.push(ip(&a));
    }
    let dns = FakeDns::start("127.0.0.1:0".parse().unwrap(), zone)
        .await
        .unwrap();
    let timeout = Duration::from_millis(1500);
    let r = reverse(&dns).timeout(timeout);
    let start = Instant::now();
    let results = r.lookup_all(ips.clone()).await;
    let elapsed = start.elapsed();
    assert!(
        elapsed >= timeout,
        "the never-answered ones wait: {elapsed:?}"
    );
    assert!(elapsed < timeout + SLACK, "{elapsed:?}");
    for (i, (got_ip, res)) in results.iter().enumerate() {
        assert_eq!(*got_ip, ips[i]);
        let n = i + 10;
        if n < 40 {
            assert_eq!(res.as_deref(), Ok(format!("h{n}.test").as_str()));
        } else {
            assert_eq!(
                res,
                &Err(ReverseError::Timeout {
                    ip: ips[i],
                    timeout
                })
            );
        }
    }
}

#[tokio::test]
async fn verify_passes_when_the_name_resolves_back() {
    let dns = server().await;
    let r = reverse(&dns).verify(true);
    assert_eq!(r.lookup(ip("192.0.2.1")).await.unwrap(), "good.test");
    assert_eq!(r.lookup(ip("2001:db8::1")).await.unwrap(), "six.test");
    // IPv4 address: the A record is checked, not AAAA.
    assert_eq!(dns.queries_for("good.test", RecordType::A).len(), 1);
    assert!(dns.queries_for("good.test", RecordType::AAAA).is_empty());
    assert_eq!(dns.queries_for("six.test", RecordType::AAAA).len(), 1);
}

#[tokio::test]
async fn verify_fails_when_the_name_points_elsewhere() {
    let dns = server().await;
    let r = reverse(&dns).verify(true);
    let err = r.lookup(ip("192.0.2.4")).await.unwrap_err();
    assert_eq!(
        err,
        ReverseError::NotConfirmed {
            ip: ip("192.0.2.4"),
            name: "liar.test".into(),
            found: vec![ip("192.0.2.99")],
        }
    );
    let err = r.lookup(ip("192.0.2.5")).await.unwrap_err();
    assert_eq!(
        err,
        ReverseError::NotConfirmed {
            ip: ip("192.0.2.5"),
            name: "orphan.test".into(),
            found: vec![],
        }
    );
    // Without --verify the unconfirmed name is returned as is.
    assert_eq!(
        reverse(&dns).lookup(ip("192.0.2.4")).await.unwrap(),
        "liar.test"
    );
}

#[tokio::test]
async fn a_mapped_address_is_looked_up_as_ipv4() {
    let dns = server().await;
    let r = reverse(&dns).verify(true);
    assert_eq!(r.lookup(ip("::ffff:192.0.2.1")).await.unwrap(), "good.test");
    assert_eq!(
        dns.queries_for("1.2.0.192.in-addr.arpa", RecordType::PTR)
            .len(),
        1
    );
    assert!(
        dns.queries().iter().all(|q| !q.name.ends_with("ip6.arpa")),
        "{:?}",
        dns.queries()
    );
    let err = r.lookup(ip("::ffff:192.0.2.2")).await.unwrap_err();
    assert_eq!(
        err.ip(),
        ip("192.0.2.2"),
        "errors name the unmapped address"
    );
}

// ---- the binary ----

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dualstack"))
        .arg("reverse")
        .args(args)
        .output()
        .expect("the dualstack binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// The CLI runs its own runtime; the fake server needs one that outlives the child.
fn with_server<T>(zone: Zone, f: impl FnOnce(SocketAddr) -> T) -> T {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dns = rt
        .block_on(FakeDns::start("127.0.0.1:0".parse().unwrap(), zone))
        .unwrap();
    let out = f(dns.addr());
    drop(dns);
    out
}

#[test]
fn cli_prints_names_or_numeric_addresses_and_exits_0() {
    with_server(zone(), |ns| {
        let ns = ns.to_string();
        let start = Instant::now();
        let o = run(&[
            "--dns-server",
            &ns,
            "--timeout",
            "400ms",
            "192.0.2.1",
            "192.0.2.2",
            "192.0.2.3",
            "::ffff:192.0.2.1",
        ]);
        let elapsed = start.elapsed();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(
            stdout(&o),
            "192.0.2.1  good.test\n\
             192.0.2.2  192.0.2.2  no name (NXDOMAIN)\n\
             192.0.2.3  192.0.2.3  no name (timed out after 400 ms)\n\
             192.0.2.1  good.test\n"
        );
        assert!(stderr(&o).is_empty(), "{}", stderr(&o));
        assert!(elapsed < Duration::from_millis(400) + SLACK, "{elapsed:?}");
    });
}

#[test]
fn cli_name_required_exits_1_with_the_reason() {
    with_server(zone(), |ns| {
        let ns = ns.to_string();
        let o = run(&[
            "--dns-server",
            &ns,
            "--name-required",
            "192.0.2.1",
            "192.0.2.2",
        ]);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(
            stderr(&o),
            "dualstack: no PTR record for 192.0.2.2 (NXDOMAIN)\n"
        );
        // Every address is still printed.
        assert_eq!(stdout(&o).lines().count(), 2);
        let o = run(&["--dns-server", &ns, "--name-required", "192.0.2.1"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    });
}

#[test]
fn cli_verify_says_so() {
    with_server(zone(), |ns| {
        let ns = ns.to_string();
        let o = run(&["--dns-server", &ns, "--verify", "192.0.2.1", "192.0.2.4"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(
            stdout(&o),
            "192.0.2.1  good.test  forward-confirmed\n\
             192.0.2.4  192.0.2.4  not confirmed: liar.test does not resolve back\n"
        );
        let o = run(&[
            "--dns-server",
            &ns,
            "--verify",
            "--name-required",
            "192.0.2.4",
        ]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("liar.test (the PTR name of 192.0.2.4) does not resolve back"),
            "{}",
            stderr(&o)
        );
    });
}

#[test]
fn cli_json_one_object_per_address() {
    with_server(zone(), |ns| {
        let ns = ns.to_string();
        let o = run(&[
            "--dns-server",
            &ns,
            "--json",
            "--verify",
            "--timeout",
            "300ms",
            "192.0.2.1",
            "192.0.2.4",
            "[::ffff:192.0.2.3]:80",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let lines: Vec<serde_json::Value> = stdout(&o)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["name"], "good.test");
        assert_eq!(lines[0]["verified"], true);
        assert_eq!(lines[0]["resolver"], "hickory");
        assert_eq!(lines[1]["name"], serde_json::Value::Null);
        assert_eq!(lines[1]["display"], "192.0.2.4");
        assert_eq!(lines[1]["verified"], false);
        assert_eq!(lines[1]["error_kind"], "not-confirmed");
        assert_eq!(lines[1]["unconfirmed_name"], "liar.test");
        assert_eq!(lines[2]["input"], "[::ffff:192.0.2.3]:80");
        assert_eq!(lines[2]["address"], "192.0.2.3");
        assert_eq!(lines[2]["error_kind"], "timeout");
        let ms = lines[2]["elapsed_ms"].as_f64().unwrap();
        assert!(
            (300.0..300.0 + SLACK.as_millis() as f64).contains(&ms),
            "{ms}"
        );
    });
}

#[test]
fn cli_many_addresses_share_one_timeout() {
    let mut zone = Zone::new();
    let mut args = Vec::new();
    for i in 1..=40 {
        let a = format!("198.51.100.{i}");
        zone = zone.never_ptr(&a);
        args.push(a);
    }
    with_server(zone, |ns| {
        let ns = ns.to_string();
        let mut argv = vec!["--dns-server", &ns, "--timeout", "500ms", "--json"];
        argv.extend(args.iter().map(String::as_str));
        let start = Instant::now();
        let o = run(&argv);
        let elapsed = start.elapsed();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(stdout(&o).lines().count(), 40);
        // Sequential lookups would take 40 × 500 ms = 20 s.
        assert!(elapsed < Duration::from_millis(500) + SLACK, "{elapsed:?}");
        for l in stdout(&o).lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["error_kind"], "timeout");
        }
    });
}

#[test]
fn cli_bad_input_exits_2() {
    let o = run(&["--dns-server", "127.0.0.1:9", "not-an-address"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("dualstack: "), "{}", stderr(&o));
    let o = run(&[
        "--resolver",
        "system",
        "--dns-server",
        "127.0.0.1:9",
        "192.0.2.1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--dns-server needs --resolver hickory"));
    let o = run(&["--resolver", "bind", "192.0.2.1"]);
    assert_eq!(o.status.code(), Some(2));
}

/// The system resolver, only where the answer comes from /etc/hosts (NSS `files` first),
/// so that no DNS query leaves the machine.
#[test]
fn cli_system_resolver_reads_etc_hosts() {
    let nss = std::fs::read_to_string("/etc/nsswitch.conf").unwrap_or_default();
    let files_first = nss
        .lines()
        .find(|l| l.trim_start().starts_with("hosts:"))
        .and_then(|l| l.split_whitespace().nth(1))
        == Some("files");
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let name = hosts
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"127.0.0.1") && f.len() > 1)
        .map(|f| f[1].to_owned());
    let (true, Some(name)) = (files_first, name) else {
        eprintln!("note: /etc/hosts does not answer for 127.0.0.1 first; skipping");
        return;
    };
    let o = run(&["--resolver", "system", "--json", "--verify", "127.0.0.1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["resolver"], "system");
    assert_eq!(v["name"], name.as_str(), "{v}");
    assert_eq!(v["verified"], true, "{v}");
}

/// A network namespace whose resolv.conf names 127.0.0.1, where nftables drops all DNS:
/// the system's getnameinfo blocks there for `attempts` × `timeout` (10 s with glibc's
/// defaults). Root only; removed on drop.
struct SilentDnsNetns {
    name: String,
}

impl SilentDnsNetns {
    fn new() -> Option<SilentDnsNetns> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("note: not root; skipping the blocked-getnameinfo namespace test");
            return None;
        }
        let name = format!("dsrev-{}", std::process::id());
        let ns = SilentDnsNetns { name };
        let sh = |args: &[&str]| {
            Command::new(args[0])
                .args(&args[1..])
                .status()
                .is_ok_and(|s| s.success())
        };
        let n = ns.name.as_str();
        let dir = format!("/etc/netns/{n}");
        let ok = sh(&["ip", "netns", "add", n])
            && std::fs::create_dir_all(&dir).is_ok()
            && std::fs::write(format!("{dir}/resolv.conf"), "nameserver 127.0.0.1\n").is_ok()
            && sh(&["ip", "netns", "exec", n, "ip", "link", "set", "lo", "up"])
            && sh(&["ip", "netns", "exec", n, "nft", "add", "table", "inet", "t"])
            && sh(&[
                "ip",
                "netns",
                "exec",
                n,
                "nft",
                "add",
                "chain",
                "inet",
                "t",
                "in",
                "{ type filter hook input priority 0; }",
            ])
            && sh(&[
                "ip", "netns", "exec", n, "nft", "add", "rule", "inet", "t", "in", "udp", "dport",
                "53", "drop",
            ])
            && sh(&[
                "ip", "netns", "exec", n, "nft", "add", "rule", "inet", "t", "in", "tcp", "dport",
                "53", "drop",
            ]);
        if !ok {
            eprintln!("note: cannot set up a namespace with ip/nft here; skipping");
            return None;
        }
        Some(ns)
    }
}

impl Drop for SilentDnsNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.name));
    }
}

#[test]
fn system_resolver_abandons_a_blocked_getnameinfo() {
    let Some(ns) = SilentDnsNetns::new() else {
        return;
    };
    let start = Instant::now();
    let o = Command::new("ip")
        .args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_dualstack")])
        .args(["reverse", "--resolver", "system", "--timeout", "500ms"])
        .args([
            "--threads",
            "2",
            "--json",
            "192.0.2.1",
            "192.0.2.2",
            "2001:db8::1",
        ])
        .output()
        .unwrap();
    let elapsed = start.elapsed();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // getnameinfo would block 10 s here (glibc: 2 attempts × 5 s); the process, its
    // abandoned threads included, is gone well before the first 5 s try ends.
    assert!(elapsed < Duration::from_millis(500) + SLACK, "{elapsed:?}");
    let kinds: Vec<String> = stdout(&o)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["error_kind"].as_str().unwrap().to_owned()
        })
        .collect();
    // Two threads: two lookups time out in libc, the third never gets a thread.
    assert_eq!(kinds, ["timeout", "timeout", "busy"], "{}", stdout(&o));
    // hickory in the same namespace (same resolv.conf) ends at its deadline too.
    let o = Command::new("ip")
        .args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_dualstack")])
        .args(["reverse", "--timeout", "300ms", "--json", "192.0.2.1"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["error_kind"], "timeout", "{v}");
}
