//! Host RAM pages that partitions' run-time structures grow by (grant frames, grant
//! bookkeeping, stage-2 table pages), each charged to one partition up to its cap.
//!
//! The pool hands out the host RAM the boot left free (no partition, module, image or host
//! tree is there), one 4 KiB page at a time: a page given back goes on a free list and is
//! handed out again before new memory is taken. Every call is O(1) but a take from fresh
//! memory, which asks the frame allocator (at most its `N` free ranges). The free list's
//! capacity is reserved up front for the sum of the caps, so giving a page back never
//! allocates: pages come from fresh memory only while the list is empty, so the list never
//! holds more pages than the owners held at once, which the caps bound.

use alloc::collections::TryReserveError;
use alloc::vec::Vec;
use core::fmt;
use core::ptr::NonNull;

use super::frames::FrameAllocator;
use super::range::PAGE_SIZE;

/// One owner's pages: how many it holds, the most it held, and its cap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Account {
    pub held: usize,
    pub peak: usize,
    pub cap: usize,
}

/// Why the pool refused a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// The owner holds its cap already.
    Cap { owner: usize, cap: usize },
    /// Host RAM has no free page left.
    Exhausted { owner: usize },
    /// No such owner.
    NoOwner { owner: usize },
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cap { owner, cap } => write!(
                f,
                "partition {owner} holds its cap of {cap} pages of host RAM for run-time \
                 structures (grant tables, stage-2 pages): lower its max_grant_frames or \
                 max_maptrack_frames, or map fewer pages"
            ),
            Self::Exhausted { owner } => write!(
                f,
                "no free host RAM page for partition {owner}: give the partitions less memory"
            ),
            Self::NoOwner { owner } => write!(f, "partition {owner} has no page account"),
        }
    }
}

/// The pool over the host RAM left free after boot.
#[derive(Debug)]
pub struct PagePool<const N: usize> {
    frames: FrameAllocator<N>,
    free: Vec<u64>,
    owners: Vec<Account>,
}

impl<const N: usize> PagePool<N> {
    /// A pool over `frames`' free ranges, with one account per cap (owner `i` may hold
    /// `caps[i]` pages at once).
    pub fn new(frames: FrameAllocator<N>, caps: &[usize]) -> Result<Self, TryReserveError> {
        let total = caps.iter().fold(0usize, |sum, &cap| sum.saturating_add(cap));
        let mut free = Vec::new();
        free.try_reserve_exact(total)?;
        let mut owners = Vec::new();
        owners.try_reserve_exact(caps.len())?;
        owners.extend(caps.iter().map(|&cap| Account { cap, ..Account::default() }));
        Ok(Self { frames, free, owners })
    }

    /// A page for `owner` (not zeroed: the caller zeroes it), charged to its account.
    pub fn take(&mut self, owner: usize) -> Result<u64, PoolError> {
        let account = self.owners.get_mut(owner).ok_or(PoolError::NoOwner { owner })?;
        if account.held >= account.cap {
            return Err(PoolError::Cap { owner, cap: account.cap });
        }
        let page = match self.free.pop() {
            Some(page) => page,
            None => self
                .frames
                .allocate_aligned(PAGE_SIZE, PAGE_SIZE)
                .map_err(|_| PoolError::Exhausted { owner })?
                .start(),
        };
        account.held = account.held.saturating_add(1);
        account.peak = account.peak.max(account.held);
        Ok(page)
    }

    /// Takes back a page `owner` was given; returns false (and keeps nothing) for an owner
    /// that holds no page, which only a bug can cause.
    pub fn give(&mut self, owner: usize, page: u64) -> bool {
        let Some(account) = self.owners.get_mut(owner).filter(|a| a.held > 0) else {
            return false;
        };
        if self.free.len() >= self.free.capacity() {
            return false;
        }
        account.held = account.held.saturating_sub(1);
        self.free.push(page);
        true
    }

