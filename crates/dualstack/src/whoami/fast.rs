//! The whoami's everyday requests answered without hyper.
//!
//! A request whose bytes arrived in one read and that is exactly one complete
//! `GET` or `HEAD` of `/`, `/ip`, `/family` or `/json` in HTTP/1.1, with no body
//! (`Content-Length`, `Transfer-Encoding`), no `Expect`, no `Upgrade` and no `Connection`
//! token other than `close` and `keep-alive`, is parsed here with httparse (the parser hyper
//! itself uses, with hyper's defaults) and answered with the bytes hyper would send: the
//! same status line, header names, order and date format (a test compares the two). Anything
//! else — a partial head, pipelined requests, a query string, another method, HTTP/1.0 — is
//! handed to hyper untouched, so hyper stays the one HTTP implementation for every case
//! but the common one.
//!
//! Why: callgrind put hyper's dispatcher at a third of the user-space instructions of a
//! keep-alive request, and building a hyper connection (its task state, buffers and
//! service) at about half of a `Connection: close` connection's. A connection answered
//! here never builds one, so a keep-alive connection idles with no HTTP state at all.

use std::cell::RefCell;
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpStream;

use super::http::{write_body, Route};
use super::Facts;

/// Most headers a request answered here may have; more go to hyper (which allows 100).
const MAX_HEADERS: usize = 32;

/// A response for one request, ready to send: an owned copy, for a reply that waits for
/// room in the socket's buffer.
#[derive(Debug)]
pub(crate) struct Reply {
    /// Status line, headers and body (none for `HEAD`).
    pub(crate) bytes: Vec<u8>,
    /// The response ends the connection (the request or the server said close).
    pub(crate) last: bool,
}

/// A response built in this thread's scratch buffer (see [`with_reply`]).
#[derive(Debug)]
pub(crate) struct ReplyRef<'a> {
    /// Status line, headers and body (none for `HEAD`).
    pub(crate) bytes: &'a [u8],
    /// The response ends the connection (the request or the server said close).
    pub(crate) last: bool,
    /// The route label, for the observer.
    pub(crate) route: &'static str,
}

impl ReplyRef<'_> {
    /// An owned copy of what is left to send after the first `sent` bytes.
    pub(crate) fn rest(&self, sent: usize) -> Reply {
        Reply {
            bytes: self.bytes[sent..].to_vec(),
            last: self.last,
        }
    }
}

/// The reply to `request` (all the bytes read so far), or `None` if hyper must handle
/// them. `closing`: the server is shutting down, so the reply says `Connection: close`
/// and ends the connection.
#[cfg(test)]
pub(crate) fn reply(request: &[u8], facts: &Facts, closing: bool) -> Option<Reply> {
    with_reply(request, facts, closing, |r| r.rest(0))
}

/// Build the reply to `request` (as [`reply`] would) in this thread's scratch buffers
/// and hand it to `f`, which sends it: no allocation per request. `None`, without calling
/// `f`, if hyper must handle the request.
pub(crate) fn with_reply<R>(
    request: &[u8],
    facts: &Facts,
    closing: bool,
    f: impl FnOnce(ReplyRef<'_>) -> R,
) -> Option<R> {
    let simple = parse(request)?;
    let last = closing || simple.close;
    Some(SCRATCH.with(|cell| {
        let mut shared = cell.try_borrow_mut();
        let mut own;
        let s = match &mut shared {
            Ok(s) => &mut **s,
            // Only if `f` builds a reply itself, which no caller does: buffers of its own.
            Err(_) => {
                own = Scratch::NEW;
                &mut own
            }
        };
        build(&simple, facts, last, s);
        f(ReplyRef {
            bytes: &s.out,
            last,
            route: simple.route.label(),
        })
    }))
}

/// Write the response to `simple` into `s.out`, with `s.body` as scratch.
fn build(simple: &Simple, facts: &Facts, last: bool, s: &mut Scratch) {
    let Scratch { date, body, out: b } = s;
    body.clear();
    b.clear();
    let ctype = write_body(simple.route, facts, body);
    b.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-type: ");
    b.extend_from_slice(ctype.as_bytes());
    if last {
        b.extend_from_slice(b"\r\nconnection: close");
    }
    b.extend_from_slice(b"\r\ncontent-length: ");
    push_decimal(b, body.len());
    b.extend_from_slice(b"\r\ndate: ");
    date.push(b);
    b.extend_from_slice(b"\r\n\r\n");
    if !simple.head {
        b.extend_from_slice(body);
    }
}

/// Send as much of `bytes` as fits now, in one nonblocking `send`. A `last` reply goes
/// with `MSG_MORE`, so the close that follows adds the FIN to its segment.
pub(crate) fn send_now(stream: &TcpStream, bytes: &[u8], last: bool) -> io::Result<usize> {
    if last {
        stream.try_io(tokio::io::Interest::WRITABLE, || {
            crate::sys::socket::send_more(stream, &[io::IoSlice::new(bytes)])
        })
    } else {
        stream.try_write(bytes)
    }
}

/// Send `reply` on `stream` (as [`send_now`] does, until all is sent). A client that does
/// not read its responses gets `idle` to make room before the error.
pub(crate) async fn send(stream: &TcpStream, reply: &Reply, idle: Duration) -> io::Result<()> {
    let mut rest = &reply.bytes[..];
    while !rest.is_empty() {
        match send_now(stream, rest, reply.last) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                tokio::time::timeout(crate::deadline::capped(idle), stream.writable())
                    .await
                    .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Send as much of a last reply as fits now on a nonblocking socket no event loop
/// watches: one `send` with `MSG_MORE`, as [`send_now`] does, so the close adds the FIN
/// to its segment. Returns how many bytes went.
pub(crate) fn send_last_now(socket: &std::net::TcpStream, bytes: &[u8]) -> io::Result<usize> {
    crate::sys::socket::send_more(socket, &[io::IoSlice::new(bytes)])
}

/// What [`parse`] found in a request it accepts.
#[derive(Debug, PartialEq, Eq)]
struct Simple {
    head: bool,
    route: Route,
    close: bool,
}

/// `request` is exactly one complete request this module answers.
fn parse(request: &[u8]) -> Option<Simple> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(request) {
        Ok(httparse::Status::Complete(n)) if n == request.len() => {}
        _ => return None,
    }
    if req.version != Some(1) {
        return None;
    }
    let head = match req.method? {
        "GET" => false,
        "HEAD" => true,
        _ => return None,
    };
    let route = Route::of(req.path?)?;
    let mut close = false;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"connection") {
            for token in h.value.split(|&c| c == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if !token.is_empty() && !token.eq_ignore_ascii_case(b"keep-alive") {
                    return None;
                }
            }
        } else if [
            &b"content-length"[..],
            b"transfer-encoding",
            b"expect",
            b"upgrade",
        ]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
        {
            return None;
        }
    }
    Some(Simple { head, route, close })
}

