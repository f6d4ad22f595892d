//! Stage-2 table pages taken from the global allocator once, when a partition is built, for an
//! address space where the allocator's memory is identity mapped (the hypervisor's EL2 map; on
//! the host, tests treat the pointer as the "physical" address). After that, mapping and
//! unmapping at run time take pages from this pool and give them back: nothing is allocated on
//! a trap path.

use super::stage2::{TablePage, TablePageSource};
use alloc::alloc::{alloc_zeroed, dealloc, Layout};
use alloc::vec::Vec;
use core::ptr::NonNull;

const PAGE: Layout = match Layout::from_size_align(4096, 4096) {
    Ok(layout) => layout,
    Err(_) => panic!("a 4 KiB page layout"),
};

/// A pool of table pages, all allocated up front.
#[derive(Debug)]
pub struct IdentityPages {
    /// The free pages; its capacity is every page the pool owns, so giving one back never
    /// allocates.
    free: Vec<NonNull<u8>>,
}

impl IdentityPages {
    /// A pool of `count` zeroed pages, or `None` if the heap cannot hold them.
    pub fn preallocate(count: usize) -> Option<Self> {
        let mut free = Vec::new();
        free.try_reserve_exact(count).ok()?;
        let mut pool = Self { free };
        for _ in 0..count {
            // SAFETY: the layout has a non-zero size.
            let pointer = NonNull::new(unsafe { alloc_zeroed(PAGE) })?;
            pool.free.push(pointer);
        }
        Some(pool)
    }
}

impl Drop for IdentityPages {
    fn drop(&mut self) {
        for pointer in self.free.drain(..) {
            // SAFETY: every free page came from `alloc_zeroed` with `PAGE` and nothing uses it.
            unsafe { dealloc(pointer.as_ptr(), PAGE) }
        }
    }
}

// SAFETY: pages come from `alloc_zeroed` with a 4 KiB aligned 4 KiB layout, are zeroed again
// before each hand-out, and are owned by the pool until given back; the global allocator's
// memory is identity mapped, so a page's pointer is its physical address and `to_virtual`
// inverts it.
unsafe impl TablePageSource for IdentityPages {
    fn allocate_zeroed(&mut self) -> Option<TablePage> {
        let pointer = self.free.pop()?;
        // SAFETY: the page is the pool's, 4 KiB long, and no table uses it while it is free.
        unsafe { pointer.as_ptr().write_bytes(0, PAGE.size()) };
        Some(TablePage { pointer, physical: pointer.as_ptr() as u64 })
    }

    unsafe fn deallocate(&mut self, pointer: NonNull<u8>) {
        // The capacity was reserved for every page the pool owns: no allocation here.
        if self.free.len() < self.free.capacity() {
            self.free.push(pointer);
        }
    }

    fn to_virtual(&self, physical: u64) -> NonNull<u8> {
        NonNull::new(physical as *mut u8).expect("table pages are never at address 0")
    }

    fn available(&self) -> usize {
        self.free.len()
    }
}

// SAFETY: the pool only holds pointers to pages it owns; moving it to another CPU moves that
// ownership along, and every access goes through `&mut self`.
unsafe impl Send for IdentityPages {}
