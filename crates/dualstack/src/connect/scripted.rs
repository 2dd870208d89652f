//! Test doubles for the connector, as tokio's `test-util`: [`ScriptedAttempt`] plays a
//! per-address script of delays and results, [`ScriptedResolver`] answers each family
//! after its own delay. Both run on Tokio's clock, so a paused clock makes them exact.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::time::Instant;

use super::attempt::Attempt;
use super::resolver::{Answer, Answers, Resolve, ResolveError};
use crate::addr::Family;

/// One attempt a [`ScriptedAttempt`] saw: destination, source address, start time.
pub type Started = (SocketAddr, Option<IpAddr>, Instant);

/// What a scripted address does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// Connects after the delay.
    Accept(Duration),
    /// Fails with this OS error after the delay (`ECONNREFUSED`, `ENETUNREACH`, ...).
    Fail(Duration, i32),
    /// Never answers (a silent black hole).
    Hang,
}

/// A scripted connection, counted while open.
#[derive(Debug)]
pub struct ScriptedStream {
    /// The address it is "connected" to.
    pub peer: SocketAddr,
    _open: OpenGuard,
}

#[derive(Debug)]
struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    fn new(count: &Arc<AtomicUsize>) -> OpenGuard {
        count.fetch_add(1, Ordering::SeqCst);
        OpenGuard(count.clone())
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An [`Attempt`] that follows a script per address, for paused-clock tests. Every
/// attempt holds a counted "socket" from its start until it is dropped, so tests can
/// check that the losers were closed. Unscripted addresses are refused at once.
#[derive(Debug, Clone, Default)]
pub struct ScriptedAttempt {
    script: HashMap<SocketAddr, Script>,
    open: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<Started>>>,
}

impl ScriptedAttempt {
    /// An empty script.
    pub fn new() -> ScriptedAttempt {
        ScriptedAttempt::default()
    }

    /// Script what connecting to `addr` does.
    pub fn on(mut self, addr: SocketAddr, script: Script) -> Self {
        self.script.insert(addr, script);
        self
    }

    /// Sockets currently open (attempts in flight plus connected streams not dropped).
    pub fn open_sockets(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Every attempt started: destination, source, and when.
    pub fn started(&self) -> Vec<Started> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Attempt for ScriptedAttempt {
    type Stream = ScriptedStream;

    fn connect(
        &self,
        addr: SocketAddr,
        source: Option<IpAddr>,
    ) -> BoxFuture<'static, io::Result<ScriptedStream>> {
        if let Ok(mut l) = self.log.lock() {
            l.push((addr, source, Instant::now()));
        }
        let guard = OpenGuard::new(&self.open);
        let script = self.script.get(&addr).copied().unwrap_or(Script::Fail(
            Duration::ZERO,
            nix::errno::Errno::ECONNREFUSED as i32,
        ));
        async move {
            match script {
                Script::Accept(d) => {
                    tokio::time::sleep(d).await;
                    Ok(ScriptedStream {
                        peer: addr,
                        _open: guard,
                    })
                }
                Script::Fail(d, errno) => {
                    tokio::time::sleep(d).await;
                    drop(guard);
                    Err(io::Error::from_raw_os_error(errno))
                }
                Script::Hang => {
                    let _guard = guard;
                    std::future::pending().await
                }
            }
        }
        .boxed()
    }

    fn local_addr(&self, stream: &ScriptedStream) -> io::Result<SocketAddr> {
        Ok(match stream.peer {
            SocketAddr::V4(_) => "192.0.2.100:40000".parse().expect("valid"),
            SocketAddr::V6(_) => "[2001:db8::100]:40000".parse().expect("valid"),
        })
    }
}

/// A resolver for tests: each family answers after its own delay (Tokio time, so a paused
/// clock makes it exact). Families not scripted answer "no records" at once.
#[derive(Debug, Clone, Default)]
pub struct ScriptedResolver {
    script: HashMap<Family, (Duration, Result<Vec<IpAddr>, ResolveError>)>,
    queries: Arc<Mutex<Vec<(String, Family)>>>,
}

impl ScriptedResolver {
    /// An empty script: every family answers "no records" at once.
    pub fn new() -> ScriptedResolver {
        ScriptedResolver::default()
    }

    /// Answer `family` with `addrs` after `delay`.
    pub fn answer(mut self, family: Family, delay: Duration, addrs: &[IpAddr]) -> Self {
        self.script.insert(family, (delay, Ok(addrs.to_vec())));
        self
    }

    /// Fail `family` with `error` after `delay`.
    pub fn fail(mut self, family: Family, delay: Duration, error: ResolveError) -> Self {
        self.script.insert(family, (delay, Err(error)));
        self
    }

    /// Every query asked so far: `(host, family)`, in order.
    pub fn queries(&self) -> Vec<(String, Family)> {
        self.queries.lock().map(|q| q.clone()).unwrap_or_default()
    }
}

impl Resolve for ScriptedResolver {
    fn resolve(&self, host: &str, families: &[Family]) -> Answers {
        let lookups = FuturesUnordered::new();
        for &family in families {
            if let Ok(mut q) = self.queries.lock() {
                q.push((host.to_owned(), family));
            }
            let (delay, result) = self
                .script
                .get(&family)
                .cloned()
                .unwrap_or((Duration::ZERO, Err(ResolveError::NoRecords)));
            lookups.push(
                async move {
                    tokio::time::sleep(delay).await;
                    Answer { family, result }
                }
                .boxed(),
            );
        }
        lookups.boxed()
    }
}
