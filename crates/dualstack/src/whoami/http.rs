//! The HTTP whoami (hyper 1, HTTP/1.1 with keep-alive).
//!
//! | request | reply |
//! |---|---|
//! | `GET /`, `GET /ip` | `text/plain`: the client's IP address and a newline |
//! | `GET /family` | `text/plain`: `IPv4` or `IPv6` and a newline |
//! | `GET /json` | `application/json`: [`Facts::to_json`] and a newline |
//! | `HEAD` of the above | the same headers, no body |
//! | another method on a known path | `405 Method Not Allowed`, `Allow: GET, HEAD` |
//! | any other path | `404 Not Found` |
//!
//! Limits per connection: a request must arrive within the header timeout (which also
//! ends idle keep-alive connections), a connection with no I/O for the idle timeout is
//! closed (both on one timer per connection), and the read buffer never grows past
//! [`HttpConfig::max_buf_size`] (larger heads get `431`), so memory per connection is
//! bounded.
//!
//! hyper is involved only once a connection has sent its first bytes: those are read by
//! the caller into a short-lived buffer and replayed to hyper, so an idle connection holds
//! no HTTP state or buffers (hyper allocates 8 KiB to read and 8 KiB to write per
//! connection, and keeps both while a keep-alive connection idles). A plain `GET` or
//! `HEAD` of a whoami path in HTTP/1.1 is answered from those bytes without hyper at all,
//! with the bytes hyper would send (`whoami::fast`).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::observe::{route_label, Observer};
use super::server::Counters;
use super::Facts;
use crate::addr::Family;
use crate::deadline::Later;

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
const TEXT: HeaderValue = HeaderValue::from_static(TEXT_PLAIN);
const ALLOW: HeaderValue = HeaderValue::from_static("GET, HEAD");

/// A whoami path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/`
    Root,
    /// `/ip`
    Ip,
    /// `/family`
    Family,
    /// `/json`
    Json,
}

impl Route {
    /// The route of a request path (no query), `None` for any other path.
    pub(crate) fn of(path: &str) -> Option<Route> {
        match path {
            "/" => Some(Route::Root),
            "/ip" => Some(Route::Ip),
            "/family" => Some(Route::Family),
            "/json" => Some(Route::Json),
            _ => None,
        }
    }

    /// The path, as a metrics label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Route::Root => "/",
            Route::Ip => "/ip",
            Route::Family => "/family",
            Route::Json => "/json",
        }
    }
}

/// Append the body of a route's `200` reply to `out`; returns its content type.
pub(crate) fn write_body(route: Route, facts: &Facts, out: &mut Vec<u8>) -> &'static str {
    match route {
        Route::Root | Route::Ip => {
            crate::addr::text::push_ip(out, facts.ip);
            out.push(b'\n');
            TEXT_PLAIN
        }
        Route::Family => {
            out.extend_from_slice(match facts.family {
                Family::V4 => b"IPv4",
                Family::V6 => b"IPv6",
            });
            out.push(b'\n');
            TEXT_PLAIN
        }
        Route::Json => {
            out.extend_from_slice(facts.to_json().as_bytes());
            out.push(b'\n');
            "application/json"
        }
    }
}

/// The reply to one request, from the client's [`Facts`]. Pure: no I/O.
pub fn route(method: &Method, path: &str, facts: &Facts) -> Response<Full<Bytes>> {
    let Some(route) = Route::of(path) else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    if method != Method::GET && method != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut().insert(header::ALLOW, ALLOW);
        return r;
    }
    let mut body = Vec::new();
    let ctype = write_body(route, facts, &mut body);
    // hyper sends no body for HEAD but keeps Content-Length, as RFC 9110 §9.3.2 asks.
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, TEXT);
    r
}

