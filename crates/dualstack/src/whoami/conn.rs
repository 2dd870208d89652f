//! One accepted TCP connection: the accept loop's cap and rate-limited refusals, the
//! PROXY and reverse-DNS phases, then the line or HTTP service.
//!
//! An HTTP connection gets no hyper state until its first bytes have arrived: a real read
//! (`readable()` alone is no proof, since Tokio reports an accepted socket readable before
//! any data came). A plain whoami request is then answered from those bytes
//! ([`fast`]); anything else is replayed to hyper.
//!
//! A plain HTTP connection (no PROXY header or reverse lookup to wait for) that has sent
//! nothing when accepted waits in the accept loop itself ([`Waiting`], Linux): no task, no
//! runtime registration, no timer entry. When its first bytes come the accept loop answers
//! a plain `Connection: close` request and closes the socket (`recv`, `send`, `close`; the
//! kernel drops it from the readiness set by itself), or gives the connection a task with
//! the bytes read (keep-alive, hyper, a partial request). A keep-alive connection idle
//! for [`http::PARK_AFTER`] comes back to the same set ([`Server::park`]; its task ends).
//! At a shutdown the waiting connections get tasks, which answer what has arrived and
//! close the rest.
//!
//! A listener that defers accepts until data arrives (`TCP_DEFER_ACCEPT`, see
//! [`ServerConfig::defer_accept`](super::server::ServerConfig::defer_accept)) hands over
//! connections whose request is already there, answered at accept without even the
//! readiness set's `epoll_ctl`. Without the deferral a new connection's request is there
//! at accept only when connections waited in the listen queue (the server is behind; the
//! client writes after its own handshake completes), so the accept loop looks only while
//! looking pays ([`EarlyRead`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant as StdInstant;

use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tracing::Instrument;

use super::fast;
use super::http::{self, first_bytes, First, HttpError, Phase};
use super::line;
use super::observe::Refused;
use super::proxy::FirstSpeaker;
use super::ratelimit::{Suppressed, Throttle, WARN_INTERVAL};
use super::server::{Server, Service};
use super::waiting::{Waiter, Waiting};
use super::Facts;
use crate::addr::Family;
use crate::deadline::Later;
use crate::listen::{Accepted, Listeners, RawAccepted};
use crate::sys::poller::BATCH;

