//! reqwest integration (feature `reqwest`): a DNS resolver that applies RFC 8305's
//! Resolution Delay, interleaving and history, and a connector layer that tells the
//! history which family won.
//!
//! ```no_run
//! # async fn f() -> Result<(), reqwest::Error> {
//! use std::sync::Arc;
//! use dualstack::connect::reqwest::HappyResolver;
//! use dualstack::connect::{Connector, OutcomeCache};
//!
//! // One Connector (one outcome cache) for the whole program.
//! let connector = Connector::new().cache(Some(Arc::new(OutcomeCache::new())));
//! let client = HappyResolver::new(connector).client_builder().build()?;
//! let body = client.get("http://example.com/").send().await?.text().await?;
//! # Ok(()) }
//! ```
//!
//! # What this does and what reqwest still does itself
//!
//! reqwest (0.13) lets a program replace its resolver ([`reqwest::ClientBuilder::dns_resolver`])
//! and wrap its connector in tower layers (`connector_layer`), but not replace the
//! connector: the connection type a layer must return is private to reqwest. So:
//!
//! - **Ours: resolution.** [`HappyResolver`] sends the AAAA and A queries as two separate
//!   lookups and answers reqwest as soon as a connect would start
//!   ([`Connector::resolve`]): at once when the preferred family answers, or the
//!   Resolution Delay (50 ms) after the other family answered (RFC 8305 §3). A slow AAAA
//!   answer costs 50 ms instead of its whole delay. The addresses come in the
//!   connector's order: the family that worked last time first (the [`OutcomeCache`]),
//!   then the families interleaved (§4). reqwest's own resolvers (getaddrinfo, or
//!   hickory's `lookup_ip` with the `hickory-dns` feature) wait for both answers.
//! - **Ours: history.** [`HistoryLayer`] (added by [`HappyResolver::client_builder`])
//!   looks at each new connection's peer address and records its family as the winner
//!   for that host in the [`OutcomeCache`], so the next resolution puts that family first.
//!   reqwest does not tell a resolver the port, so history from reqwest is kept per
//!   host (under port 0), and it learns only winners: the addresses that failed inside
//!   reqwest's connector are not seen.
//! - **reqwest's: connecting.** reqwest's connector (hyper-util's `HttpConnector`) races
//!   the addresses itself: the first address's family goes first, one address after
//!   another, and the other family starts 300 ms later (its `happy_eyeballs_timeout`,
//!   not RFC 8305's 250 ms Connection Attempt Delay, and no strict interleaving);
//!   `connect_timeout` is split between the addresses of a family. An AAAA answer that
//!   arrives after the Resolution Delay is not merged in, because reqwest has already
//!   been given the list. TLS, proxies, timeouts and pooling are reqwest's as usual.
//!
//! For full RFC 8305 racing on every connection, use hyper-util's client with
//! [`HappyConnector`](super::hyper::HappyConnector) (feature `hyper`).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::{Connection, HttpInfo};
use tokio::time::Instant;

use super::{Connector, OutcomeCache};

/// The port history from reqwest is kept under: reqwest does not tell a resolver the
/// port, so the family that won is remembered per host.
pub const HISTORY_PORT: u16 = 0;

/// How many resolved addresses are kept to recognise the host of a new connection.
const RECENT_CAPACITY: usize = 1024;
/// How long a resolution is kept for that: longer than any sensible connect timeout.
const RECENT_MAX_AGE: Duration = Duration::from_secs(120);

/// Which host each recently resolved address was resolved for, and when.
#[derive(Debug, Default)]
struct Recent {
    by_ip: HashMap<IpAddr, (String, Instant)>,
}

impl Recent {
    fn note(&mut self, host: &str, ips: &[IpAddr], now: Instant) {
        if self.by_ip.len() + ips.len() > RECENT_CAPACITY {
            self.by_ip
                .retain(|_, (_, at)| now.saturating_duration_since(*at) < RECENT_MAX_AGE);
        }
        if self.by_ip.len() + ips.len() > RECENT_CAPACITY {
            self.by_ip.clear();
        }
        for ip in ips {
            self.by_ip.insert(*ip, (host.to_owned(), now));
        }
    }

    fn host_of(&self, ip: IpAddr, now: Instant) -> Option<(String, Duration)> {
        let (host, at) = self.by_ip.get(&ip)?;
        let age = now.saturating_duration_since(*at);
        (age < RECENT_MAX_AGE).then(|| (host.clone(), age))
    }
}