/// Limits for one HTTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpConfig {
    /// A request must arrive (head read and answered) within this time, counted from the
    /// connection's first byte or from the previous response; this also ends idle
    /// keep-alive connections. Default 10 s.
    pub header_timeout: Duration,
    /// Close a connection that has had no I/O for this long. Default 60 s.
    pub idle_timeout: Duration,
    /// Largest read buffer (hyper's `max_buf_size`, at least 8192). Default 16 KiB.
    pub max_buf_size: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_buf_size: 16 * 1024,
        }
    }
}

/// Why an HTTP connection ended in error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// hyper reported a protocol or I/O error.
    #[error("HTTP connection failed")]
    Http(#[from] hyper::Error),
    /// No I/O for the idle timeout.
    #[error("idle for {0:?}, closed")]
    Idle(Duration),
    /// A request head was not complete (or no new request came) within the header
    /// timeout.
    #[error("no complete request within {0:?}, closed")]
    HeadTimeout(Duration),
    /// Reading the next request failed.
    #[error("read failed")]
    Io(#[source] io::Error),
    /// The server shut down hard (second signal or drain deadline).
    #[error("cut by the server's shutdown")]
    Cut,
}

/// The shutdown phase of a server, as its connections see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Serving.
    Running,
    /// Graceful shutdown: answer what has arrived (with `Connection: close`), close idle
    /// connections.
    Draining,
    /// Stop now: drop every connection.
    Cut,
}

/// The idle timeout from the last I/O or the header timeout from the start of the current
/// request, whichever ends first.
fn deadline(last_io: Instant, head_start: Instant, cfg: &HttpConfig) -> (Instant, HttpError) {
    // User-given durations: saturate instead of overflowing (`--idle-timeout 1000y`).
    let idle = last_io.later(cfg.idle_timeout);
    let head = head_start.later(cfg.header_timeout);
    if head <= idle {
        (head, HttpError::HeadTimeout(cfg.header_timeout))
    } else {
        (idle, HttpError::Idle(cfg.idle_timeout))
    }
}

/// The deadline for the next request on a keep-alive connection that has written a
/// response at `now`.
pub(crate) fn after_response(cfg: &HttpConfig, now: Instant) -> (Instant, HttpError) {
    deadline(now, now, cfg)
}

/// What the connection's I/O has seen, shared between the I/O object (owned by hyper) and
/// the connection's own loop (its single timer and the shutdown decision). One
/// allocation per connection that has sent something; none for connections that have
/// not.
#[derive(Debug)]
struct Shared {
    /// The stream's descriptor, for the receive-queue check at shutdown. The stream
    /// itself is owned by hyper's I/O object and outlives every use of this.
    fd: RawFd,
    start: Instant,
    /// Milliseconds since `start` of the last successful read or write.
    last_io: AtomicU64,
    /// Milliseconds since `start` when the current request began: its first byte, or the
    /// previous response (keep-alive) when no byte has come since.
    head_start: AtomicU64,
    /// Bytes were read since the last response was written: a request is in progress.
    unanswered: AtomicBool,
    /// Shutdown began: every response says `Connection: close`.
    closing: AtomicBool,
    /// Park: the next read reports an end of stream so hyper finishes at an idle point.
    park: AtomicBool,
    /// The response being written is the connection's last (the request or the server
    /// said `Connection: close`): it is held in the kernel (`MSG_MORE`) until the close
    /// that follows, which sends it and the FIN in one segment.
    last: AtomicBool,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn at(&self, ms: &AtomicU64) -> Instant {
        self.start
            .later(Duration::from_millis(ms.load(Ordering::Relaxed)))
    }

    fn on_read(&self) {
        let now = self.now_ms();
        self.last_io.store(now, Ordering::Relaxed);
        if !self.unanswered.swap(true, Ordering::Relaxed) {
            self.head_start.store(now, Ordering::Relaxed);
        }
    }

    fn on_write(&self) {
        let now = self.now_ms();
        self.last_io.store(now, Ordering::Relaxed);
        self.head_start.store(now, Ordering::Relaxed);
        self.unanswered.store(false, Ordering::Relaxed);
    }