fn push_decimal(b: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    b.extend_from_slice(&digits[i..]);
}

/// What [`with_reply`] builds in, one per thread: the cached date and two buffers whose
/// capacity stays (a few hundred bytes: a body holds an address, a port and at most a
/// 253-byte host name).
struct Scratch {
    date: Date,
    body: Vec<u8>,
    out: Vec<u8>,
}

impl Scratch {
    /// Empty buffers, no date cached.
    const NEW: Scratch = Scratch {
        date: Date::NONE,
        body: Vec::new(),
        out: Vec::new(),
    };
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::NEW) };
}

/// The `Date` header value (IMF-fixdate, 29 bytes), formatted once a second per thread
/// (as hyper does).
struct Date {
    secs: u64,
    text: [u8; 29],
}

impl Date {
    /// Nothing cached yet.
    const NONE: Date = Date {
        secs: u64::MAX,
        text: [0; 29],
    };

    /// Append the current date to `b`.
    fn push(&mut self, b: &mut Vec<u8>) {
        let now = SystemTime::now();
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if secs != self.secs {
            let s = httpdate::fmt_http_date(now);
            if s.len() != self.text.len() {
                // Past the year 9999 it does not fit: not cached, still correct.
                b.extend_from_slice(s.as_bytes());
                return;
            }
            self.text.copy_from_slice(s.as_bytes());
            self.secs = secs;
        }
        b.extend_from_slice(&self.text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_one_complete_simple_request() {
        let ok = |r: &str| parse(r.as_bytes());
        let get = |route, close| {
            Some(Simple {
                head: false,
                route,
                close,
            })
        };
        assert_eq!(
            ok("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            get(Route::Root, false)
        );
        assert_eq!(ok("GET /ip HTTP/1.1\r\n\r\n"), get(Route::Ip, false));
        assert_eq!(
            ok("GET /json HTTP/1.1\r\nConnection: Keep-Alive, close\r\n\r\n"),
            get(Route::Json, true)
        );
        assert_eq!(
            ok("HEAD /family HTTP/1.1\r\n\r\n"),
            Some(Simple {
                head: true,
                route: Route::Family,
                close: false
            })
        );
        for hyper in [
            "GET / HTTP/1.1\r\nHost: x\r\n",                  // partial
            "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",   // pipelined
            "GET / HTTP/1.0\r\n\r\n",                         // 1.0
            "GET /?a=b HTTP/1.1\r\n\r\n",                     // query
            "GET http://x/ HTTP/1.1\r\n\r\n",                 // absolute form
            "GET /nope HTTP/1.1\r\n\r\n",                     // 404
            "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",   // 405
            "GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", // body
            "GET / HTTP/1.1\r\nTransfer-Encoding: x\r\n\r\n", // body
            "GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", // expect
            "GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n",  // upgrade
            "GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",         // upgrade
            "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",        // 400
            "get / HTTP/1.1\r\n\r\n",                         // another method
        ] {
            assert_eq!(ok(hyper), None, "{hyper:?}");
        }
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "a: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(ok(&many), None);
    }

    /// What hyper sends for `request`, with the service `run_hyper` uses (the route, and
    /// `Connection: close` while closing), with the `date` value blanked.
    async fn hyper_reply(request: &[u8], facts: &Facts, closing: bool) -> String {
        use http::header::{HeaderValue, CONNECTION};
        use hyper_util::rt::TokioIo;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let facts = facts.clone();
        let svc = hyper::service::service_fn(move |req: http::Request<_>| {
            let mut r = super::super::http::route(req.method(), req.uri().path(), &facts);
            if closing {
                r.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            std::future::ready(Ok::<_, std::convert::Infallible>(r))
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .half_close(true)
            .serve_connection(TokioIo::new(server), svc);
        let task = tokio::spawn(conn);
        client.write_all(request).await.unwrap();
        client.shutdown().await.unwrap();
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        task.await.unwrap().unwrap();
        blank_date(&out)
    }

    fn blank_date(response: &[u8]) -> String {
        let s = String::from_utf8(response.to_vec()).unwrap();
        let at = s.find("\r\ndate: ").expect("a date header") + 8;
        format!("{}<date>{}", &s[..at], &s[at + 29..])
    }

    #[tokio::test]
    async fn replies_with_the_bytes_hyper_sends() {
        let v4 = Facts::new(
            "[::ffff:192.0.2.7]:5000".parse().unwrap(),
            "[::1]:8080".parse().unwrap(),
        );
        let mut v6 = Facts::new(
            "[2001:db8::7]:5000".parse().unwrap(),
            "[::1]:8080".parse().unwrap(),
        );
        v6.reverse = Some("h\"ost.example".into());
        v6.proxy = Some("[2001:db8::1]:443".parse().unwrap());
        let mut n = 0;
        for facts in [&v4, &v6] {
            for req in [
                "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                "GET /ip HTTP/1.1\r\nhost: x\r\nUser-Agent: wrk\r\n\r\n",
                "GET /family HTTP/1.1\r\nConnection: keep-alive\r\n\r\n",
                "GET /json HTTP/1.1\r\nConnection: close\r\n\r\n",
                "HEAD /json HTTP/1.1\r\nConnection: Keep-Alive, Close\r\n\r\n",
                "HEAD / HTTP/1.1\r\n\r\n",
            ] {
                for closing in [false, true] {
                    let ours = reply(req.as_bytes(), facts, closing).expect(req);
                    let theirs = hyper_reply(req.as_bytes(), facts, closing).await;
                    assert_eq!(blank_date(&ours.bytes), theirs, "{req:?} closing {closing}");
                    assert_eq!(ours.last, closing || req.contains("lose"), "{req:?}");
                    n += 1;
                }
            }
        }
        assert_eq!(n, 24);
    }

    proptest::proptest! {
        // About one request in ten is answered here.
        #![proptest_config(proptest::test_runner::Config::with_cases(2048))]
        /// Requests built from the parts that decide the path taken: whenever this module
        /// answers one, hyper answers it with the same bytes.
        #[test]
        fn any_request_answered_here_is_answered_as_hyper_would(
            // Weighted towards requests answered here (listed more than once).
            method in proptest::sample::select(vec!["GET", "GET", "HEAD", "POST", "get"]),
            path in proptest::sample::select(vec!["/", "/ip", "/family", "/json", "/json",
                                                  "/x", "/?a", "/ip#f", "*"]),
            version in proptest::sample::select(vec!["HTTP/1.1", "HTTP/1.1", "HTTP/1.0",
                                                     "HTTP/2.0"]),
            headers in proptest::collection::vec(proptest::sample::select(vec![
                "Host: x", "host:x", "Connection: close", "connection: keep-alive",
                "Connection: Keep-Alive, close", "Connection: upgrade", "Connection: close, TE",
                "Connection:", "Content-Length: 0", "Transfer-Encoding: chunked",
                "Expect: 100-continue", "Upgrade: websocket", "X-A: \u{e9}", "X-B:  v  ",
                "Bad Name: x", "X-C: a\tb",
            ]), 0..4),
            closing in proptest::bool::ANY,
            ipv6 in proptest::bool::ANY,
        ) {
            let mut req = format!("{method} {path} {version}\r\n");
            for h in &headers {
                req.push_str(h);
                req.push_str("\r\n");
            }
            req.push_str("\r\n");
            let peer = if ipv6 { "[2001:db8::7]:5000" } else { "192.0.2.7:5000" };
            let facts = Facts::new(peer.parse().unwrap(), "[::1]:8080".parse().unwrap());
            if let Some(ours) = reply(req.as_bytes(), &facts, closing) {
                let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                let theirs = rt.block_on(hyper_reply(req.as_bytes(), &facts, closing));
                proptest::prop_assert_eq!(blank_date(&ours.bytes), theirs, "{:?}", req);
                let closes = closing || headers.iter().any(|h| h.ends_with("close"));
                proptest::prop_assert_eq!(ours.last, closes, "{:?}", req);
            }
        }
    }

    #[test]
    fn decimal() {
        for n in [0, 7, 10, 74, 1234, usize::MAX] {
            let mut b = Vec::new();
            push_decimal(&mut b, n);
            assert_eq!(b, n.to_string().as_bytes());
        }
    }
}