/// A [`reqwest::dns::Resolve`] that answers the way a Happy Eyeballs connect starts
/// (RFC 8305 §3–§4): see the [module documentation](self) for what it changes and what
/// reqwest keeps doing itself.
///
/// Build it from the one [`Connector`] the program shares (its resolver, Resolution
/// Delay, preferred family and [`OutcomeCache`] are used); clones share everything.
#[derive(Debug, Clone)]
pub struct HappyResolver {
    connector: Connector,
    recent: Arc<Mutex<Recent>>,
}

impl HappyResolver {
    /// Resolve with `connector`'s resolver and settings. Give it an [`OutcomeCache`]
    /// ([`Connector::cache`]) for history to work.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f() -> Result<(), reqwest::Error> {
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use dualstack::connect::{reqwest::HappyResolver, Connector, OutcomeCache};
    ///
    /// let connector = Connector::new().cache(Some(Arc::new(OutcomeCache::new())));
    /// let client = HappyResolver::new(connector.clone())
    ///     .client_builder()
    ///     .connect_timeout(Duration::from_secs(5))
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn new(connector: Connector) -> HappyResolver {
        HappyResolver {
            connector,
            recent: Arc::new(Mutex::new(Recent::default())),
        }
    }

    /// The connector this resolver uses.
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// The layer that records each connection's winning family in the connector's
    /// [`OutcomeCache`], for [`reqwest::ClientBuilder::connector_layer`].
    pub fn layer(&self) -> HistoryLayer {
        HistoryLayer {
            cache: self.connector.outcome_cache().cloned(),
            recent: self.recent.clone(),
        }
    }

    /// A [`reqwest::ClientBuilder`] with this resolver and its [`layer`](Self::layer):
    /// add your own settings, then `build()`.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(self.clone()))
            .connector_layer(self.layer())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recent> {
        // A map of hints: a panic elsewhere cannot break it.
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl reqwest::dns::Resolve for HappyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let r = this.connector.resolve(&host, HISTORY_PORT).await?;
            this.lock().note(&host, &r.order, Instant::now());
            // Port 0: reqwest puts in the URL's port (or the scheme's).
            let addrs: reqwest::dns::Addrs =
                Box::new(r.order.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// A tower layer over reqwest's connector that records the family of every new
/// connection's peer as the winner for its host in the [`OutcomeCache`] (see
/// [`HappyResolver::layer`]). Without a cache it does nothing.
#[derive(Debug, Clone)]
pub struct HistoryLayer {
    cache: Option<Arc<OutcomeCache>>,
    recent: Arc<Mutex<Recent>>,
}

impl<S> tower_layer::Layer<S> for HistoryLayer {
    type Service = HistoryService<S>;

    fn layer(&self, inner: S) -> HistoryService<S> {
        HistoryService {
            inner,
            cache: self.cache.clone(),
            recent: self.recent.clone(),
        }
    }
}

/// The service made by [`HistoryLayer`]: reqwest's connector, watched.
#[derive(Debug, Clone)]
pub struct HistoryService<S> {
    inner: S,
    cache: Option<Arc<OutcomeCache>>,
    recent: Arc<Mutex<Recent>>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, Req> tower_service::Service<Req> for HistoryService<S>
where
    S: tower_service::Service<Req>,
    S::Response: Connection + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let fut = self.inner.call(req);
        let (cache, recent) = (self.cache.clone(), self.recent.clone());
        Box::pin(async move {
            let conn = fut.await?;
            if let Some(cache) = cache {
                let mut ext = http::Extensions::new();
                conn.connected().get_extras(&mut ext);
                if let Some(info) = ext.get::<HttpInfo>() {
                    let peer = crate::addr::unmap_socket(info.remote_addr());
                    let known = recent
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .host_of(peer.ip(), Instant::now());
                    // The time since the resolver answered: the TCP handshake, plus TLS
                    // for https. Kept as the winner's time, never as an RTT estimate.
                    if let Some((host, since)) = known {
                        cache.record_winner(&host, HISTORY_PORT, peer, since);
                    }
                }
            }
            Ok(conn)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_is_bounded_and_ages() {
        let t0 = Instant::now();
        let mut r = Recent::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        r.note("a.test", &[ip], t0);
        assert_eq!(r.host_of(ip, t0).map(|h| h.0), Some("a.test".into()));
        assert_eq!(r.host_of(ip, t0 + RECENT_MAX_AGE), None);
        for i in 0..3 * RECENT_CAPACITY as u32 {
            r.note("b.test", &[IpAddr::from(i.to_be_bytes())], t0);
        }
        assert!(r.by_ip.len() <= RECENT_CAPACITY);
    }
}
