//! Giving freed heap memory back to the OS.

/// Return free heap pages to the OS (`malloc_trim(0)`, glibc). glibc keeps memory freed
/// by many small blocks resident (10k closed connections left ~110 MB); trimming after
/// such a burst releases the free pages in every arena. A no-op elsewhere.
pub(crate) fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; no pointers of ours.
    unsafe {
        libc::malloc_trim(0);
    }
}
