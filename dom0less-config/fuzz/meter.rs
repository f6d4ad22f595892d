//! A counting global allocator: per thread, the bytes live, their peak and the allocations.
//!
//! The counters are thread-local, so tests running in parallel do not see each other's
//! allocations. Include this file once per binary; it installs itself as the allocator.
// Each binary that includes it uses a subset of what it reports.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to the system allocator and counts.
pub struct Meter;

#[global_allocator]
static METER: Meter = Meter;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn grew(bytes: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(bytes as isize);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
    let _ = COUNT.try_with(|count| count.set(count.get() + 1));
}

fn shrank(bytes: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(bytes as isize)));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// allocator contract holds exactly as it does for `System`; the counters only read sizes and
// use `const`-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Meter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which `System.alloc` shares.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds `realloc`'s rules.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        new
    }
}

/// What one measured call allocated on this thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// Highest number of bytes live at once, above what was live before the call.
    pub peak_bytes: usize,
    /// Number of allocations (a reallocation counts as one).
    pub allocations: u64,
    /// Bytes still live after the call, above what was live before: what its result holds,
    /// or a leak.
    pub retained_bytes: isize,
}

fn live() -> isize {
    LIVE.try_with(Cell::get).unwrap_or(0)
}

/// Runs `f` and reports what it allocated.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Usage) {
    let start = live();
    let _ = PEAK.try_with(|peak| peak.set(start));
    let count = COUNT.try_with(Cell::get).unwrap_or(0);
    let out = f();
    let peak = PEAK.try_with(Cell::get).unwrap_or(start);
    let usage = Usage {
        peak_bytes: peak.saturating_sub(start).max(0) as usize,
        allocations: COUNT.try_with(Cell::get).unwrap_or(count) - count,
        retained_bytes: live() - start,
    };
    (out, usage)
}
