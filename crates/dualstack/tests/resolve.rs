//! `Connector::resolve` (stops at the Resolution Delay, RFC 8305 §3) and
//! `Connector::resolve_all` (waits for every answer) on a paused clock with a scripted
//! resolver: when each returns, what it returns, and that DNS failure is an error.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use dualstack::addr::Family;
use dualstack::connect::{Connector, OutcomeCache, Reason, ResolveError, ScriptedResolver};
use tokio::time::Instant;

const PORT: u16 = 443;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
fn ips(v: &[&str]) -> Vec<IpAddr> {
    v.iter().map(|s| ip(s)).collect()
}
fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
fn connector(r: ScriptedResolver) -> Connector {
    Connector::new().resolver(Arc::new(r))
}

#[tokio::test(start_paused = true)]
async fn late_aaaa_resolve_returns_at_the_resolution_delay() {
    let r = ScriptedResolver::new()
        .answer(Family::V6, Duration::from_secs(2), &ips(&["2001:db8::1"]))
        .answer(Family::V4, ms(10), &ips(&["192.0.2.1", "192.0.2.2"]));
    let c = connector(r);
    let t0 = Instant::now();
    let res = c.resolve("h.test", PORT).await.unwrap();
    // A at 10 ms + the 50 ms Resolution Delay.
    assert_eq!(t0.elapsed(), ms(60));
    assert_eq!(res.order, ips(&["192.0.2.1", "192.0.2.2"]));
    assert_eq!(res.pending, vec![Family::V6]);
    assert_eq!(res.answers.len(), 1);
    assert_eq!(res.answers[0].elapsed, Some(ms(10)));
    assert!(res
        .events
        .iter()
        .all(|e| !format!("{e:?}").contains("Attempt")));

    // resolve_all waits for AAAA and lists both, interleaved, IPv6 first.
    let t0 = Instant::now();
    let all = c.resolve_all("h.test", PORT).await.unwrap();
    assert_eq!(t0.elapsed(), Duration::from_secs(2));
    assert_eq!(all.order, ips(&["2001:db8::1", "192.0.2.1", "192.0.2.2"]));
    assert!(all.pending.is_empty());
}

#[tokio::test(start_paused = true)]
async fn aaaa_first_returns_at_once_and_a_inside_the_delay_is_merged() {
    let r = ScriptedResolver::new()
        .answer(Family::V6, ms(5), &ips(&["2001:db8::1", "2001:db8::2"]))
        .answer(Family::V4, ms(500), &ips(&["192.0.2.1"]));
    let t0 = Instant::now();
    let res = connector(r).resolve("h.test", PORT).await.unwrap();
    assert_eq!(
        t0.elapsed(),
        ms(5),
        "the preferred family answered: no wait"
    );
    assert_eq!(res.order, ips(&["2001:db8::1", "2001:db8::2"]));
    assert_eq!(res.prefer, Family::V6);
    assert_eq!(res.pending, vec![Family::V4]);

    // A first, AAAA 30 ms later (inside the 50 ms delay): both, interleaved.
    let r = ScriptedResolver::new()
        .answer(Family::V6, ms(40), &ips(&["2001:db8::1", "2001:db8::2"]))
        .answer(Family::V4, ms(10), &ips(&["192.0.2.1", "192.0.2.2"]));
    let t0 = Instant::now();
    let res = connector(r).resolve("h.test", PORT).await.unwrap();
    assert_eq!(t0.elapsed(), ms(40));
    assert_eq!(
        res.order,
        ips(&["2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2"])
    );
    assert!(res.pending.is_empty());
}

#[tokio::test(start_paused = true)]
async fn history_puts_ipv4_first() {
    let cache = Arc::new(OutcomeCache::new());
    cache.record(
        "h.test",
        PORT,
        Some(("192.0.2.1:443".parse().unwrap(), ms(3))),
        &[ip("2001:db8::1")],
    );
    let r = ScriptedResolver::new()
        .answer(Family::V6, ms(5), &ips(&["2001:db8::1"]))
        .answer(Family::V4, ms(5), &ips(&["192.0.2.1"]));
    let res = connector(r)
        .cache(Some(cache))
        .resolve("h.test", PORT)
        .await
        .unwrap();
    assert_eq!(res.prefer, Family::V4);
    assert_eq!(res.order, ips(&["192.0.2.1", "2001:db8::1"]));
}

#[tokio::test(start_paused = true)]
async fn dns_failure_is_an_error_with_every_answer() {
    for all in [false, true] {
        let r = ScriptedResolver::new()
            .fail(Family::V6, ms(5), ResolveError::NoSuchHost)
            .fail(Family::V4, ms(7), ResolveError::NoSuchHost);
        let c = connector(r);
        let e = if all {
            c.resolve_all("nx.test", PORT).await.unwrap_err()
        } else {
            c.resolve("nx.test", PORT).await.unwrap_err()
        };
        assert_eq!(e.reason, Reason::NoAddresses, "resolve_all={all}");
        assert_eq!(e.lookups.len(), 2, "resolve_all={all}: {e:?}");
        assert!(e.lookups.iter().all(|l| l.error.is_some()));
    }
    // One family only: NoneOfFamily.
    let r = ScriptedResolver::new().fail(Family::V4, ms(1), ResolveError::NoRecords);
    let e = connector(r)
        .family(Some(Family::V4))
        .resolve("v6only.test", PORT)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e.reason,
            Reason::NoneOfFamily {
                family: Family::V4,
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn literal_needs_no_dns_and_timeout_is_an_error() {
    let res = Connector::new()
        .resolver(Arc::new(ScriptedResolver::new()))
        .nat64(false)
        .resolve("2001:db8::5", PORT)
        .await
        .unwrap();
    assert!(res.literal);
    assert_eq!(res.order, ips(&["2001:db8::5"]));
    assert!(res.pending.is_empty());

    // Neither family ever answers: the overall timeout ends it, as an error.
    let r = ScriptedResolver::new()
        .answer(Family::V6, Duration::from_secs(60), &ips(&["2001:db8::1"]))
        .answer(Family::V4, Duration::from_secs(60), &ips(&["192.0.2.1"]));
    let e = connector(r)
        .timeout(Duration::from_secs(3))
        .resolve("slow.test", PORT)
        .await
        .unwrap_err();
    assert!(matches!(e.reason, Reason::TimedOut { .. }), "{e:?}");
}
