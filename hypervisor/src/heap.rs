//! The boot heap: a bump allocator that serves the boot CPU until the machine is set up.
//!
//! Invariant: the heap is used only by the boot CPU and only before `seal`; after that,
//! allocation fails (and the failure is a fatal report), so nothing grows on the trap path.
//! It needs no atomic read-modify-write, so it also works with the MMU off, when memory is
//! Device memory and exclusive accesses are not allowed.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A bump allocator over `[start, end)`. Freed memory is not reused.
pub struct BootHeap {
    next: AtomicUsize,
    end: AtomicUsize,
    sealed: AtomicBool,
}

impl BootHeap {
    pub const fn new() -> Self {
        Self { next: AtomicUsize::new(0), end: AtomicUsize::new(0), sealed: AtomicBool::new(false) }
    }

    /// Hands the allocator its memory.
    ///
    /// # Safety
    /// `start..start + size` must be memory that nothing else uses for as long as allocations
    /// from it live, and the call must happen before any allocation on the boot CPU.
    pub unsafe fn init(&self, start: usize, size: usize) {
        self.next.store(start, Ordering::Relaxed);
        self.end.store(start + size, Ordering::Relaxed);
    }

    /// Ends the boot phase: every later allocation fails.
    pub fn seal(&self) {
        self.sealed.store(true, Ordering::Release);
    }

    /// Bytes still free.
    pub fn free(&self) -> usize {
        self.end.load(Ordering::Relaxed) - self.next.load(Ordering::Relaxed)
    }

    fn take(&self, layout: Layout) -> Option<usize> {
        if self.sealed.load(Ordering::Acquire) {
            return None;
        }
        let next = self.next.load(Ordering::Relaxed);
        let start = next.checked_add(layout.align() - 1)? & !(layout.align() - 1);
        let end = start.checked_add(layout.size())?;
        if start == 0 || end > self.end.load(Ordering::Relaxed) {
            return None;
        }
        // Only the boot CPU allocates (see the module's invariant), so a plain store is enough.
        self.next.store(end, Ordering::Relaxed);
        Some(start)
    }
}

impl Default for BootHeap {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: `take` returns blocks that are aligned as asked, inside the memory given to `init`,
// and never handed out twice, because `next` only grows and only the boot CPU allocates.
unsafe impl GlobalAlloc for BootHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.take(layout).map_or(core::ptr::null_mut(), |a| a as *mut u8)
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    fn heap(size: usize) -> (BootHeap, std::vec::Vec<u64>) {
        let backing = vec![0u64; size / 8];
        let h = BootHeap::new();
        // SAFETY: the backing vector outlives the heap in each test and nothing else uses it.
        unsafe { h.init(backing.as_ptr() as usize, size) };
        (h, backing)
    }

    #[test]
    fn allocations_are_aligned_and_disjoint() {
        let (h, _backing) = heap(4096);
        let a = h.take(Layout::from_size_align(3, 1).unwrap()).unwrap();
        let b = h.take(Layout::from_size_align(64, 64).unwrap()).unwrap();
        assert_eq!(b % 64, 0);
        assert!(b >= a + 3);
        assert!(h.free() <= 4096 - 64 - 3);
    }

    #[test]
    fn exhaustion_and_seal_fail_cleanly() {
        let (h, _backing) = heap(128);
        assert!(h.take(Layout::from_size_align(256, 8).unwrap()).is_none());
        assert!(h.take(Layout::from_size_align(64, 8).unwrap()).is_some());
        h.seal();
        assert!(h.take(Layout::from_size_align(8, 8).unwrap()).is_none());
    }

    #[test]
    fn an_uninitialised_heap_gives_nothing() {
        assert!(BootHeap::new().take(Layout::from_size_align(8, 8).unwrap()).is_none());
    }
}
