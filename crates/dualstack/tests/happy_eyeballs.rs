//! The Happy Eyeballs algorithm (RFC 8305) on a paused clock: a scripted resolver and a
//! scripted connector, every scenario asserting the winner and the exact virtual time.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use dualstack::addr::Family;
use dualstack::connect::{
    Cause, ConnectError, Connector, EventKind, OutcomeCache, Reason, ResolveError, Script,
    ScriptedAttempt, ScriptedResolver,
};
use tokio::time::Instant;

const PORT: u16 = 443;
const V6A: &str = "2001:db8::1";
const V6B: &str = "2001:db8::2";
const V6C: &str = "2001:db8::3";
const V6D: &str = "2001:db8::4";
const V4A: &str = "192.0.2.1";
const V4B: &str = "192.0.2.2";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
fn sa(s: &str) -> SocketAddr {
    SocketAddr::new(ip(s), PORT)
}
fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
fn ips(v: &[&str]) -> Vec<IpAddr> {
    v.iter().map(|s| ip(s)).collect()
}

fn dns(v6: (u64, &[&str]), v4: (u64, &[&str])) -> ScriptedResolver {
    ScriptedResolver::new()
        .answer(Family::V6, ms(v6.0), &ips(v6.1))
        .answer(Family::V4, ms(v4.0), &ips(v4.1))
}

fn connector(r: ScriptedResolver) -> Connector {
    Connector::new().resolver(Arc::new(r))
}

/// Start times of every attempt, relative to `t0`.
fn starts(a: &ScriptedAttempt, t0: Instant) -> Vec<(SocketAddr, Duration)> {
    a.started()
        .into_iter()
        .map(|(addr, _, at)| (addr, at - t0))
        .collect()
}

const REFUSED: i32 = libc::ECONNREFUSED;

#[tokio::test(start_paused = true)]
async fn both_healthy_ipv6_wins_at_once() {
    let a = ScriptedAttempt::new()
        .on(sa(V6A), Script::Accept(ms(5)))
        .on(sa(V4A), Script::Accept(ms(5)));
    let c = connector(dns((10, &[V6A]), (10, &[V4A])));
    let conn = c.connect_with(&a, "example.test", PORT).await.unwrap();
    assert_eq!(conn.peer, sa(V6A));
    assert_eq!(conn.elapsed, ms(15));
    assert_eq!(conn.family(), Family::V6);
    assert_eq!(a.started().len(), 1, "IPv4 never needed");
    assert_eq!(a.open_sockets(), 1);
    drop(conn);
    assert_eq!(a.open_sockets(), 0);
}

#[tokio::test(start_paused = true)]
async fn ipv6_black_holed_ipv4_at_the_attempt_delay() {
    let a = ScriptedAttempt::new()
        .on(sa(V6A), Script::Hang)
        .on(sa(V4A), Script::Accept(ms(5)));
    let c = connector(dns((0, &[V6A]), (0, &[V4A])));
    let t0 = Instant::now();
    let conn = c.connect_with(&a, "example.test", PORT).await.unwrap();
    assert_eq!(conn.peer, sa(V4A));
    assert_eq!(conn.elapsed, ms(255));
    assert_eq!(starts(&a, t0), vec![(sa(V6A), ms(0)), (sa(V4A), ms(250))]);
    // The black-holed attempt was cancelled and its socket closed: only the winner is open.
    assert_eq!(a.open_sockets(), 1);
    assert!(conn.events.iter().any(|e| matches!(
        &e.kind,
        EventKind::Cancelled { addr, .. } if *addr == sa(V6A)
    )));
    drop(conn);
    assert_eq!(a.open_sockets(), 0);
}