    /// An owner's account.
    pub fn account(&self, owner: usize) -> Option<Account> {
        self.owners.get(owner).copied()
    }

    /// Every owner's account.
    pub fn accounts(&self) -> &[Account] {
        &self.owners
    }

    /// Bytes of host RAM the pool can still hand out (its free list and fresh memory).
    pub fn free_bytes(&self) -> u64 {
        (self.free.len() as u64)
            .saturating_mul(PAGE_SIZE)
            .saturating_add(self.frames.free_bytes())
    }
}

/// Supplies zeroed 4 KiB pages charged to an owner (a partition).
///
/// # Safety
///
/// Implementations promise that every page [`take_page`](Self::take_page) returns is 4 KiB
/// aligned, zeroed, valid for reads and writes for 4 KiB, and used by nothing else until it is
/// given back.
pub unsafe trait PageSource {
    /// A zeroed page charged to `owner`, or `None` when its cap or host RAM ran out.
    fn take_page(&mut self, owner: usize) -> Option<NonNull<u8>>;

    /// Gives back a page.
    ///
    /// # Safety
    ///
    /// `page` came from [`take_page`](Self::take_page) for the same `owner`, has not been
    /// given back, and nothing uses it any more.
    unsafe fn give_page(&mut self, owner: usize, page: NonNull<u8>);
}

/// Host tests' page source: pages from the process heap, with a limit per owner.
#[cfg(test)]
pub mod fake {
    use super::PageSource;
    use core::ptr::NonNull;
    use std::alloc::{alloc_zeroed, dealloc, Layout};
    use std::collections::{BTreeMap, BTreeSet};

    const PAGE: Layout = match Layout::from_size_align(4096, 4096) {
        Ok(layout) => layout,
        Err(_) => panic!("a page layout"),
    };

    /// Pages from the heap; `limit` pages per owner at most (none: no limit).
    #[derive(Debug, Default)]
    pub struct HeapPages {
        pub limit: Option<usize>,
        pub held: BTreeMap<usize, usize>,
        pages: BTreeSet<(usize, usize)>,
    }

    impl HeapPages {
        pub fn limited(limit: usize) -> Self {
            let mut pages = Self::default();
            pages.limit = Some(limit);
            pages
        }

        /// Pages `owner` holds.
        pub fn held(&self, owner: usize) -> usize {
            self.held.get(&owner).copied().unwrap_or(0)
        }
    }

    // SAFETY: pages come from `alloc_zeroed` with a 4 KiB aligned 4 KiB layout and are
    // freed only when given back (or when the source goes, after the test).
    unsafe impl PageSource for HeapPages {
        fn take_page(&mut self, owner: usize) -> Option<NonNull<u8>> {
            if self.limit.is_some_and(|limit| self.held(owner) >= limit) {
                return None;
            }
            // SAFETY: the layout has a non-zero size.
            let page = NonNull::new(unsafe { alloc_zeroed(PAGE) })?;
            *self.held.entry(owner).or_default() += 1;
            self.pages.insert((owner, page.as_ptr() as usize));
            Some(page)
        }

        unsafe fn give_page(&mut self, owner: usize, page: NonNull<u8>) {
            assert!(self.pages.remove(&(owner, page.as_ptr() as usize)), "a page given back twice or by another owner");
            *self.held.entry(owner).or_default() -= 1;
            // SAFETY: the page came from `alloc_zeroed` with `PAGE` and is given back once.
            unsafe { dealloc(page.as_ptr(), PAGE) };
        }
    }

    impl Drop for HeapPages {
        fn drop(&mut self) {
            for &(_, page) in &self.pages {
                // SAFETY: every page still listed came from `alloc_zeroed` with `PAGE`.
                unsafe { dealloc(page as *mut u8, PAGE) };
            }
        }
    }
}

#[cfg(test)]
#[path = "page_pool_tests.rs"]
mod tests;
