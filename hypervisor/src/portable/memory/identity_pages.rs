//! Stage-2 table pages from the global allocator, for an address space where the allocator's
//! memory is identity mapped (the hypervisor's EL2 map; on the host, tests treat the pointer
//! as the "physical" address).

use super::stage2::{TablePage, TablePageSource};
use alloc::alloc::{alloc_zeroed, dealloc, Layout};
use core::ptr::NonNull;

const PAGE: Layout = match Layout::from_size_align(4096, 4096) {
    Ok(layout) => layout,
    Err(_) => panic!("a 4 KiB page layout"),
};

/// Up to `budget` table pages from the global allocator.
#[derive(Debug)]
pub struct IdentityPages {
    budget: usize,
}

impl IdentityPages {
    /// A source that hands out at most `budget` pages.
    pub const fn new(budget: usize) -> Self {
        Self { budget }
    }
}

// SAFETY: pages come from `alloc_zeroed` with a 4 KiB aligned 4 KiB layout and are owned until
// `deallocate`; the global allocator's memory is identity mapped, so a page's pointer is its
// physical address and `to_virtual` inverts it.
unsafe impl TablePageSource for IdentityPages {
    fn allocate_zeroed(&mut self) -> Option<TablePage> {
        if self.budget == 0 {
            return None;
        }
        // SAFETY: the layout has a non-zero size.
        let pointer = NonNull::new(unsafe { alloc_zeroed(PAGE) })?;
        self.budget -= 1;
        Some(TablePage { pointer, physical: pointer.as_ptr() as u64 })
    }

    unsafe fn deallocate(&mut self, pointer: NonNull<u8>) {
        self.budget += 1;
        // SAFETY: the caller gives back a page from `allocate_zeroed`, allocated with `PAGE`.
        unsafe { dealloc(pointer.as_ptr(), PAGE) }
    }

    fn to_virtual(&self, physical: u64) -> NonNull<u8> {
        NonNull::new(physical as *mut u8).expect("table pages are never at address 0")
    }

    fn available(&self) -> usize {
        self.budget
    }
}