impl Server {
    pub(crate) async fn accept_loop(self, mut listeners: Listeners, service: Service) {
        let mut phase = self.inner.phase.subscribe();
        let mut refusals = Throttle::new(WARN_INTERVAL);
        let max = self.inner.cfg.max_connections;
        let summary = |s: Suppressed| {
            tracing::warn!(%service, max, suppressed = s.count,
                first_peer = %s.first_peer, last_peer = %s.last_peer,
                over = ?s.last.duration_since(s.first),
                "connection limit reached; more connections closed");
        };
        // One timer for the whole loop, polled only while a refusal summary is due: no
        // timer entry, clock read or shutdown waiter per accepted connection.
        let flush = tokio::time::sleep_until(Instant::now());
        tokio::pin!(flush);
        let mut flush_at = None;
        let mut early = EarlyRead::default();
        // Plain HTTP connections (no PROXY header, no reverse lookup) that have sent
        // nothing wait in this loop, not in tasks of their own (where the platform can).
        let plain_http = service == Service::Http
            && self.inner.cfg.proxy.is_none()
            && self.inner.cfg.reverse.is_none();
        let mut waiting = None;
        if plain_http {
            match Waiting::new() {
                Ok(w) => waiting = Some(w),
                Err(e) => tracing::debug!(error = %e,
                    "no private readiness set; a task per new connection"),
            }
        }
        // Connection tasks hand back keep-alive connections idle for a second.
        let mut parked = None;
        if waiting.is_some() {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            if self.inner.park.set(tx).is_ok() {
                parked = Some(rx);
            }
        }
        let sweep = tokio::time::sleep_until(Instant::now());
        tokio::pin!(sweep);
        let mut sweep_at = None;
        let mut keys = Vec::with_capacity(BATCH);
        loop {
            if *phase.borrow_and_update() != Phase::Running {
                break;
            }
            let due = refusals.flush_at();
            if due != flush_at {
                flush_at = due;
                if let Some(at) = due {
                    flush.as_mut().reset(Instant::from_std(at));
                }
            }
            let due = waiting.as_ref().and_then(Waiting::sweep_at);
            if due != sweep_at {
                sweep_at = due;
                if let Some(at) = due {
                    sweep.as_mut().reset(at);
                }
            }
            let acc = tokio::select! {
                biased;
                // Connections already accepted first: their requests have arrived.
                r = ready(&waiting, &mut keys) => {
                    match (r, &mut waiting) {
                        (Ok(()), Some(w)) => {
                            self.serve_ready(w, &mut keys);
                            w.shrink_if_empty();
                        }
                        (Err(e), w) => {
                            tracing::error!(%service, error = %e,
                                "waiting connections cannot be watched; a task per connection");
                            if let Some(w) = w {
                                self.hand_over_all(w);
                            }
                            waiting = None;
                            // Tasks keep their idle connections from now on.
                            if let Some(rx) = &mut parked {
                                self.hand_over_parked(rx);
                            }
                            parked = None;
                        }
                        (Ok(()), None) => {}
                    }
                    continue;
                }
                Some(w) = recv(&mut parked) => {
                    self.hold(waiting.as_mut(), w);
                    continue;
                }
                a = listeners.accept_raw() => a,
                r = phase.changed() => {
                    if r.is_err() {
                        break;
                    }
                    continue;
                }
                () = &mut flush, if flush_at.is_some() => {
                    match refusals.flush(StdInstant::now()) {
                        Some(s) => summary(s),
                        // Tokio's timer ran ahead of the std clock: look again shortly.
                        None => flush
                            .as_mut()
                            .reset(Instant::now() + std::time::Duration::from_millis(1)),
                    }
                    continue;
                }
                () = &mut sweep, if sweep_at.is_some() => {
                    if let Some(w) = &mut waiting {
                        self.sweep(w, service);
                    }
                    continue;
                }
            };
            let Some(acc) = acc else {
                tracing::error!(%service, "every listening socket failed; {service} service stopped");
                break;
            };
            let Ok(permit) = self.inner.limit.clone().try_acquire_owned() else {
                self.inner.counters.refused.fetch_add(1, Ordering::Relaxed);
                if let Some(o) = &self.inner.cfg.observer {
                    o.refused(service, Refused::Limit);
                }
                let (log, due) = refusals.hit(StdInstant::now(), acc.peer);
                if let Some(s) = due {
                    summary(s);
                }
                if log {
                    tracing::warn!(%service, peer = %acc.peer, local = %acc.local, max,
                        "connection limit reached; closing the new connection");
                }
                drop(acc);
                continue;
            };
            self.inner.counters.accepted.fetch_add(1, Ordering::Relaxed);
            if let Some(o) = &self.inner.cfg.observer {
                o.connection(service, Family::of(acc.peer.ip()));
            }
            tracing::info!(%service, peer = %acc.peer, local = %acc.local, "connection");
            if plain_http {
                self.accept_http(acc, permit, &mut early, waiting.as_mut());
                continue;
            }
            let span = tracing::info_span!("conn", peer = %acc.peer, local = %acc.local, %service);
            let Some(acc) = register(acc, &span) else {
                continue;
            };
            tokio::spawn(
                self.clone()
                    .connection(acc, service, permit)
                    .instrument(span),
            );
        }
        if let Some(s) = refusals.flush(StdInstant::now() + WARN_INTERVAL) {
            summary(s);
        }
        listeners.close();
        // Their tasks answer what has arrived (with `Connection: close`) and close the rest.
        // Tasks that park from now on find the channel closed and keep their connection.
        if let Some(rx) = &mut parked {
            self.hand_over_parked(rx);
        }
        if let Some(w) = &mut waiting {
            self.hand_over_all(w);
        }
        tracing::debug!(%service, "stopped accepting");
    }

