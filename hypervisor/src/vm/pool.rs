//! The host RAM page pool at run time (`portable::memory::page_pool`): the host RAM the boot
//! left free, from which partitions' run-time structures grow (grant frames and bookkeeping,
//! stage-2 table pages), each partition up to its cap, and to which a partition's stop gives
//! them back.
//!
//! Lock order: the pool's lock is the last taken (after `run`, the grant lock and a stage-2
//! lock); nothing is waited for under it.
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use core::ptr::NonNull;

use locks::Mutex;
use spin::Once;

use crate::portable::memory::frames::FrameAllocator;
use crate::portable::memory::page_pool::{Account, PagePool, PageSource, PoolError};
use crate::portable::memory::PAGE_SIZE;

static POOL: Once<Mutex<PagePool<64>>> = Once::new();

/// Makes the pool over what `frames` has left, one account per cap (partition `i` may hold
/// `caps[i]` pages at once). Call once, when every partition's RAM is placed.
pub fn init(frames: FrameAllocator<64>, caps: &[usize]) -> Result<(), alloc::collections::TryReserveError> {
    let pool = PagePool::new(frames, caps)?;
    POOL.call_once(|| Mutex::new(pool));
    Ok(())
}

/// Partition `owner`'s account (pages held, most held, cap).
pub fn account(owner: usize) -> Option<Account> {
    POOL.get().and_then(|pool| pool.lock().account(owner))
}

/// Bytes the pool can still hand out.
pub fn free_bytes() -> u64 {
    POOL.get().map_or(0, |pool| pool.lock().free_bytes())
}

/// A zeroed page for `owner`.
pub fn take(owner: usize) -> Result<NonNull<u8>, PoolError> {
    let pool = POOL.get().ok_or(PoolError::NoOwner { owner })?;
    let page = pool.lock().take(owner)?;
    let pointer = NonNull::new(page as *mut u8).ok_or(PoolError::Exhausted { owner })?;
    // SAFETY: the page was just taken from the free host RAM (no partition, module, the image
    // or the host tree is there), which the EL2 map covers read-write; it is `owner`'s alone
    // until given back.
    unsafe { pointer.as_ptr().write_bytes(0, PAGE_SIZE as usize) };
    Ok(pointer)
}

/// Gives a page of `owner`'s back.
pub fn give(owner: usize, page: NonNull<u8>) {
    let Some(pool) = POOL.get() else { return };
    if !pool.lock().give(owner, page.as_ptr() as u64) {
        crate::log!("bulkhead: partition {}: a page of host RAM given back that it did not hold ({:#x}): kept out of the pool", owner, page.as_ptr() as u64);
    }
}

/// The pool as the portable code's page source.
pub struct Pages;

// SAFETY: `take` zeroes a whole 4 KiB aligned page of free host RAM, identity mapped at EL2,
// that the pool gives to nobody else until it comes back.
unsafe impl PageSource for Pages {
    fn take_page(&mut self, owner: usize) -> Option<NonNull<u8>> {
        take(owner).ok()
    }

    unsafe fn give_page(&mut self, owner: usize, page: NonNull<u8>) {
        give(owner, page);
    }
}
