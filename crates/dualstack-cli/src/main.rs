//! The `dualstack` command-line tool. All work happens in [`cli::run`]; this file only
//! turns its outcome into an exit code (ripgrep's layout).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}

/// jemalloc, not glibc's malloc: it keeps each size class in its own slabs, so the
/// buffers a keep-alive connection frees when it parks leave whole pages free instead of
/// holes between the blocks that stay (glibc: 6.0 KB of RSS per parked connection,
/// jemalloc: 1.x KB; README "Serve performance").
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options (its `malloc_conf`, a C string pointer): a background thread gives
/// freed pages back to the OS after about a second (`dirty_decay_ms`) instead of the
/// default ten, and without the intermediate lazy-free state (`muzzy_decay_ms:0`), so RSS
/// falls soon after a burst of connections closes.
#[cfg(feature = "jemalloc")]
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &u8 = &b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0"[0];