    /// A new plain HTTP connection: answered here if its request is there already (always
    /// looked for with a deferred accept, else as [`EarlyRead`] decides), else held in
    /// `waiting` until its first bytes arrive, or given a task.
    fn accept_http(
        &self,
        acc: RawAccepted,
        permit: OwnedSemaphorePermit,
        early: &mut EarlyRead,
        waiting: Option<&mut Waiting>,
    ) {
        let counters = &self.inner.counters;
        let rest = if acc.deferred || early.try_now() {
            let rest = self.answer_at_once(&acc, &counters.answered_at_accept);
            if !acc.deferred {
                early.found(!matches!(&rest, Some(Rest::Unanswered(p)) if p.is_empty()));
            }
            let Some(rest) = rest else {
                counters.released.fetch_add(1, Ordering::Relaxed);
                return;
            };
            rest
        } else {
            Rest::Unanswered(Vec::new())
        };
        match (rest, waiting) {
            (Rest::Unanswered(p), Some(waiting)) if p.is_empty() => {
                let deadline = Instant::now().later(self.inner.http.header_timeout);
                let w = Waiter {
                    acc,
                    permit,
                    deadline,
                    parked: false,
                };
                self.hold(Some(waiting), w);
            }
            (rest, _) => self.hand_over(acc, permit, rest),
        }
    }

    /// Serve the waiting connections whose keys `keys` holds: they have something to
    /// read (a request, the peer's close or an error).
    fn serve_ready(&self, waiting: &mut Waiting, keys: &mut Vec<u64>) {
        let counters = &self.inner.counters;
        for key in keys.drain(..) {
            let Some(w) = waiting.take(key) else {
                continue;
            };
            match self.answer_at_once(&w.acc, &counters.answered_after_wait) {
                None => {
                    counters.released.fetch_add(1, Ordering::Relaxed);
                }
                // Reported, but nothing to read after all: watch it again.
                Some(Rest::Unanswered(p)) if p.is_empty() => self.hold(Some(waiting), w),
                Some(rest) => self.hand_over(w.acc, w.permit, rest),
            }
        }
    }

    /// Close the waiting connections whose header (new) or idle (parked) timeout has
    /// passed.
    fn sweep(&self, waiting: &mut Waiting, service: Service) {
        let cfg = &self.inner.http;
        waiting.sweep(Instant::now(), |w| {
            let (peer, local) = (w.acc.peer, w.acc.local);
            if w.parked {
                tracing::info!(%service, %peer, %local, timeout = ?cfg.idle_timeout,
                    "idle; closed");
            } else {
                self.observe_refused(Refused::HeaderTimeout);
                tracing::info!(%service, %peer, %local, timeout = ?cfg.header_timeout,
                    "no request within the header timeout; closed");
            }
            self.inner.counters.released.fetch_add(1, Ordering::Relaxed);
        });
    }

    /// Keep `w` in `waiting` until it has something to read; without a waiting set, or
    /// if the set refuses it, give it a task.
    fn hold(&self, waiting: Option<&mut Waiting>, w: Waiter) {
        let w = match waiting {
            Some(ws) => match ws.insert(w) {
                Ok(()) => return,
                Err(w) => w,
            },
            None => w,
        };
        self.give_task(w);
    }

    /// Give a waiting connection a task of its own, which waits for its bytes.
    fn give_task(&self, w: Waiter) {
        self.hand_over(w.acc, w.permit, Rest::Unanswered(Vec::new()));
    }

    /// Give every waiting connection a task of its own.
    fn hand_over_all(&self, waiting: &mut Waiting) {
        for w in waiting.drain() {
            self.give_task(w);
        }
    }

    /// Close the parking channel (a task that parks from now on keeps its connection) and
    /// give each connection already in it a task of its own.
    fn hand_over_parked(&self, rx: &mut UnboundedReceiver<Waiter>) {
        rx.close();
        while let Ok(w) = rx.try_recv() {
            self.give_task(w);
        }
    }

