//! Giving memory back after a burst.
//!
//! While thousands of handshakes are in flight at once, each needs a few
//! KiB (the connect and upgrade state, the response buffer, the evidence
//! record); once they are open, an idle connection needs about 1 KiB.
//! glibc's allocator keeps the freed pages mapped for reuse, so a process
//! that opened 17,000 connections in two seconds would go on reporting (and
//! holding) its peak. `malloc_trim` returns the free pages to the kernel.
//! No crate wraps this one call; other allocators return memory on their own.

/// This process's resident memory (`VmRSS` of `/proc/self/status`), in
/// bytes; `None` where there is no such file (not Linux).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn reads_the_resident_size() {
        let status = "Name:\twsdoctor\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads: 3\n";
        assert_eq!(super::parse_vm_rss(status), Some(5 << 20));
        assert_eq!(super::parse_vm_rss("VmRSS: lots"), None);
        #[cfg(target_os = "linux")]
        assert!(super::resident_bytes().unwrap() > 0);
    }
}
