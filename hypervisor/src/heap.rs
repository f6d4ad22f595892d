//! The hypervisor's heap, in two phases.
//!
//! During boot the boot CPU alone allocates, from a bump allocator that needs no atomic
//! read-modify-write: that works with the MMU off, where memory is Device memory and exclusive
//! accesses are not allowed. What boot allocates lives for ever, so freeing it is a no-op.
//! `share` ends the boot phase: the rest of the memory becomes a locked linked-list heap that
//! every CPU may use and that reuses freed blocks.
//!
//! Invariant: no guest trap allocates (MMIO emulation, PSCI, injection); only rare management
//! events do (a partition restart builds its new device tree and frees it).
//!
//! The image holds only a small boot heap. Once the boot knows the board and the plan, it adds
//! regions with [`BootHeap::add_region`]: the stack slots of CPUs the board does not have, and
//! host RAM carved for what the partitions need (`vm::heap_plan`). An allocation the first
//! region cannot serve is tried in the next.
//!
//! What partitions grow by at run time (grant tables, stage-2 pages) does not come from this
//! heap: it comes a page at a time from the pool of free host RAM (`vm::pool`).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use linked_list_allocator::Heap;
use locks::Mutex;

/// How many regions [`BootHeap::add_region`] takes.
pub const MORE_REGIONS: usize = 4;

/// The two-phase heap over `[start, end)`, and the regions added after boot.
pub struct BootHeap {
    next: AtomicUsize,
    end: AtomicUsize,
    shared: AtomicBool,
    heap: Mutex<Heap>,
    /// Regions added after the boot phase, each its own heap.
    more: Mutex<heapless::Vec<Heap, MORE_REGIONS>>,
    /// Bytes of every region: the boot heap's and the added ones.
    size: AtomicUsize,
}

impl BootHeap {
    pub const fn new() -> Self {
        Self {
            next: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
            shared: AtomicBool::new(false),
            heap: Mutex::new(Heap::empty()),
            more: Mutex::new(heapless::Vec::new()),
            size: AtomicUsize::new(0),
        }
    }

    /// Hands the allocator its memory.
    ///
    /// # Safety
    /// `start..start + size` must be memory that nothing else uses for as long as allocations
    /// from it live, and the call must happen before any allocation on the boot CPU.
    pub unsafe fn init(&self, start: usize, size: usize) {
        self.next.store(start, Ordering::Relaxed);
        self.end.store(start + size, Ordering::Relaxed);
        self.size.store(size, Ordering::Relaxed);
    }

    /// Adds `start..start + size` to the shared heap (after [`BootHeap::share`]); returns
    /// whether it was taken (at most [`MORE_REGIONS`] are, and an empty one is not).
    ///
    /// # Safety
    /// The range must be RAM mapped read-write at EL2 that nothing else uses from now on, for
    /// as long as the hypervisor runs.
    pub unsafe fn add_region(&self, start: usize, size: usize) -> bool {
        if size == 0 || !self.shared.load(Ordering::Acquire) {
            return false;
        }
        let mut more = self.more.lock();
        if more.push(Heap::empty()).is_err() {
            return false;
        }
        if let Some(heap) = more.last_mut() {
            // SAFETY: the caller gives this memory to the heap alone, for good; the new
            // (empty) heap is initialised once, where it stays in the vector.
            unsafe { heap.init(start as *mut u8, size) };
        }
        self.size.fetch_add(size, Ordering::Relaxed);
        true
    }

    /// Bytes of every region: the boot heap's and those added.
    pub fn size(&self) -> usize {
        self.size.load(Ordering::Relaxed)
    }

    /// Ends the boot phase: the free rest becomes a heap all CPUs share. Call once, on the boot
    /// CPU, with atomic operations usable (the MMU on).
    pub fn share(&self) {
        let start = self.next.load(Ordering::Relaxed);
        let end = self.end.load(Ordering::Relaxed);
        if end > start {
            // SAFETY: `start..end` is the untouched tail of the memory given to `init`; the bump
            // allocator never hands it out again because `shared` is set below.
            unsafe { self.heap.lock().init(start as *mut u8, end - start) };
        }
        self.shared.store(true, Ordering::Release);
    }

    /// Bytes still free, in every region.
    pub fn free(&self) -> usize {
        if self.shared.load(Ordering::Acquire) {
            let more: usize = self.more.lock().iter().map(Heap::free).sum();
            self.heap.lock().free().saturating_add(more)
        } else {
            self.end.load(Ordering::Relaxed) - self.next.load(Ordering::Relaxed)
        }
    }

    fn bump(&self, layout: Layout) -> Option<usize> {
        let next = self.next.load(Ordering::Relaxed);
        let start = next.checked_add(layout.align() - 1)? & !(layout.align() - 1);
        let end = start.checked_add(layout.size())?;
        if start == 0 || end > self.end.load(Ordering::Relaxed) {
            return None;
        }
        // Only the boot CPU allocates in this phase, so a plain store is enough.
        self.next.store(end, Ordering::Relaxed);
        Some(start)
    }

