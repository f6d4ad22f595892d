//! A partition's stage-2 table pages, taken a page at a time from the host RAM page pool
//! (`page_pool`), charged to the partition up to its cap, for an address space where that
//! memory is identity mapped (the hypervisor's EL2 map; on the host, tests treat the pointer
//! as the "physical" address).
//!
//! The pages the static mappings need are taken while the partition is built and kept for
//! good ([`IdentityPages::keep_current`]); pages taken at run time (grant maps, grant frames,
//! shared_info, pages given back) go back to the pool when the table is cleared, so a
//! partition's stop returns what it grew. A change first reserves the pages it may need
//! ([`TablePageSource::reserve`]), so the table library never finds the source dry.

use super::stage2::{TablePage, TablePageSource};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::ptr::NonNull;

const PAGE: usize = 4096;
/// Pages reserved ahead beyond the kept ones: a run-time change needs at most two (a level 2
/// and a level 3 table).
const SPARE: usize = 8;

/// Where pages come from and go back to.
#[derive(Clone, Copy, Debug)]
pub struct PageFns {
    /// A zeroed 4 KiB page charged to the owner, identity mapped, or `None`.
    pub take: fn(usize) -> Option<NonNull<u8>>,
    /// Gives back a page `take` gave the owner.
    pub give: fn(usize, NonNull<u8>),
}

/// A partition's table pages.
#[derive(Debug)]
pub struct IdentityPages {
    owner: usize,
    fns: PageFns,
    /// Pages taken and in no table, handed out first. Its capacity is fixed once the static
    /// mappings are made: nothing allocates after boot.
    spare: RefCell<Vec<NonNull<u8>>>,
    /// Pages held: in tables, and spare.
    held: Cell<usize>,
    /// The most pages it may hold.
    cap: usize,
    /// Pages kept when tables are freed (the static mappings'); the rest go back.
    keep: Cell<usize>,
}

impl IdentityPages {
    /// A source of at most `cap` pages for partition `owner`, or `None` if the heap cannot
    /// hold its list of spare pages.
    pub fn new(owner: usize, fns: PageFns, cap: usize) -> Option<Self> {
        let mut spare = Vec::new();
        spare.try_reserve_exact(SPARE).ok()?;
        Some(Self { owner, fns, spare: RefCell::new(spare), held: Cell::new(0), cap, keep: Cell::new(0) })
    }

    /// Keeps the pages held now for good (the static mappings', which a rebuild needs
    /// again), and makes room in the spare list for them, so that freeing and rebuilding the
    /// tables never allocates. False if the heap has no room.
    pub fn keep_current(&self) -> bool {
        let held = self.held.get();
        self.keep.set(held);
        let mut spare = self.spare.borrow_mut();
        let want = held.saturating_add(SPARE);
        let more = want.saturating_sub(spare.len());
        spare.capacity() >= want || spare.try_reserve_exact(more).is_ok()
    }

    /// Pages held (in tables and spare), and the most it may hold.
    pub fn held(&self) -> (usize, usize) {
        (self.held.get(), self.cap)
    }

    /// Pages kept for the static mappings.
    pub fn kept(&self) -> usize {
        self.keep.get()
    }

    fn take(&self) -> Option<NonNull<u8>> {
        if self.held.get() >= self.cap {
            return None;
        }
        let page = (self.fns.take)(self.owner)?;
        self.held.set(self.held.get().saturating_add(1));
        Some(page)
    }
}

impl Drop for IdentityPages {
    fn drop(&mut self) {
        for page in self.spare.get_mut().drain(..) {
            (self.fns.give)(self.owner, page);
        }
    }
}

// SAFETY: pages come from `fns.take`, which hands out zeroed, 4 KiB aligned pages of
// identity-mapped memory owned by this source until given back; a spare page is zeroed again
// before each hand-out; the pointer is the physical address, so `to_virtual` inverts it.
unsafe impl TablePageSource for IdentityPages {
    fn allocate_zeroed(&mut self) -> Option<TablePage> {
        let spare = self.spare.get_mut().pop();
        let pointer = match spare {
            Some(page) => {
                // SAFETY: the page is this source's, 4 KiB long, and in no table.
                unsafe { page.as_ptr().write_bytes(0, PAGE) };
                page
            }
            None => self.take()?,
        };
        Some(TablePage { pointer, physical: pointer.as_ptr() as u64 })
    }

    unsafe fn deallocate(&mut self, pointer: NonNull<u8>) {
        let held = self.held.get();
        let spare = self.spare.get_mut();
        if held > self.keep.get() || spare.len() >= spare.capacity() {
            self.held.set(held.saturating_sub(1));
            (self.fns.give)(self.owner, pointer);
        } else {
            spare.push(pointer);
        }
    }

    fn to_virtual(&self, physical: u64) -> NonNull<u8> {
        NonNull::new(physical as *mut u8).expect("table pages are never at address 0")
    }

    fn available(&self) -> usize {
        self.spare.borrow().len().saturating_add(self.cap.saturating_sub(self.held.get()))
    }

    fn reserve(&self, count: usize) -> bool {
        while self.spare.borrow().len() < count {
            let mut spare = self.spare.borrow_mut();
            let room = spare.len() < spare.capacity() || (self.keep.get() == 0 && spare.try_reserve(1).is_ok());
            if !room {
                return false;
            }
            let Some(page) = self.take() else { return false };
            spare.push(page);
        }
        true
    }
}

// SAFETY: the source only holds pointers to pages it owns; moving it to another CPU moves that
// ownership along, and every access goes through the table's lock.
unsafe impl Send for IdentityPages {}

/// Host tests' page functions: pages from the process heap.
#[cfg(test)]
pub mod heap {
    use super::PageFns;
    use core::ptr::NonNull;
    use std::alloc::{alloc_zeroed, dealloc, Layout};

    const LAYOUT: Layout = match Layout::from_size_align(4096, 4096) {
        Ok(layout) => layout,
        Err(_) => panic!("a page layout"),
    };

    fn take(_: usize) -> Option<NonNull<u8>> {
        // SAFETY: the layout has a non-zero size.
        NonNull::new(unsafe { alloc_zeroed(LAYOUT) })
    }

    fn give(_: usize, page: NonNull<u8>) {
        // SAFETY: every page given back came from `take`, allocated with `LAYOUT`.
        unsafe { dealloc(page.as_ptr(), LAYOUT) }
    }

    /// Heap pages.
    pub const FNS: PageFns = PageFns { take, give };
}

#[cfg(test)]
#[path = "identity_pages_tests.rs"]
mod tests;