    /// The one deadline of the connection: idle timeout or header timeout, whichever is
    /// first.
    fn deadline(&self, cfg: &HttpConfig) -> (Instant, HttpError) {
        deadline(self.at(&self.last_io), self.at(&self.head_start), cfg)
    }

    /// When an idle keep-alive connection's hyper state is dropped.
    fn park_at(&self) -> Instant {
        self.at(&self.head_start).later(PARK_AFTER)
    }

    /// Whether a request has arrived that must be answered before closing: bytes hyper
    /// read but has not answered, or bytes waiting in the socket's receive queue.
    fn has_request(&self) -> bool {
        self.unanswered.load(Ordering::Relaxed)
            || matches!(crate::sys::socket::peek_now(&self.fd, &mut [0u8; 1]), Ok(n) if n > 0)
    }
}

/// hyper's I/O object for one connection: first replays the bytes read before hyper was
/// involved, then reads and writes the shared stream, recording activity.
struct ConnIo {
    stream: TcpStream,
    shared: Arc<Shared>,
    prefix: Vec<u8>,
    pos: usize,
}

/// A keep-alive connection whose hyper state was dropped after [`PARK_AFTER`] idle: just
/// the stream and its deadline. The caller waits for the next request's first bytes
/// (with [`first_bytes`], as for a new connection) and calls [`serve_stream`] again, so
/// a parked connection holds no more memory than one that has sent nothing.
pub(crate) struct Parked {
    pub(crate) stream: TcpStream,
    /// Bytes hyper had read past its last request (normally none).
    pub(crate) prefix: Vec<u8>,
    /// When the connection is closed if no request comes, and why.
    pub(crate) deadline: Instant,
    pub(crate) why: HttpError,
}

/// Serve HTTP/1.1 whoami requests on one connection whose first bytes (`prefix`, already
/// read from `stream`) have arrived, until the client closes it (`None`), a limit cuts it,
/// the server shuts down, or it idles in keep-alive for [`PARK_AFTER`] (`Some`: the
/// stream back, every allocation of this call freed). At shutdown a request that has
/// arrived is answered with `Connection: close`; a connection with nothing received
/// closes at once.
///
/// `counters.http_started` counts each hyper connection (and its buffers) built.
pub(crate) async fn serve_stream(
    stream: TcpStream,
    prefix: Vec<u8>,
    facts: &Facts,
    cfg: &HttpConfig,
    phase: &mut watch::Receiver<Phase>,
    counters: &Counters,
    observer: &Option<Arc<dyn Observer>>,
) -> Result<Option<Parked>, HttpError> {
    let shared = Arc::new(Shared {
        fd: stream.as_raw_fd(),
        start: Instant::now(),
        last_io: AtomicU64::new(0),
        head_start: AtomicU64::new(0),
        unanswered: AtomicBool::new(!prefix.is_empty()),
        closing: AtomicBool::new(false),
        park: AtomicBool::new(false),
        last: AtomicBool::new(false),
    });
    let io = ConnIo {
        stream,
        shared: shared.clone(),
        prefix,
        pos: 0,
    };
    counters.http_started.fetch_add(1, Ordering::Relaxed);
    let Some(io) = run_hyper(io, Arc::new(facts.clone()), &shared, cfg, phase, observer).await?
    else {
        return Ok(None);
    };
    let (deadline, why) = shared.deadline(cfg);
    Ok(Some(Parked {
        stream: io.stream,
        prefix: io.prefix[io.pos..].to_vec(),
        deadline,
        why,
    }))
}

