//! The process's memory allocator.
//!
//! mimalloc instead of glibc's malloc, because building the access index of
//! a large tenant allocates and frees SCIM documents page by page. With
//! 100,000 users glibc kept 95 MB more than the 184 MB in use, and the
//! server's resident memory fell from 280 MB to 231 MB with mimalloc.
//!
//! The only unsafe code in Lockgate: two calls into mimalloc's C API, which
//! its Rust crate does not wrap.

#![allow(unsafe_code)]

use std::ffi::{c_int, c_long};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay`, the 16th entry of `mi_option_t` in mimalloc 3's
/// `include/mimalloc.h`. The test below checks it by its default value.
const PURGE_DELAY: c_int = 15;

unsafe extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
    #[cfg(test)]
    fn mi_option_get(option: c_int) -> c_long;
}

/// Makes mimalloc return freed pages to the system as soon as they are
/// empty. Its default delay of one second kept the memory of a burst
/// resident. After a SCIM initial cycle of 100,000 users the server held
/// 253 MB instead of 201 MB, and the decision benchmark that followed
/// peaked at 202 MB instead of 194 MB.
pub(crate) fn return_freed_memory_at_once() {
    // SAFETY: mi_option_set stores a number in mimalloc's option table.
    // `main` calls this before it starts any other thread, so no allocation
    // reads the table while the number changes.
    unsafe { mi_option_set(PURGE_DELAY, 0) }
}

/// Disables transparent huge pages for the process. mimalloc marks its
/// arenas `MADV_HUGEPAGE`, so with freed pages returned at once, each return
/// split a 2 MiB page and the next allocation there faulted in a new one,
/// which the kernel zeroes first. A 25-second decision benchmark at 20,000
/// decisions a second took about 1,850 such faults. Without huge pages its
/// p99 fell from 5.6-11.4 ms to 3.9-5.2 ms, and the resident peak from
/// 177 MB to 165 MB.
///
/// `PR_SET_THP_DISABLE` also covers the arena mapped before `main`. Kernels
/// older than 3.15 reject it, and the server then runs with huge pages.
pub(crate) fn disable_huge_pages() {
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resident memory of this process in bytes, from `VmRSS` in
    /// /proc/self/status.
    fn resident_bytes() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        let kilobytes: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kilobytes * 1024
    }

    #[test]
    fn freed_memory_returns_at_once() {
        // SAFETY: reads a number from mimalloc's option table.
        let default = unsafe { mi_option_get(PURGE_DELAY) };
        assert_eq!(
            default, 1_000,
            "option {PURGE_DELAY} is not the purge delay"
        );

        // Unlike `main`, the test sets the option while other test threads
        // may allocate. It relies on an aligned `long` being written in one
        // store.
        return_freed_memory_at_once();

        // A thread of its own, so that its pages hold nothing of other tests.
        let (peak, after) = std::thread::spawn(|| {
            let blocks: Vec<Box<[u8; 1024]>> = (0..200_000).map(|_| Box::new([7; 1024])).collect();
            let peak = resident_bytes();
            drop(blocks);
            (peak, resident_bytes())
        })
        .join()
        .unwrap();

        let returned = peak.saturating_sub(after);
        assert!(
            returned > 150 * 1024 * 1024,
            "only {returned} of about 200 MB freed bytes left the process"
        );
    }

    /// Checks the `THP_enabled` line of /proc/self/status, which turns 0
    /// once the process disables huge pages. Older kernels lack the line.
    #[cfg(target_os = "linux")]
    #[test]
    fn huge_pages_disabled_for_process() {
        let thp_enabled = || {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            status
                .lines()
                .find_map(|l| l.strip_prefix("THP_enabled:"))
                .map(|v| v.trim().to_string())
        };
        if thp_enabled().is_none() {
            eprintln!("this kernel does not show THP_enabled; nothing to check");
            return;
        }
        disable_huge_pages();
        assert_eq!(thp_enabled().as_deref(), Some("0"));
    }
}
