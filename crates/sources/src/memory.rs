//! Giving memory back after a burst.
//!
//! While thousands of handshakes are in flight at once, each needs a few
//! KiB (the connect and upgrade state, the response buffer, the evidence
//! record); once they are open, an idle connection needs about 1 KiB.
//! glibc's allocator keeps the freed pages mapped for reuse, so a process
//! that opened 17,000 connections in two seconds would go on reporting (and
//! holding) its peak. `malloc_trim` returns the free pages to the kernel.
//! No crate wraps this one call; other allocators return memory on their own.

/// Returns free heap pages to the kernel (glibc only; elsewhere nothing).
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim has no preconditions; it only walks glibc's own
    // arenas under their locks and may be called from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
