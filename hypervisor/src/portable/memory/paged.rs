//! A table that grows by whole pages taken from a [`PageSource`]: slot `i` lives in page
//! `i / PER_PAGE`, and a page absent reads as absent slots. Only the list of page pointers
//! (one word per page the table may ever hold) is allocated up front; the pages themselves
//! come and go with use, charged to the table's owner.
//!
//! The table does not give its pages back when dropped (it has no source then): its owner
//! calls [`Paged::release_from`] first. The runtime's tables live as long as the hypervisor.

use alloc::collections::TryReserveError;
use alloc::vec::Vec;
use core::marker::PhantomData;
use core::mem::{align_of, size_of};
use core::ptr::NonNull;

use super::page_pool::PageSource;

const PAGE: usize = 4096;

/// A type whose all-zero bytes are a valid value (so a zeroed page is a page of them).
///
/// # Safety
///
/// Every field is an integer, a `bool`, or an enum whose zero discriminant is a variant with
/// no fields; the type has no drop glue.
pub unsafe trait Zeroable: Copy {}

/// Slots of `T`, a page at a time.
#[derive(Debug)]
pub struct Paged<T: Zeroable> {
    pages: Vec<Option<NonNull<T>>>,
    present: usize,
    _slots: PhantomData<T>,
}

// SAFETY: the table owns its pages (nothing else refers to them while it holds them) and
// reaches them only through `&self`/`&mut self`, so moving it to another CPU moves that
// ownership with it; `T` is plain data.
unsafe impl<T: Zeroable + Send> Send for Paged<T> {}

impl<T: Zeroable> Paged<T> {
    /// Slots per page.
    pub const PER_PAGE: usize = {
        assert!(size_of::<T>() > 0 && PAGE.is_multiple_of(size_of::<T>()) && align_of::<T>() <= PAGE);
        PAGE / size_of::<T>()
    };

    /// An empty table that may hold `max_pages` pages; only the pointer list is allocated.
    pub fn new(max_pages: usize) -> Result<Self, TryReserveError> {
        let mut pages = Vec::new();
        pages.try_reserve_exact(max_pages)?;
        pages.resize(max_pages, None);
        Ok(Self { pages, present: 0, _slots: PhantomData })
    }

    /// The most pages it may hold.
    pub fn max_pages(&self) -> usize {
        self.pages.len()
    }

    /// Pages it holds.
    pub fn present_pages(&self) -> usize {
        self.present
    }

    /// Whether page `page` is there.
    pub fn has_page(&self, page: usize) -> bool {
        self.pages.get(page).is_some_and(Option::is_some)
    }

    fn locate(&self, slot: usize) -> Option<(NonNull<T>, usize)> {
        let page = self.pages.get(slot.checked_div(Self::PER_PAGE)?).copied().flatten()?;
        Some((page, slot.checked_rem(Self::PER_PAGE)?))
    }

    /// Slot `slot`, if its page is there.
    pub fn get(&self, slot: usize) -> Option<&T> {
        let (page, within) = self.locate(slot)?;
        // SAFETY: `within < PER_PAGE`, so the slot lies inside the page, which the table owns
        // and which holds valid `T`s (zeroed when taken, then written only as `T`).
        Some(unsafe { &*page.as_ptr().add(within) })
    }

    /// Slot `slot` to change, if its page is there.
    pub fn get_mut(&mut self, slot: usize) -> Option<&mut T> {
        let (page, within) = self.locate(slot)?;
        // SAFETY: as in `get`; `&mut self` makes the reference unique.
        Some(unsafe { &mut *page.as_ptr().add(within) })
    }

    /// Makes page `page` present (zeroed slots), charged to `owner`; true if it is there now.
    pub fn ensure(&mut self, page: usize, source: &mut impl PageSource, owner: usize) -> bool {
        let Some(entry) = self.pages.get_mut(page) else {
            return false;
        };
        if entry.is_some() {
            return true;
        }
        let Some(fresh) = source.take_page(owner) else {
            return false;
        };
        *entry = Some(fresh.cast());
        self.present = self.present.saturating_add(1);
        true
    }

    /// Gives back page `page`, if present.
    pub fn release(&mut self, page: usize, source: &mut impl PageSource, owner: usize) {
        if let Some(held) = self.pages.get_mut(page).and_then(Option::take) {
            self.present = self.present.saturating_sub(1);
            // SAFETY: the page came from `take_page` for `owner` (every page is taken for the
            // table's one owner) and, no longer in the list, is used by nothing.
            unsafe { source.give_page(owner, held.cast()) };
        }
    }

    /// Gives back every page from `first` on.
    pub fn release_from(&mut self, first: usize, source: &mut impl PageSource, owner: usize) {
        for page in first..self.pages.len() {
            self.release(page, source, owner);
        }
    }

    /// Sets every slot of the present pages to zero.
    pub fn clear(&mut self) {
        for page in self.pages.iter().flatten() {
            // SAFETY: a present page is the table's, PAGE bytes long; zero is a valid `T`.
            unsafe { page.cast::<u8>().as_ptr().write_bytes(0, PAGE) };
        }
    }

    /// Every present slot with its index.
    pub fn slots(&self) -> impl Iterator<Item = (usize, &T)> + '_ {
        self.pages.iter().enumerate().flat_map(move |(page, held)| {
            let base = page.saturating_mul(Self::PER_PAGE);
            held.iter().flat_map(move |_| {
                (0..Self::PER_PAGE).filter_map(move |i| Some((base.checked_add(i)?, self.get(base.checked_add(i)?)?)))
            })
        })
    }
}

#[cfg(test)]
#[path = "paged_tests.rs"]
mod tests;