/// One hyper connection over `io`, until the connection ends (`None`) or has idled in
/// keep-alive for [`PARK_AFTER`] (the I/O object back, hyper's state dropped).
async fn run_hyper(
    io: ConnIo,
    facts: Arc<Facts>,
    shared: &Arc<Shared>,
    cfg: &HttpConfig,
    phase: &mut watch::Receiver<Phase>,
    observer: &Option<Arc<dyn Observer>>,
) -> Result<Option<ConnIo>, HttpError> {
    let svc_shared = shared.clone();
    let observer = observer.clone();
    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
        // No clock read per request unless someone records durations.
        let handled = observer.as_ref().map(|_| Instant::now());
        let path = req.uri().path();
        let mut resp = route(req.method(), path, &facts);
        if let (Some(o), Some(t)) = (&observer, handled) {
            o.request(
                route_label(path),
                resp.status().as_u16(),
                facts.family,
                t.elapsed(),
            );
        }
        let closing = svc_shared.closing.load(Ordering::Relaxed);
        if closing {
            resp.headers_mut().insert(header::CONNECTION, CLOSE);
        }
        if closing || wants_close(&req) {
            svc_shared.last.store(true, Ordering::Relaxed);
        }
        std::future::ready(Ok::<_, Infallible>(resp))
    });
    let mut conn = http1::Builder::new()
        .max_buf_size(cfg.max_buf_size.max(8192))
        .keep_alive(true)
        // A client may send its requests and then shut down its sending side; it still
        // waits for the answers (hyper's default drops them at the read EOF).
        .half_close(true)
        .serve_connection(TokioIo::new(io), svc);
    let mut draining = false;
    let (first, _) = shared.deadline(cfg);
    let timer = tokio::time::sleep_until(first.min(shared.park_at()));
    tokio::pin!(timer);
    loop {
        // Before the first poll too: a server already draining answers this request only.
        if !draining && *phase.borrow_and_update() != Phase::Running {
            draining = true;
            shared.closing.store(true, Ordering::Relaxed);
            if !shared.has_request() {
                Pin::new(&mut conn).graceful_shutdown();
            }
        }
        if *phase.borrow() == Phase::Cut {
            return Err(HttpError::Cut);
        }
        tokio::select! {
            r = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => {
                r?;
                if !shared.park.swap(false, Ordering::Relaxed) {
                    return Ok(None);
                }
                let parts = conn.into_parts();
                let mut io = parts.io.into_inner();
                if !parts.read_buf.is_empty() {
                    let mut prefix = parts.read_buf.to_vec();
                    prefix.extend_from_slice(&io.prefix[io.pos..]);
                    io.prefix = prefix;
                    io.pos = 0;
                }
                return Ok(Some(io));
            }
            // One timer per connection, re-armed lazily when it fires early.
            () = timer.as_mut() => {
                let now = Instant::now();
                let (at, why) = shared.deadline(cfg);
                if now >= at {
                    return Err(why);
                }
                let park = shared.park_at();
                if now >= park && !draining && !shared.has_request() {
                    // hyper reads an end of stream at an idle point: it finishes cleanly
                    // and gives the I/O object back.
                    shared.park.store(true, Ordering::Relaxed);
                    timer.as_mut().reset(at);
                } else {
                    // Busy or draining: look again one park period from now.
                    let next = if park > now { park } else { now.later(PARK_AFTER) };
                    timer.as_mut().reset(at.min(next));
                }
            }
            r = phase.changed() => {
                if r.is_err() {
                    return Err(HttpError::Cut);
                }
            }
        }
    }
}

/// How long a keep-alive connection idles before hyper's state and its 16 KiB of
/// buffers are dropped (and rebuilt from the next request's first bytes): long enough
/// that a busy connection keeps them, short enough that idle ones cost ~2 KB.
pub(crate) const PARK_AFTER: Duration = Duration::from_millis(1000);

/// What waiting for a connection's first bytes gave.
pub(crate) enum First {
    /// Read now: the socket is readable, or the server is stopping (`stopping`; then
    /// what has arrived is answered with `Connection: close`, and nothing means close).
    Read {
        stopping: bool,
    },
    TimedOut,
    Failed(io::Error),
}

/// Size of the buffer for a connection's first read. Most request heads fit; the rest
/// is read by hyper.
pub(crate) const FIRST_READ: usize = 1024;

