//! The heap an idle HTTP connection holds, counted by a global allocator that tracks the
//! live bytes of this process: none more than 2 KiB; on Linux a connection that has sent
//! nothing, or a keep-alive one idle for a second, waits in the accept loop (no task)
//! and holds a few hundred bytes at most. Both kinds
//! of keep-alive connection are measured: one answered without hyper (`whoami::fast`,
//! which never builds hyper state) and one answered by hyper and parked (hyper's
//! connection, its 16 KiB of buffers and every per-request allocation freed). (Before
//! the parking: ~1.1 KB more for a parked connection, its boxed wait, its `Arc`s.)
#![cfg(feature = "server")]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use dualstack::listen::Bound;
use dualstack::whoami::server::{Server, ServerConfig, Service};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static A: Counting = Counting;

const N: usize = 200;

const FAST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
/// A query string: answered by hyper.
const HYPER: &[u8] = b"GET /?via=hyper HTTP/1.1\r\nHost: x\r\n\r\n";

/// One request and its whole response, read into a fixed buffer (no allocation here).
fn get(c: &mut TcpStream, request: &[u8]) {
    c.write_all(request).unwrap();
    let mut buf = [0u8; 1024];
    let mut n = 0;
    // The body is the address and a newline; the head ends before it.
    loop {
        let got = c.read(&mut buf[n..]).unwrap();
        assert!(got > 0, "closed");
        n += got;
        let text = &buf[..n];
        if let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") {
            if text[end + 4..].ends_with(b"\n") {
                assert!(text.starts_with(b"HTTP/1.1 200"));
                return;
            }
        }
    }
}

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

#[test]
fn idle_keep_alive_connections_hold_what_an_unused_one_holds() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let socks: Vec<Bound> = ["127.0.0.1:0", "[::1]:0"]
        .iter()
        .filter_map(|a| support::listen::tcp(a))
        .collect();
    let addrs: Vec<SocketAddr> = socks.iter().map(|b| b.local).collect();
    let cfg = ServerConfig {
        header_timeout: Duration::from_secs(120),
        idle_timeout: Duration::from_secs(300),
        ..ServerConfig::default()
    };
    let running = rt.block_on(async {
        Server::new(cfg)
            .start(socks.into_iter().map(|b| (Service::Http, b)).collect())
            .unwrap()
    });
    let server = running.server().clone();
    let connect = |i: usize| {
        let c = TcpStream::connect(addrs[i % addrs.len()]).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c
    };
    let settle = |accepted: u64| {
        for _ in 0..500 {
            if server.stats().accepted >= accepted {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(server.stats().accepted >= accepted);
        std::thread::sleep(Duration::from_millis(300));
    };
    // Warm up: the runtime, hyper and tracing's first allocations; park one connection.
    let mut warm = connect(0);
    get(&mut warm, HYPER);
    std::thread::sleep(Duration::from_millis(1500));
    get(&mut warm, HYPER);
    get(&mut warm, FAST);
    drop(warm);
    settle(1);
    let mut never = Vec::with_capacity(N);
    let mut fast = Vec::with_capacity(N);
    let mut ka = Vec::with_capacity(N);

    let base = live();
    for i in 0..N {
        never.push(connect(i));
    }
    settle(1 + N as u64);
    let with_never = live();
    for i in 0..N {
        fast.push(connect(i));
        get(fast.last_mut().unwrap(), FAST);
    }
    assert_eq!(server.stats().http_started, 2, "a plain GET built hyper");
    // Still in their tasks (recently active)...
    std::thread::sleep(Duration::from_millis(300));
    let with_fast_active = live();
    // ...then back in the accept loop after 1 s idle.
    std::thread::sleep(Duration::from_millis(1500));
    let with_fast = live();
    for i in 0..N {
        ka.push(connect(i));
        get(ka.last_mut().unwrap(), HYPER);
    }
    assert_eq!(server.stats().http_started as usize, 2 + N);
    // hyper's state dropped after 1 s idle, and the connection back in the accept loop.
    std::thread::sleep(Duration::from_millis(1800));
    let with_ka = live();
    let parked = server.stats().parked;

    let never_b = (with_never - base) / N as isize;
    let active_b = (with_fast_active - with_never) / N as isize;
    let fast_b = (with_fast - with_never) / N as isize;
    let ka_b = (with_ka - with_fast) / N as isize;
    eprintln!(
        "live heap per idle connection: never-sent {never_b} B, keep-alive {active_b} B \
         (0.3 s idle), {fast_b} B (1.8 s idle), keep-alive served by hyper {ka_b} B \
         (1.8 s idle); {parked} parked"
    );
    drop(never);
    drop(fast);
    drop(ka);
    let d = rt.block_on(running.stop(std::future::pending()));
    assert_eq!(d.cut, 0);
    let bound = if cfg!(debug_assertions) { 4096 } else { 2048 };
    for (what, b) in [
        ("never-sent", never_b),
        ("keep-alive, 0.3 s idle", active_b),
        ("keep-alive", fast_b),
        ("keep-alive served by hyper", ka_b),
    ] {
        assert!(b <= bound, "{what}: {b} B");
    }
    if cfg!(target_os = "linux") {
        // In the accept loop's waiting set: a slot of ~120 B (the slot vector grows by
        // doubling, so one step of 200 connections may pay for up to twice its slots).
        assert!(parked >= 2 * N as u64, "{parked} parked");
        assert!(never_b <= 256, "never-sent: {never_b} B (a task?)");
        assert!(fast_b <= 512, "keep-alive: {fast_b} B (a task?)");
        assert!(
            ka_b <= 512,
            "keep-alive served by hyper: {ka_b} B (a task?)"
        );
    }
}