    /// Register an HTTP connection with the runtime and give it a task that goes on from
    /// `rest`.
    fn hand_over(&self, acc: RawAccepted, permit: OwnedSemaphorePermit, rest: Rest) {
        let span = tracing::info_span!("conn", peer = %acc.peer, local = %acc.local,
            service = %Service::Http);
        let Some(acc) = register(acc, &span) else {
            return;
        };
        let server = self.clone();
        match rest {
            Rest::Unanswered(prefix) => {
                tokio::spawn(server.http_connection(acc, permit, prefix).instrument(span))
            }
            Rest::Sending(reply) => tokio::spawn(
                server
                    .finish_sending(acc.stream, reply, permit)
                    .instrument(span),
            ),
        };
    }

    /// Answer a new HTTP connection from the accept loop, before registering it with the
    /// runtime, when its request is already there and ends the connection: a plain
    /// `Connection: close` request ([`fast`]) costs `accept`, `recv`, `send` and `close`,
    /// with no task, no timer and no `epoll_ctl`; `answered` counts it. Anything else is
    /// left to the connection's task, with the bytes read so far. `None`: nothing is left
    /// to do (answered, closed by the peer, or failed).
    fn answer_at_once(&self, acc: &RawAccepted, answered: &AtomicU64) -> Option<Rest> {
        let mut buf = [0u8; http::FIRST_READ];
        let n = match crate::sys::socket::recv_now(&acc.socket, &mut buf) {
            Ok(0) => return None,
            // A full buffer may have more behind it: the task reads the rest.
            Ok(n) if n < buf.len() => n,
            Ok(n) => return Some(Rest::Unanswered(buf[..n].to_vec())),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Some(Rest::Unanswered(Vec::new()))
            }
            Err(e) => {
                tracing::debug!(peer = %acc.peer, error = %e, "read failed");
                return None;
            }
        };
        let request = &buf[..n];
        let facts = Facts::new(acc.peer, acc.local);
        let t = self.inner.cfg.observer.as_ref().map(|_| StdInstant::now());
        let sent = fast::with_reply(request, &facts, false, |reply| {
            // Keep-alive: the connection's task answers (and then waits for the next).
            if !reply.last {
                return Some(Rest::Unanswered(request.to_vec()));
            }
            if let (Some(o), Some(t)) = (&self.inner.cfg.observer, t) {
                o.request(reply.route, 200, facts.family, t.elapsed());
            }
            answered.fetch_add(1, Ordering::Relaxed);
            match fast::send_last_now(&acc.socket, reply.bytes) {
                Ok(k) if k == reply.bytes.len() => None,
                Ok(k) => Some(Rest::Sending(reply.rest(k))),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    Some(Rest::Sending(reply.rest(0)))
                }
                Err(e) => {
                    tracing::debug!(peer = %acc.peer, error = %e, "write failed");
                    None
                }
            }
        });
        sent.unwrap_or_else(|| Some(Rest::Unanswered(request.to_vec())))
    }

    /// The rest of a reply [`Server::answer_at_once`] could not send at once.
    async fn finish_sending(
        self,
        stream: TcpStream,
        reply: fast::Reply,
        _permit: OwnedSemaphorePermit,
    ) {
        if let Err(e) = fast::send(&stream, &reply, self.inner.cfg.idle_timeout).await {
            tracing::debug!(error = %e, "write failed");
        }
        self.inner.counters.released.fetch_add(1, Ordering::Relaxed);
    }

    /// An HTTP connection whose first bytes [`Server::answer_at_once`] read (no PROXY
    /// header or reverse lookup to wait for). Its own task, not [`Server::connection`]
    /// with a prefix argument: that argument would live across the PROXY and reverse
    /// phases and grow every connection's task.
    async fn http_connection(self, acc: Accepted, permit: OwnedSemaphorePermit, prefix: Vec<u8>) {
        let facts = Facts::new(acc.peer, acc.local);
        self.http(acc.stream, facts, prefix, Some(permit)).await;
        self.inner.counters.released.fetch_add(1, Ordering::Relaxed);
    }

    async fn connection(self, acc: Accepted, service: Service, _permit: OwnedSemaphorePermit) {
        let Accepted {
            mut stream,
            peer,
            local,
        } = acc;
        let cfg = &self.inner.cfg;
        let mut facts = match &cfg.proxy {
            None => Facts::new(peer, local),
            Some(pp) => {
                let first = match service {
                    Service::Http => FirstSpeaker::Client,
                    _ => FirstSpeaker::Server,
                };
                // Boxed here and below: a future's size is its largest state, and every idle
                // connection's task would otherwise carry the PROXY and HTTP states inline.
                match boxed(|| pp.accept(&mut stream, peer, local, first)).await {
                    Ok(o) => {
                        if let Some(proxy) = o.proxy {
                            tracing::info!(%service, client = %o.client, %proxy, "PROXY header");
                        }
                        o.facts()
                    }
                    Err(e) => {
                        if let (Some(o), Some(r)) = (&cfg.observer, Refused::of_proxy_error(&e)) {
                            o.refused(service, r);
                        }
                        // A peer can trigger this at will: WARN at most once per interval.
                        if self.proxy_warn_allowed(peer) {
                            tracing::warn!(%service, %peer, error = %e,
                                "PROXY protocol check failed; closing");
                        } else {
                            tracing::debug!(%service, %peer, error = %e,
                                "PROXY protocol check failed; closing");
                        }
                        return;
                    }
                }
            }
        };
        if let Some(r) = &cfg.reverse {
            facts.reverse = boxed(|| r.lookup(facts.ip)).await.ok();
        }
        match service {
            Service::Line => boxed(|| self.line(stream, facts)).await,
            _ => self.http(stream, facts, Vec::new(), None).await,
        }
        self.inner.counters.released.fetch_add(1, Ordering::Relaxed);
    }

    fn observe_refused(&self, reason: Refused) {
        if let Some(o) = &self.inner.cfg.observer {
            o.refused(Service::Http, reason);
        }
    }

    fn proxy_warn_allowed(&self, peer: std::net::SocketAddr) -> bool {
        let mut t = self
            .inner
            .proxy_warn
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (log, due) = t.hit(StdInstant::now(), peer);
        if let Some(s) = due {
            tracing::warn!(suppressed = s.count, first_peer = %s.first_peer,
                last_peer = %s.last_peer, "more PROXY protocol failures (not logged)");
        }
        log
    }

    async fn line(&self, mut stream: TcpStream, facts: Facts) {
        let idle = self.inner.cfg.idle_timeout;
        let mut phase = self.inner.phase.subscribe();
        let reply = tokio::time::timeout(idle, line::respond(&mut stream, &facts));
        tokio::select! {
            r = reply => match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "write failed"),
                Err(_) => tracing::info!(timeout = ?idle, "client too slow; closed"),
            },
            _ = phase.wait_for(|p| *p == Phase::Cut) => {}
        }
    }

    /// The HTTP service on one connection. Waiting for a request's first bytes happens
    /// here, in the connection task's own frame, both for a new connection and for a
    /// parked keep-alive one: an idle connection of either kind holds the task, its
    /// stream and its [`Facts`], nothing else (every allocation of a hyper connection is
    /// freed when it parks).
    ///
    /// With `permit` (a plain HTTP connection) and a waiting set in the accept loop, a
    /// keep-alive connection idle for [`http::PARK_AFTER`] goes back to the accept loop
    /// ([`Server::park`]) and this task ends.
    async fn http(
        &self,
        mut stream: TcpStream,
        facts: Facts,
        mut prefix: Vec<u8>,
        mut permit: Option<OwnedSemaphorePermit>,
    ) {
        let can_park = permit.is_some() && self.inner.park.get().is_some();
        // When an idle keep-alive connection goes back to the accept loop.
        let mut park_at: Option<Instant> = None;
        let cfg = &self.inner.http;
        let counters = &self.inner.counters;
        let observer = &self.inner.cfg.observer;
        let mut phase = self.inner.phase.subscribe();
        let mut stopped = *phase.borrow() != Phase::Running;
        // Until the first request: the header timeout; parked: the connection's deadline.
        let mut wait: Option<(Instant, HttpError)> = None;
        let mut waits = http::Waits {
            timer: std::pin::pin!(tokio::time::sleep_until(
                Instant::now().later(cfg.header_timeout)
            )),
            phase_changed: std::pin::pin!(self.inner.phase_changed.notified()),
        };
        loop {
            let step = if prefix.is_empty() {
                if let Some((at, _)) = &wait {
                    waits
                        .timer
                        .as_mut()
                        .reset(park_at.map_or(*at, |p| p.min(*at)));
                }
                match first_bytes(&stream, &mut waits, &mut phase, &mut stopped).await {
                    First::Read { stopping } => {
                        let closing = http::stopping(&mut phase, &mut stopped);
                        self.read_and_answer(&stream, &facts, stopping, closing)
                    }
                    First::Failed(e) => return tracing::debug!(error = %e, "read failed"),
                    First::TimedOut
                        if park_at
                            .zip(wait.as_ref())
                            .is_some_and(|(p, (at, _))| p < *at) =>
                    {
                        let Some(p) = permit.take() else {
                            park_at = None;
                            continue;
                        };
                        let deadline = wait.as_ref().map_or_else(Instant::now, |(at, _)| *at);
                        match self.park(stream, &facts, p, deadline) {
                            Ok(()) => return,
                            Err(None) => return,
                            // Not taken (the accept loop has stopped): keep serving here.
                            Err(Some((s, p))) => {
                                stream = s;
                                permit = Some(p);
                                park_at = None;
                                continue;
                            }
                        }
                    }
                    First::TimedOut => match wait {
                        None => {
                            self.observe_refused(Refused::HeaderTimeout);
                            tracing::info!(timeout = ?cfg.header_timeout,
                                "no request within the header timeout; closed");
                            return;
                        }
                        Some((_, why)) => return self.http_ended(why),
                    },
                }
            } else {
                let closing = http::stopping(&mut phase, &mut stopped);
                self.answer(&stream, &prefix, &facts, closing)
                    .unwrap_or_else(|| Step::Hyper(std::mem::take(&mut prefix)))
            };
            match step {
                Step::Sent { last } => {
                    if last {
                        return;
                    }
                }
                Step::Partly(reply) => {
                    if let Err(e) = boxed(|| fast::send(&stream, &reply, cfg.idle_timeout)).await {
                        return tracing::debug!(error = %e, "write failed");
                    }
                    if reply.last {
                        return;
                    }
                }
                // Readiness without data; at shutdown that means close at once.
                Step::Nothing if stopped => return,
                Step::Nothing => continue,
                Step::Closed => return,
                Step::Failed(what, e) => return tracing::debug!(error = %e, "{what}"),
                Step::Hyper(bytes) => {
                    // Boxed: hyper's state lives in this allocation only while it runs.
                    let served = boxed(|| {
                        http::serve_stream(
                            stream, bytes, &facts, cfg, &mut phase, counters, observer,
                        )
                    })
                    .await;
                    match served {
                        Ok(None) => return,
                        Ok(Some(p)) => {
                            counters.released.fetch_add(1, Ordering::Relaxed);
                            stream = p.stream;
                            prefix = p.prefix;
                            wait = Some((p.deadline, p.why));
                            // Idle for a park period already: to the accept loop.
                            if can_park {
                                park_at = Some(Instant::now());
                            }
                            // hyper may have taken the phase's change notice.
                            stopped = *phase.borrow() != Phase::Running;
                        }
                        Err(e) => return self.http_ended(e),
                    }
                    continue;
                }
            }
            prefix = Vec::new();
            let now = Instant::now();
            wait = Some(http::after_response(cfg, now));
            if can_park {
                park_at = Some(now.later(http::PARK_AFTER));
            }
        }
    }

    /// Hand an idle keep-alive connection back to the accept loop's waiting set, closed
    /// there if nothing comes by `deadline`. `Err(Some(..))`: not taken (no waiting set,
    /// or the accept loop has stopped), the connection is still this task's;
    /// `Err(None)`: lost (the runtime could not let it go or take it back).
    fn park(
        &self,
        stream: TcpStream,
        facts: &Facts,
        permit: OwnedSemaphorePermit,
        deadline: Instant,
    ) -> Result<(), Option<(TcpStream, OwnedSemaphorePermit)>> {
        let Some(tx) = self.inner.park.get() else {
            return Err(Some((stream, permit)));
        };
        // Deregisters it from the runtime (one `epoll_ctl`, once per idle spell).
        let socket = stream.into_std().map_err(|e| {
            tracing::debug!(error = %e, "could not park the connection; closed");
            None
        })?;
        let w = Waiter {
            acc: RawAccepted {
                socket,
                peer: facts.peer(),
                local: facts.local,
                deferred: false,
            },
            permit,
            deadline,
            parked: true,
        };
        match tx.send(w) {
            Ok(()) => {
                self.inner.counters.parked.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                let w = e.0;
                match TcpStream::from_std(w.acc.socket) {
                    Ok(s) => Err(Some((s, w.permit))),
                    Err(e) => {
                        tracing::debug!(error = %e, "could not register the connection; closed");
                        Err(None)
                    }
                }
            }
        }
    }

    /// Answer `request` if it is one [`fast`] answers (`None`: it is not), sending what
    /// fits now. The reply is built in a per-thread buffer: nothing is allocated unless
    /// it does not fit in the socket's buffer.
    fn answer(
        &self,
        stream: &TcpStream,
        request: &[u8],
        facts: &Facts,
        closing: bool,
    ) -> Option<Step> {
        let observer = &self.inner.cfg.observer;
        // No clock read per request unless someone records durations.
        let t = observer.as_ref().map(|_| StdInstant::now());
        fast::with_reply(request, facts, closing, |reply| {
            if let (Some(o), Some(t)) = (observer, t) {
                o.request(reply.route, 200, facts.family, t.elapsed());
            }
            match fast::send_now(stream, reply.bytes, reply.last) {
                Ok(n) if n == reply.bytes.len() => Step::Sent { last: reply.last },
                Ok(n) => Step::Partly(reply.rest(n)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Step::Partly(reply.rest(0)),
                Err(e) => Step::Failed("write failed", e),
            }
        })
    }

    /// Read a request's first bytes into a buffer on this stack (never part of the
    /// connection's future) and answer them if [`fast`] can; else they go to hyper.
    /// `stopping`: read even what Tokio has not seen arrive yet ([`http::read_first`]).
    fn read_and_answer(
        &self,
        stream: &TcpStream,
        facts: &Facts,
        stopping: bool,
        closing: bool,
    ) -> Step {
        let mut buf = [0u8; http::FIRST_READ];
        let n = match http::read_first(stream, stopping, &mut buf) {
            Ok(0) => return Step::Closed,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Step::Nothing,
            Err(e) => return Step::Failed("read failed", e),
        };
        let request = &buf[..n];
        self.answer(stream, request, facts, closing)
            .unwrap_or_else(|| Step::Hyper(request.to_vec()))
    }

    fn http_ended(&self, e: HttpError) {
        match e {
            HttpError::Idle(t) => tracing::info!(timeout = ?t, "idle; closed"),
            HttpError::HeadTimeout(t) => {
                self.observe_refused(Refused::HeaderTimeout);
                tracing::info!(timeout = ?t, "request head too slow; closed")
            }
            HttpError::Cut => tracing::debug!("cut at shutdown"),
            e => tracing::debug!(error = %e, "connection error"),
        }
    }
}