#[tokio::test(start_paused = true)]
async fn custom_attempt_delay_is_used_and_clamped() {
    let a = ScriptedAttempt::new()
        .on(sa(V6A), Script::Hang)
        .on(sa(V4A), Script::Accept(ms(1)));
    let c = connector(dns((0, &[V6A]), (0, &[V4A]))).attempt_delay(ms(100));
    assert_eq!(
        c.connect_with(&a, "h", PORT).await.unwrap().elapsed,
        ms(101)
    );
    let c = connector(dns((0, &[V6A]), (0, &[V4A]))).attempt_delay(ms(1));
    assert_eq!(
        c.config().attempt_delay,
        ms(10),
        "RFC 8305 §5: never below 10 ms"
    );
    assert_eq!(c.connect_with(&a, "h", PORT).await.unwrap().elapsed, ms(11));
    let c = Connector::new().attempt_delay(Duration::from_secs(9));
    assert_eq!(c.config().attempt_delay, Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn four_dead_ipv6_addresses_ipv4_second() {
    let a = ScriptedAttempt::new()
        .on(sa(V6A), Script::Hang)
        .on(sa(V6B), Script::Hang)
        .on(sa(V6C), Script::Hang)
        .on(sa(V6D), Script::Hang)
        .on(sa(V4A), Script::Accept(ms(2)));
    let c = connector(dns((0, &[V6A, V6B, V6C, V6D]), (0, &[V4A])));
    let t0 = Instant::now();
    let conn = c.connect_with(&a, "h", PORT).await.unwrap();
    assert_eq!(conn.peer, sa(V4A));
    assert_eq!(
        conn.elapsed,
        ms(252),
        "interleaving puts IPv4 second (RFC 8305 §4)"
    );
    assert_eq!(starts(&a, t0), vec![(sa(V6A), ms(0)), (sa(V4A), ms(250))]);
    assert_eq!(a.open_sockets(), 1);
}

#[tokio::test(start_paused = true)]
async fn four_refusing_ipv6_addresses_fail_fast() {
    let a = ScriptedAttempt::new()
        .on(sa(V6A), Script::Fail(ms(1), REFUSED))
        .on(sa(V6B), Script::Fail(ms(1), REFUSED))
        .on(sa(V4A), Script::Fail(ms(1), libc::ENETUNREACH))
        .on(sa(V6C), Script::Fail(ms(1), REFUSED))
        .on(sa(V6D), Script::Accept(ms(1)));
    let c = connector(dns((0, &[V6A, V6B, V6C, V6D]), (0, &[V4A])));
    let t0 = Instant::now();
    let conn = c.connect_with(&a, "h", PORT).await.unwrap();
    assert_eq!(conn.peer, sa(V6D));
    assert_eq!(
        conn.elapsed,
        ms(5),
        "each failure starts the next attempt at once (§5)"
    );
    let order: Vec<SocketAddr> = starts(&a, t0).into_iter().map(|s| s.0).collect();
    assert_eq!(order, vec![sa(V6A), sa(V4A), sa(V6B), sa(V6C), sa(V6D)]);
}

#[tokio::test(start_paused = true)]
async fn aaaa_two_seconds_late_ipv4_after_the_resolution_delay() {
    let a = ScriptedAttempt::new()
        .on(sa(V6A), Script::Accept(ms(1)))
        .on(sa(V4A), Script::Accept(ms(1)));
    let c = connector(dns((2000, &[V6A]), (0, &[V4A])));
    let conn = c.connect_with(&a, "h", PORT).await.unwrap();
    assert_eq!(conn.peer, sa(V4A));
    assert_eq!(
        conn.elapsed,
        ms(51),
        "A at 0, resolution delay 50 ms (§3), handshake 1 ms"
    );
    let kinds: Vec<&EventKind> = conn.events.iter().map(|e| &e.kind).collect();
    assert!(kinds.iter().any(|k| matches!(
        k,
        EventKind::ResolutionDelay {
            waiting_for: Family::V6,
            ..
        }
    )));
    assert!(kinds
        .iter()
        .any(|k| matches!(k, EventKind::ResolutionDelayExpired { .. })));
}

#[tokio::test(start_paused = true)]
async fn a_two_seconds_late_ipv6_at_once() {
    let a = ScriptedAttempt::new().on(sa(V6A), Script::Accept(ms(1)));
    let c = connector(dns((3, &[V6A]), (2000, &[V4A])));
    let conn = c.connect_with(&a, "h", PORT).await.unwrap();
    assert_eq!(conn.peer, sa(V6A));
    assert_eq!(conn.elapsed, ms(4));
}

#[tokio::test(start_paused = true)]
async fn aaaa_30ms_after_a_ipv6_is_used() {
    let a = ScriptedAttempt::new()
        .on(sa(V6A), Script::Accept(ms(1)))
        .on(sa(V4A), Script::Accept(ms(1)));
    let c = connector(dns((40, &[V6A]), (10, &[V4A])));
    let t0 = Instant::now();
    let conn = c.connect_with(&a, "h", PORT).await.unwrap();
    assert_eq!(conn.peer, sa(V6A));
    assert_eq!(conn.elapsed, ms(41));
    assert_eq!(starts(&a, t0), vec![(sa(V6A), ms(40))]);
}

#[tokio::test(start_paused = true)]
async fn resolution_delay_is_configurable() {
    let a = ScriptedAttempt::new().on(sa(V4A), Script::Accept(ms(1)));
    let c = connector(dns((2000, &[V6A]), (10, &[V4A]))).resolution_delay(ms(0));
    assert_eq!(c.connect_with(&a, "h", PORT).await.unwrap().elapsed, ms(11));
    let c = connector(dns((2000, &[V6A]), (10, &[V4A]))).resolution_delay(ms(100));
    assert_eq!(
        c.connect_with(&a, "h", PORT).await.unwrap().elapsed,
        ms(111)
    );
}

#[tokio::test(start_paused = true)]
async fn all_dead_times_out_with_every_error_kept() {
    let a = ScriptedAttempt::new()
        .on(sa(V6A), Script::Hang)
        .on(sa(V4A), Script::Hang)
        .on(sa(V6B), Script::Fail(ms(10), libc::EHOSTUNREACH));
    let c = connector(dns((0, &[V6A, V6B]), (0, &[V4A]))).timeout(ms(2000));
    let t0 = Instant::now();
    let err: ConnectError = c.connect_with(&a, "dead.test", PORT).await.unwrap_err();
    assert_eq!(t0.elapsed(), ms(2000));
    assert_eq!(err.elapsed, ms(2000));
    assert_eq!(err.reason, Reason::TimedOut { timeout: ms(2000) });
    let by_addr: Vec<(SocketAddr, Option<Duration>, &Cause)> = err
        .attempts
        .iter()
        .map(|e| (e.addr, e.started, &e.cause))
        .collect();
    assert_eq!(by_addr.len(), 3);
    // V6B was third (V6A, V4A, V6B) at 500 ms and failed 10 ms later; the other two hung.
    assert!(matches!(by_addr[0], (a, Some(s), Cause::Io { .. }) if a == sa(V6B) && s == ms(500)));
    assert!(by_addr[1..].iter().all(|(_, _, c)| **c == Cause::TimedOut));
    assert_eq!(a.open_sockets(), 0, "every attempt closed");
    let msg = err.to_string();
    for addr in ["[2001:db8::1]:443", "[2001:db8::2]:443", "192.0.2.1:443"] {
        assert!(msg.contains(addr), "{msg}");
    }
    assert!(msg.contains("timed out after"), "{msg}");
}

#[tokio::test(start_paused = true)]
async fn all_refused_fails_at_once() {
    let a = ScriptedAttempt::new();
    let c = connector(dns((0, &[V6A]), (0, &[V4A])));
    let err = c.connect_with(&a, "h", PORT).await.unwrap_err();
    assert_eq!(err.reason, Reason::AllFailed);
    assert_eq!(err.elapsed, ms(0));
    assert_eq!(err.attempts.len(), 2);
    assert!(err.to_string().contains("all 2 addresses failed"), "{err}");
    assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn refused_starts_the_next_at_once() {
    let a = ScriptedAttempt::new()
        .on(sa(V6A), Script::Fail(ms(7), REFUSED))
        .on(sa(V4A), Script::Accept(ms(1)));
    let c = connector(dns((0, &[V6A]), (0, &[V4A])));
    let t0 = Instant::now();
    let conn = c.connect_with(&a, "h", PORT).await.unwrap();
    assert_eq!(conn.peer, sa(V4A));
    assert_eq!(conn.elapsed, ms(8));
    assert_eq!(starts(&a, t0), vec![(sa(V6A), ms(0)), (sa(V4A), ms(7))]);
}

#[tokio::test(start_paused = true)]
async fn late_aaaa_answer_is_merged_into_the_list() {
    let a = ScriptedAttempt::new()
        .on(sa(V4A), Script::Hang)
        .on(sa(V4B), Script::Hang)
        .on(sa(V6A), Script::Accept(ms(1)));
    let c = connector(dns((100, &[V6A]), (0, &[V4A, V4B])));
    let t0 = Instant::now();
    let conn = c.connect_with(&a, "h", PORT).await.unwrap();
    assert_eq!(conn.peer, sa(V6A));
    // A at 0 → resolution delay → 192.0.2.1 at 50; AAAA at 100 slots in before
    // 192.0.2.2 and starts one attempt delay later, at 300.
    assert_eq!(starts(&a, t0), vec![(sa(V4A), ms(50)), (sa(V6A), ms(300))]);
    assert_eq!(conn.elapsed, ms(301));
    assert_eq!(a.open_sockets(), 1);
}

#[tokio::test(start_paused = true)]
async fn late_answer_after_the_list_ran_dry_starts_at_once() {
    let a = ScriptedAttempt::new()
        .on(sa(V4A), Script::Hang)
        .on(sa(V6A), Script::Accept(ms(1)));
    let c = connector(dns((2000, &[V6A]), (0, &[V4A])));
    let conn = c.connect_with(&a, "h", PORT).await.unwrap();
    assert_eq!(conn.peer, sa(V6A));
    assert_eq!(conn.elapsed, ms(2001));
}

#[tokio::test(start_paused = true)]
async fn loser_completing_later_is_not_leaked() {
    // IPv6 slow but alive (handshake 400 ms), IPv4 fast: IPv4 wins at 251 and the IPv6
    // attempt, still in flight, is dropped.
    let a = ScriptedAttempt::new()
        .on(sa(V6A), Script::Accept(ms(400)))
        .on(sa(V4A), Script::Accept(ms(1)));
    let c = connector(dns((0, &[V6A]), (0, &[V4A])));
    let conn = c.connect_with(&a, "h", PORT).await.unwrap();
    assert_eq!((conn.peer, conn.elapsed), (sa(V4A), ms(251)));
    tokio::time::sleep(ms(1000)).await;
    assert_eq!(a.open_sockets(), 1);
}

#[tokio::test(start_paused = true)]
async fn cache_hit_puts_the_working_family_first() {
    let a = ScriptedAttempt::new()
        .on(sa(V6A), Script::Hang)
        .on(sa(V4A), Script::Accept(ms(3)));
    let cache = Arc::new(OutcomeCache::new());
    let c = connector(dns((0, &[V6A]), (0, &[V4A]))).cache(Some(cache.clone()));
    let first = c.connect_with(&a, "bh.test", PORT).await.unwrap();
    assert_eq!((first.peer, first.elapsed), (sa(V4A), ms(253)));
    let second = c.connect_with(&a, "bh.test", PORT).await.unwrap();
    assert_eq!((second.peer, second.elapsed), (sa(V4A), ms(3)));
    assert!(second.events.iter().any(|e| matches!(
        &e.kind,
        EventKind::CacheHit { prefer: Family::V4, demoted, .. } if demoted == &vec![ip(V6A)]
    )));
    // Another port is another destination.
    let other = c.connect_with(&a, "bh.test", 80).await;
    assert!(other.is_err(), "unscripted port 80 is refused");
}

#[tokio::test(start_paused = true)]
async fn cache_entry_expires() {
    let a = ScriptedAttempt::new()
        .on(sa(V6A), Script::Hang)
        .on(sa(V4A), Script::Accept(ms(3)));
    let cache = Arc::new(OutcomeCache::with_limits(8, Duration::from_secs(60)));
    let c = connector(dns((0, &[V6A]), (0, &[V4A]))).cache(Some(cache));
    c.connect_with(&a, "h", PORT).await.unwrap();
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(
        c.connect_with(&a, "h", PORT).await.unwrap().elapsed,
        ms(253)
    );
}

#[tokio::test(start_paused = true)]
async fn serial_mode_waits_for_each_address() {
    let a = ScriptedAttempt::new()
        .on(sa(V6A), Script::Fail(ms(300), libc::ETIMEDOUT))
        .on(sa(V4A), Script::Accept(ms(1)));
    let c = connector(dns((0, &[V6A]), (20, &[V4A]))).serial(true);
    let t0 = Instant::now();
    let conn = c.connect_with(&a, "h", PORT).await.unwrap();
    assert_eq!(conn.peer, sa(V4A));
    // Waits for both answers (20 ms), then one at a time: 20 + 300 + 1.
    assert_eq!(conn.elapsed, ms(321));
    assert_eq!(starts(&a, t0), vec![(sa(V6A), ms(20)), (sa(V4A), ms(320))]);
}

#[tokio::test(start_paused = true)]
async fn first_address_family_count_two() {
    let a = ScriptedAttempt::new();
    let c = connector(dns((0, &[V6A, V6B, V6C]), (0, &[V4A, V4B]))).first_address_family_count(2);
    let err = c.connect_with(&a, "h", PORT).await.unwrap_err();
    let order: Vec<SocketAddr> = err.attempts.iter().map(|e| e.addr).collect();
    assert_eq!(order, vec![sa(V6A), sa(V6B), sa(V4A), sa(V6C), sa(V4B)]);
}

#[tokio::test(start_paused = true)]
async fn prefer_ipv4() {
    let a = ScriptedAttempt::new()
        .on(sa(V6A), Script::Accept(ms(1)))
        .on(sa(V4A), Script::Accept(ms(1)));
    let c = connector(dns((0, &[V6A]), (0, &[V4A]))).prefer(Family::V4);
    let conn = c.connect_with(&a, "h", PORT).await.unwrap();
    assert_eq!((conn.peer, conn.elapsed), (sa(V4A), ms(1)));
}

#[tokio::test(start_paused = true)]
async fn family_restriction_sends_only_that_query() {
    let r = dns((0, &[V6A]), (0, &[V4A]));
    let a = ScriptedAttempt::new().on(sa(V4A), Script::Accept(ms(1)));
    let c = Connector::new()
        .resolver(Arc::new(r.clone()))
        .family(Some(Family::V4));
    let conn = c.connect_with(&a, "h", PORT).await.unwrap();
    assert_eq!(conn.peer, sa(V4A));
    assert_eq!(r.queries(), vec![("h".to_string(), Family::V4)]);
}

#[tokio::test(start_paused = true)]
async fn source_address_restricts_the_family_and_binds() {
    let src = ip("2001:db8::100");
    let a = ScriptedAttempt::new()
        .on(sa(V6A), Script::Accept(ms(1)))
        .on(sa(V4A), Script::Accept(ms(1)));
    let c = connector(dns((0, &[V6A]), (0, &[V4A]))).source(Some(src));
    let conn = c.connect_with(&a, "h", PORT).await.unwrap();
    assert_eq!(conn.peer, sa(V6A));
    assert_eq!(a.started()[0].1, Some(src));

    // An IPv6 source and a host with only IPv4: the error says why.
    let c = connector(dns((0, &[]), (0, &[V4A]))).source(Some(src));
    let err = c.connect_with(&a, "v4only.test", PORT).await.unwrap_err();
    assert_eq!(
        err.reason,
        Reason::NoneOfFamily {
            family: Family::V6,
            source: Some(src)
        }
    );
    assert!(
        err.to_string()
            .contains("the source address 2001:db8::100 can only reach IPv6"),
        "{err}"
    );
    // -4 with an IPv6 source can never match.
    let c = connector(dns((0, &[V6A]), (0, &[V4A])))
        .source(Some(src))
        .family(Some(Family::V4));
    let err = c.connect_with(&a, "h", PORT).await.unwrap_err();
    assert!(matches!(err.reason, Reason::FamilyMismatch { .. }));
    assert!(
        err.to_string().contains("source address 2001:db8::100"),
        "{err}"
    );
    // An IPv4 literal with an IPv6 source.
    let err = connector(ScriptedResolver::new())
        .source(Some(src))
        .nat64(false)
        .connect_with(&a, V4A, PORT)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.reason,
            Reason::FamilyMismatch {
                literal: Some(_),
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn ip_literals_skip_dns() {
    let r = ScriptedResolver::new();
    let a = ScriptedAttempt::new()
        .on(sa(V6A), Script::Accept(ms(2)))
        .on(sa(V4A), Script::Accept(ms(2)));
    let c = Connector::new().resolver(Arc::new(r.clone()));
    for host in [V6A, "[2001:db8::1]", V4A, "::ffff:192.0.2.1"] {
        let conn = c.connect_with(&a, host, PORT).await.unwrap();
        assert_eq!(conn.elapsed, ms(2), "{host}");
        assert!(matches!(conn.events[0].kind, EventKind::Literal { .. }));
    }
    assert!(r.queries().is_empty());
}

#[tokio::test(start_paused = true)]
async fn dns_failures_are_reported_per_family() {
    let r = ScriptedResolver::new()
        .fail(Family::V6, ms(5), ResolveError::NoSuchHost)
        .fail(Family::V4, ms(7), ResolveError::NoSuchHost);
    let err = Connector::new()
        .resolver(Arc::new(r))
        .connect_with(&ScriptedAttempt::new(), "nx.test", PORT)
        .await
        .unwrap_err();
    assert_eq!(err.reason, Reason::NoAddresses);
    assert_eq!(err.elapsed, ms(7));
    let msg = err.to_string();
    assert!(
        msg.contains("AAAA: no such host") && msg.contains("; A: no such host"),
        "{msg}"
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_during_dns() {
    let c = connector(dns((20_000, &[V6A]), (20_000, &[V4A]))).timeout(ms(1500));
    let err = c
        .connect_with(&ScriptedAttempt::new(), "slow.test", PORT)
        .await
        .unwrap_err();
    assert_eq!(err.elapsed, ms(1500));
    assert!(err.attempts.is_empty());
    assert_eq!(err.lookups.len(), 2);
    assert!(
        err.to_string().contains("before any address was known"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn only_one_family_answers_no_wait() {
    // AAAA says NODATA at 5 ms, A answers at 8 ms: no resolution delay needed.
    let r = ScriptedResolver::new()
        .fail(Family::V6, ms(5), ResolveError::NoRecords)
        .answer(Family::V4, ms(8), &[ip(V4A)]);
    let a = ScriptedAttempt::new().on(sa(V4A), Script::Accept(ms(1)));
    let conn = Connector::new()
        .resolver(Arc::new(r))
        .connect_with(&a, "h", PORT)
        .await
        .unwrap();
    assert_eq!(conn.elapsed, ms(9));
}

#[tokio::test(start_paused = true)]
async fn resolve_reports_answers_times_and_order() {
    let c = connector(dns((30, &[V6A, V6B]), (10, &[V4A, V4B])));
    let r = c.resolve_all("h", PORT).await.unwrap();
    assert_eq!(r.answers[0].family, Family::V4);
    assert_eq!(r.answers[0].elapsed, Some(ms(10)));
    assert_eq!(r.answers[1].family, Family::V6);
    assert_eq!(r.answers[1].elapsed, Some(ms(30)));
    assert_eq!(r.order, ips(&[V6A, V4A, V6B, V4B]));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["answers"][0]["family"], "IPv4");
    assert_eq!(json["answers"][0]["elapsed_ms"], 10.0);
}

#[tokio::test(start_paused = true)]
async fn events_serialize_with_offsets() {
    let a = ScriptedAttempt::new()
        .on(sa(V6A), Script::Hang)
        .on(sa(V4A), Script::Accept(ms(5)));
    let conn = connector(dns((1, &[V6A]), (2, &[V4A])))
        .connect_with(&a, "h", PORT)
        .await
        .unwrap();
    let json = serde_json::to_value(&conn.events).unwrap();
    let names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "query_sent",
            "query_sent",
            "answer",
            "attempt_started",
            "attempt_delay",
            "answer",
            "attempt_started",
            "attempt_delay",
            "connected",
            "cancelled"
        ]
    );
    assert_eq!(json[4]["delay_ms"], 250.0);
    assert_eq!(json[6]["at_ms"], 251.0);
    assert_eq!(json[8]["rtt_ms"], 5.0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_connect_future_closes_everything() {
    let a = ScriptedAttempt::new()
        .on(sa(V6A), Script::Hang)
        .on(sa(V4A), Script::Hang);
    let c = connector(dns((0, &[V6A]), (0, &[V4A])));
    let r = tokio::time::timeout(ms(600), c.connect_with(&a, "h", PORT)).await;
    assert!(r.is_err());
    assert_eq!(a.started().len(), 2);
    assert_eq!(a.open_sockets(), 0);
}