/// The timer and the shutdown waiter a connection waits on between requests, kept for
/// its whole life. Moving the timer's deadline later is one atomic update (Tokio files
/// the entry again only when the old deadline comes), and the waiter stays registered,
/// so a keep-alive request adds and removes no timer-wheel entry and no waiter. Once
/// polled it is only ever polled by the same task.
pub(crate) struct Waits<'w, 'n> {
    pub(crate) timer: Pin<&'w mut tokio::time::Sleep>,
    pub(crate) phase_changed: Pin<&'w mut tokio::sync::futures::Notified<'n>>,
}

/// Whether the server has begun to stop, as far as `phase` tells; `stopping` remembers
/// it (a phase never goes back to running). Reads the shared value only after a change.
pub(crate) fn stopping(phase: &mut watch::Receiver<Phase>, stopping: &mut bool) -> bool {
    if !*stopping {
        *stopping = match phase.has_changed() {
            Ok(false) => false,
            Ok(true) => *phase.borrow_and_update() != Phase::Running,
            Err(_) => true,
        };
    }
    *stopping
}

/// Wait (until `waits.timer`) until a connection's first bytes can be read: Tokio reports
/// an accepted socket readable before any data came, so the caller's read decides. No
/// buffer exists until then.
///
/// Small on purpose (it is the state every idle connection keeps): readiness is polled on
/// the stream itself, not through a `readable()` future and its waiter node.
pub(crate) async fn first_bytes(
    stream: &TcpStream,
    waits: &mut Waits<'_, '_>,
    phase: &mut watch::Receiver<Phase>,
    stopped: &mut bool,
) -> First {
    if stopping(phase, stopped) {
        return First::Read { stopping: true };
    }
    let woke = std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = stream.poll_read_ready(cx) {
            return Poll::Ready(Woke::Readable(r));
        }
        if Future::poll(waits.timer.as_mut(), cx).is_ready() {
            return Poll::Ready(Woke::TimedOut);
        }
        Future::poll(waits.phase_changed.as_mut(), cx).map(|()| Woke::Phase)
    })
    .await;
    match woke {
        Woke::Readable(Ok(())) => First::Read { stopping: false },
        Woke::Readable(Err(e)) => First::Failed(e),
        Woke::TimedOut => First::TimedOut,
        // The waiter is spent: from here on `stopped` stays true and it is not polled.
        Woke::Phase => {
            *stopped = true;
            First::Read { stopping: true }
        }
    }
}

/// What ended a wait in [`first_bytes`].
enum Woke {
    Readable(io::Result<()>),
    TimedOut,
    Phase,
}

