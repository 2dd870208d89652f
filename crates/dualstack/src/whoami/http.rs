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
//! Limits per connection: the request head must arrive within the header timeout (which
//! also ends idle keep-alive connections), a connection with no I/O for the idle timeout
//! is closed, and the read buffer never grows past [`HttpConfig::max_buf_size`] (larger
//! heads get `431`), so memory per connection is bounded.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

use super::Facts;

const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const ALLOW: HeaderValue = HeaderValue::from_static("GET, HEAD");

/// The reply to one request, from the client's [`Facts`]. Pure: no I/O.
pub fn route(method: &Method, path: &str, facts: &Facts) -> Response<Full<Bytes>> {
    let (ctype, body) = match path {
        "/" | "/ip" => (TEXT, format!("{}\n", facts.ip)),
        "/family" => (TEXT, format!("{}\n", facts.family)),
        "/json" => (JSON, facts.to_json() + "\n"),
        _ => return plain(StatusCode::NOT_FOUND, "not found\n"),
    };
    if method != Method::GET && method != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut().insert(header::ALLOW, ALLOW);
        return r;
    }
    // hyper sends no body for HEAD but keeps Content-Length, as RFC 9110 §9.3.2 asks.
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(header::CONTENT_TYPE, ctype);
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
    /// A request head must arrive within this time; also ends idle keep-alive
    /// connections (hyper's `header_read_timeout`). Default 10 s.
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
pub enum HttpError {
    /// hyper reported a protocol or I/O error (including the header timeout).
    #[error("HTTP connection failed")]
    Http(#[from] hyper::Error),
    /// No I/O for the idle timeout.
    #[error("idle for {0:?}, closed")]
    Idle(Duration),
}

/// Serve HTTP/1.1 whoami requests on one connection until the client closes it, a limit
/// cuts it, or `shutdown` turns true (then the request in progress is finished and the
/// connection closed; an idle one closes at once).
///
/// # Errors
/// [`HttpError`]: protocol errors, the header timeout, the idle timeout.
///
/// # Cancel safety
/// Dropping the future closes the connection.
pub async fn serve_connection<I>(
    io: I,
    facts: Arc<Facts>,
    cfg: &HttpConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), HttpError>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let io = TokioIo::new(Activity {
        inner: io,
        start,
        last: last.clone(),
    });
    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
        let resp = route(req.method(), req.uri().path(), &facts);
        async move { Ok::<_, Infallible>(resp) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        // hyper adds it to an Instant unchecked.
        .header_read_timeout(crate::deadline::capped(cfg.header_timeout))
        .max_buf_size(cfg.max_buf_size.max(8192))
        .keep_alive(true)
        .serve_connection(io, svc);
    tokio::pin!(conn);
    let mut shutting = *shutdown.borrow_and_update();
    if shutting {
        conn.as_mut().graceful_shutdown();
    }
    let idle_deadline = |last: &AtomicU64| {
        use crate::deadline::Later;
        start
            .later(Duration::from_millis(last.load(Ordering::Relaxed)))
            .later(cfg.idle_timeout)
    };
    loop {
        tokio::select! {
            r = conn.as_mut() => return r.map_err(HttpError::from),
            _ = tokio::time::sleep_until(idle_deadline(&last)) => {
                if Instant::now() >= idle_deadline(&last) {
                    return Err(HttpError::Idle(cfg.idle_timeout));
                }
            }
            r = shutdown.changed(), if !shutting => {
                shutting = true;
                if r.is_err() || *shutdown.borrow() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Records the time of the last successful read or write, for the idle timeout.
struct Activity<T> {
    inner: T,
    start: Instant,
    last: Arc<AtomicU64>,
}

impl<T> Activity<T> {
    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last.store(ms, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Activity<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Activity<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
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