/// Whether the accept loop reads a new connection's request itself when the listener does
/// not defer accepts. The request is there at accept only when connections wait in the
/// listen queue, that is when the server is behind: then answering a `Connection: close`
/// request in the accept loop (as with a deferred accept) saves its registration, task and
/// timer. A server that keeps up would pay a `recv` that finds nothing for each
/// connection. So: try every connection while tries find data; after a try that finds
/// none, skip the next 2, then 4 after another, up to [`EarlyRead::MAX_SKIP`]: a server
/// that keeps up pays one empty `recv` per 65 connections.
#[derive(Debug, Default)]
struct EarlyRead {
    /// Connections still to skip.
    skip: u32,
    /// Tries in a row that found nothing (capped).
    misses: u32,
}

impl EarlyRead {
    /// Most connections skipped after a try that found nothing.
    const MAX_SKIP: u32 = 64;

    /// Whether to try this connection.
    fn try_now(&mut self) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        true
    }

    /// What the try found: request bytes (or the peer's close), or nothing yet.
    fn found(&mut self, data: bool) {
        if data {
            self.misses = 0;
        } else {
            self.misses = (self.misses + 1).min(Self::MAX_SKIP.trailing_zeros());
            self.skip = 1 << self.misses;
        }
    }
}

/// What became of a request's bytes in [`Server::http`].
enum Step {
    /// Answered and sent whole; `last`: the connection ends.
    Sent { last: bool },
    /// Answered, but this rest did not fit in the socket's buffer.
    Partly(fast::Reply),
    /// Not a request [`fast`] answers: hyper gets these bytes.
    Hyper(Vec<u8>),
    /// The socket was readable but nothing had arrived.
    Nothing,
    /// The peer closed.
    Closed,
    /// The read or the send failed (which, and why).
    Failed(&'static str, std::io::Error),
}

/// What [`Server::answer_at_once`] left for a connection task.
enum Rest {
    /// The connection's task takes over, with these bytes of its first request.
    Unanswered(Vec<u8>),
    /// Answered, but this rest of the reply did not fit in the socket's buffer.
    Sending(fast::Reply),
}

/// The keys of waiting connections that are ready; never, without a waiting set.
async fn ready(waiting: &Option<Waiting>, keys: &mut Vec<u64>) -> std::io::Result<()> {
    match waiting {
        Some(w) => w.ready(keys).await,
        None => std::future::pending().await,
    }
}

/// The next connection parked by a task; never, without the channel.
async fn recv(parked: &mut Option<UnboundedReceiver<Waiter>>) -> Option<Waiter> {
    match parked {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Register a connection with the runtime; on failure it is closed (logged in `span`).
fn register(acc: RawAccepted, span: &tracing::Span) -> Option<Accepted> {
    match acc.register() {
        Ok(a) => Some(a),
        Err(e) => {
            span.in_scope(
                || tracing::debug!(error = %e, "could not register the connection; closed"),
            );
            None
        }
    }
}

/// A future built and boxed here, outside the calling `async fn`: `Box::pin(f(..))` written
/// in an `async fn` may build the future in that function's own state first, so the
/// connection task (which every idle connection keeps) would still be as large as the
/// largest phase it boxes. (With this and `first_bytes` polling readiness directly, the
/// connection future went from 1.4-1.7 KB to 1,152 B, in release.)
fn boxed<F: std::future::Future>(make: impl FnOnce() -> F) -> std::pin::Pin<Box<F>> {
    Box::pin(make())
}

#[cfg(test)]
mod tests {
    use super::EarlyRead;

    /// Which of `n` connections are tried, given what each try finds.
    fn tried(e: &mut EarlyRead, n: usize, finds: bool) -> usize {
        let mut t = 0;
        for _ in 0..n {
            if e.try_now() {
                t += 1;
                e.found(finds);
            }
        }
        t
    }

    #[test]
    fn early_reads_back_off_while_they_find_nothing() {
        let mut e = EarlyRead::default();
        // Tried, 2 skipped, tried, 4 skipped, tried, 8 skipped; at most 64 skipped later.
        assert_eq!(tried(&mut e, 1 + 2 + 1 + 4 + 1 + 8, false), 3);
        let mut e = EarlyRead::default();
        let steady = tried(&mut e, 10_000, false);
        assert!((150..=170).contains(&steady), "{steady} tries in 10,000");
    }

    #[test]
    fn early_reads_try_every_connection_while_they_find_data() {
        let mut e = EarlyRead::default();
        assert_eq!(tried(&mut e, 1_000, true), 1_000);
        // After a long quiet spell, the first try that finds data resumes them.
        let mut e = EarlyRead::default();
        tried(&mut e, 10_000, false);
        let mut k = 0;
        while !e.try_now() {
            k += 1;
        }
        assert!(k <= 64);
        e.found(true);
        assert_eq!(tried(&mut e, 100, true), 100);
    }
}