    fn take(&self, layout: Layout) -> Option<usize> {
        if self.shared.load(Ordering::Acquire) {
            if let Ok(p) = self.heap.lock().allocate_first_fit(layout) {
                return Some(p.as_ptr() as usize);
            }
            self.more.lock().iter_mut().find_map(|heap| heap.allocate_first_fit(layout).ok()).map(|p| p.as_ptr() as usize)
        } else {
            self.bump(layout)
        }
    }

    // Out of line: link-time optimisation inlined it into the functions that free most (seven
    // copies). Nothing frees on the trap path.
    #[inline(never)]
    fn give_back(&self, ptr: *mut u8, layout: Layout) {
        let Some(ptr) = NonNull::new(ptr) else { return };
        let inside = |heap: &Heap| (heap.bottom() as usize..heap.top() as usize).contains(&(ptr.as_ptr() as usize));
        {
            let mut heap = self.heap.lock();
            if inside(&heap) {
                // SAFETY: `ptr` lies in the shared heap, so it came from its
                // `allocate_first_fit` with this layout (GlobalAlloc's contract), freed once.
                unsafe { heap.deallocate(ptr, layout) };
                return;
            }
        }
        if let Some(heap) = self.more.lock().iter_mut().find(|heap| inside(heap)) {
            // SAFETY: `ptr` lies in this added region, so it came from its
            // `allocate_first_fit` with this layout (GlobalAlloc's contract), freed once.
            unsafe { heap.deallocate(ptr, layout) };
        }
    }
}

impl Default for BootHeap {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: blocks are aligned as asked and inside the memory given to `init`. The bump phase
// never hands out a byte twice (`next` only grows, one CPU allocates); the shared phase starts
// above everything the bump phase handed out, and the linked-list heap is locked.
unsafe impl GlobalAlloc for BootHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.take(layout).map_or(core::ptr::null_mut(), |a| a as *mut u8)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Blocks from the boot phase are never reused.
        self.give_back(ptr, layout);
    }
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
    fn boot_allocations_are_aligned_and_disjoint() {
        let (h, _backing) = heap(4096);
        let a = h.take(Layout::from_size_align(3, 1).unwrap()).unwrap();
        let b = h.take(Layout::from_size_align(64, 64).unwrap()).unwrap();
        assert_eq!(b % 64, 0);
        assert!(b >= a + 3);
        assert!(h.free() <= 4096 - 64 - 3);
    }

    #[test]
    fn exhaustion_fails_cleanly() {
        let (h, _backing) = heap(128);
        assert!(h.take(Layout::from_size_align(256, 8).unwrap()).is_none());
        assert!(h.take(Layout::from_size_align(64, 8).unwrap()).is_some());
        assert!(BootHeap::new().take(Layout::from_size_align(8, 8).unwrap()).is_none());
    }

    #[test]
    fn after_sharing_freed_blocks_are_reused_and_boot_blocks_are_kept() {
        let (h, _backing) = heap(64 * 1024);
        let layout = Layout::from_size_align(1024, 16).unwrap();
        let boot = h.take(layout).unwrap();
        h.share();
        let a = h.take(layout).unwrap();
        assert!(a >= boot + 1024, "the shared heap starts above boot allocations");
        h.give_back(boot as *mut u8, layout);
        h.give_back(a as *mut u8, layout);
        let b = h.take(layout).unwrap();
        assert_eq!(a, b, "a freed block is handed out again");
        for _ in 0..1000 {
            let c = h.take(layout).unwrap();
            h.give_back(c as *mut u8, layout);
        }
        assert!(h.free() > 60 * 1024 - 2048, "repeated allocate/free does not leak");
    }

    #[test]
    fn added_regions_serve_what_the_first_cannot_and_take_their_blocks_back() {
        let (h, _backing) = heap(8 * 1024);
        let extra = vec![0u64; 16 * 1024 / 8];
        let base = extra.as_ptr() as usize;
        let big = Layout::from_size_align(12 * 1024, 8).unwrap();
        // SAFETY: before sharing the region is refused, so nothing is handed out from it.
        assert!(!unsafe { h.add_region(base, 16 * 1024) }, "regions are added after boot");
        h.share();
        assert!(h.take(big).is_none(), "the boot heap alone is too small");
        // SAFETY: the backing vector outlives every block taken from it here.
        assert!(unsafe { h.add_region(base, 16 * 1024) });
        assert_eq!(h.size(), 24 * 1024);
        let free = h.free();
        let block = h.take(big).unwrap();
        assert!((base..base + 16 * 1024).contains(&block), "served by the added region");
        assert!(h.free() <= free - 12 * 1024);
        h.give_back(block as *mut u8, big);
        assert_eq!(h.free(), free, "given back to the region it came from");
        let small = h.take(Layout::from_size_align(64, 8).unwrap()).unwrap();
        assert!(!(base..base + 16 * 1024).contains(&small), "the boot heap is tried first");
    }
}
