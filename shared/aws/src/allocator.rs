//! glibc's malloc tuned for a function: one event at a time, billed and capped by its peak memory.
//!
//! By default glibc gives threads their own arenas, and serves blocks above a threshold that it raises each time
//! such a block is freed (up to 32 MiB) from those arenas, where freed memory stays resident. An export's pages
//! (about half a MiB each, parsed on whichever worker thread polls them) and its 5 MiB S3 parts then leave their
//! high-water mark in several arenas at once. One arena, and blocks from 128 KiB up always mapped and returned
//! on free, keep the resident set near what is live (`bench_export` prints the peak RSS).

/// Blocks of at least this many bytes are mapped on their own and unmapped when freed.
pub const MMAP_THRESHOLD: i32 = 128 << 10;

/// Applies the tuning; call first in `main`, before any thread starts. Returns whether the allocator took it
/// (always false where the C library is not glibc).
pub fn tune() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets allocator parameters, and no other thread exists yet to allocate meanwhile.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1) == 1
                && libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_the_tuning() {
        assert!(super::tune());
    }
}