/// Read what has arrived into `buf` (at most [`FIRST_READ`]); 0 at the end of the
/// stream. The caller's buffer is on its stack, never part of a connection's future.
///
/// `ask_kernel`: read even if Tokio has not seen the socket readable yet. At shutdown the
/// phase change can wake the task before the runtime has polled for the data's event, and
/// Tokio's `try_read` would then report "nothing there" without asking, so a request
/// already received would be closed unanswered (and the unread bytes turn the close into
/// a reset).
pub(crate) fn read_first(
    stream: &TcpStream,
    ask_kernel: bool,
    buf: &mut [u8; FIRST_READ],
) -> io::Result<usize> {
    if ask_kernel {
        return crate::sys::socket::recv_now(stream, buf);
    }
    let mut n = 0;
    // A short read drained the socket (as Tokio's own `poll_read` and nginx assume with
    // edge-triggered epoll): report it to Tokio as "would block" so it forgets the
    // readiness this read used. Otherwise the wait for the next keep-alive request began
    // with a `recv` bound to fail (strace: one request in three paid it). Tokio clears
    // only the readiness it saw before the closure ran, never a newer epoll event.
    let read = stream.try_io(tokio::io::Interest::READABLE, || {
        n = crate::sys::socket::recv_now(stream, buf)?;
        if 0 < n && n < FIRST_READ {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(())
    });
    match read {
        Err(e) if !(e.kind() == io::ErrorKind::WouldBlock && n > 0) => Err(e),
        _ => Ok(n),
    }
}

const CLOSE: HeaderValue = HeaderValue::from_static("close");

/// Whether hyper will close the connection after answering `req`: the request says
/// `Connection: close`, or it is HTTP/1.0 without `Connection: keep-alive`.
fn wants_close<B>(req: &Request<B>) -> bool {
    let has = |token: &str| {
        req.headers().get_all(header::CONNECTION).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if req.version() <= http::Version::HTTP_10 {
        !has("keep-alive")
    } else {
        has("close")
    }
}

/// Write `bufs` with `MSG_MORE`: the kernel holds the bytes until more come or the socket
/// is closed, so a last response and the FIN leave in one segment (one packet and one ACK
/// less per connection).
fn poll_send_more(
    stream: &TcpStream,
    cx: &mut Context<'_>,
    bufs: &[io::IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    loop {
        std::task::ready!(stream.poll_write_ready(cx))?;
        match stream.try_io(tokio::io::Interest::WRITABLE, || {
            crate::sys::socket::send_more(stream, bufs)
        }) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return Poll::Ready(r),
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pos < self.prefix.len() {
            let n = (self.prefix.len() - self.pos).min(buf.remaining());
            buf.put_slice(&self.prefix[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.prefix.len() {
                self.prefix = Vec::new();
                self.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        if self.shared.park.load(Ordering::Relaxed) {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.shared.on_read();
        }
        r
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.shared.on_write();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = if self.shared.last.load(Ordering::Relaxed) {
            poll_send_more(&self.stream, cx, bufs)
        } else {
            Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
        };
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.shared.on_write();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// No `shutdown(SHUT_WR)`: the stream is dropped right after (the close sends the
    /// FIN), so the extra syscall per connection buys nothing.
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts::new(
            "[::ffff:192.0.2.7]:5000".parse().unwrap(),
            "[::1]:8080".parse().unwrap(),
        )
    }

    fn body(r: &Response<Full<Bytes>>) -> String {
        // Full<Bytes> has exactly one frame; poll it synchronously.
        use http_body_util::BodyExt;
        let b = futures_util::FutureExt::now_or_never(r.body().clone().collect())
            .unwrap()
            .unwrap()
            .to_bytes();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[test]
    fn which_requests_end_their_connection() {
        let req = |v: http::Version, conn: &[&str]| {
            let mut b = Request::builder().version(v).uri("/");
            for c in conn {
                b = b.header(header::CONNECTION, *c);
            }
            b.body(()).unwrap()
        };
        use http::Version;
        assert!(!wants_close(&req(Version::HTTP_11, &[])));
        assert!(wants_close(&req(Version::HTTP_11, &["close"])));
        assert!(wants_close(&req(Version::HTTP_11, &["Keep-Alive, Close"])));
        assert!(wants_close(&req(Version::HTTP_11, &["upgrade", "close"])));
        assert!(!wants_close(&req(Version::HTTP_11, &["closed"])));
        assert!(wants_close(&req(Version::HTTP_10, &[])));
        assert!(!wants_close(&req(Version::HTTP_10, &["keep-alive"])));
        assert!(wants_close(&req(Version::HTTP_09, &[])));
    }

    #[test]
    fn routes() {
        let f = facts();
        let r = route(&Method::GET, "/", &f);
        assert_eq!(r.status(), 200);
        assert_eq!(body(&r), "192.0.2.7\n");
        assert_eq!(body(&route(&Method::GET, "/ip", &f)), "192.0.2.7\n");
        assert_eq!(body(&route(&Method::GET, "/family", &f)), "IPv4\n");
        let j = route(&Method::GET, "/json", &f);
        assert_eq!(j.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            body(&j),
            "{\"ip\":\"192.0.2.7\",\"port\":5000,\"family\":\"IPv4\",\"local\":\"[::1]:8080\"}\n"
        );
        assert_eq!(route(&Method::HEAD, "/", &f).status(), 200);
        assert_eq!(route(&Method::GET, "/nope", &f).status(), 404);
        let r = route(&Method::POST, "/", &f);
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()[header::ALLOW], "GET, HEAD");
    }
}
