//! A value written once, then shared read-only by every CPU (a minimal `OnceLock`).

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU8, Ordering};

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const READY: u8 = 2;

/// Holds a `T` that is set at most once.
pub struct Once<T> {
    state: AtomicU8,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written only by the one caller that moved `state` from EMPTY to
// WRITING, and read only after `state` is READY (release/acquire), after which it is never
// written again; so sharing `&Once<T>` shares only `&T` across threads, which needs `T: Sync`,
// and the value may be dropped or set from another thread, which needs `T: Send`.
unsafe impl<T: Send + Sync> Sync for Once<T> {}

impl<T> Once<T> {
    /// An empty cell.
    pub const fn new() -> Self {
        Self {
            state: AtomicU8::new(EMPTY),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// Stores `value` if the cell is empty and returns a reference to the stored value;
    /// gives `value` back if the cell was already set (or being set).
    pub fn set(&self, value: T) -> Result<&T, T> {
        if self
            .state
            .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(value);
        }
        // SAFETY: winning the EMPTY -> WRITING exchange makes this the only writer, and no
        // reader looks at the value before the READY store below; the returned shared
        // reference is to the value just written, which is never written again.
        let stored = unsafe { &*(*self.value.get()).write(value) };
        self.state.store(READY, Ordering::Release);
        Ok(stored)
    }

    /// The value, once set.
    pub fn get(&self) -> Option<&T> {
        if self.state.load(Ordering::Acquire) == READY {
            // SAFETY: READY is stored (with release ordering) only after the value was fully
            // written, and the value is never written again.
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }
}

impl<T> Default for Once<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for Once<T> {
    fn drop(&mut self) {
        if *self.state.get_mut() == READY {
            // SAFETY: READY means the value was written; `&mut self` means nobody else holds
            // a reference to it.
            unsafe { self.value.get_mut().assume_init_drop() };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn set_once_then_read() {
        let cell = Once::new();
        assert_eq!(cell.get(), None);
        assert_eq!(cell.set(5), Ok(&5));
        assert_eq!(cell.set(6), Err(6));
        assert_eq!(cell.get(), Some(&5));
    }

    #[test]
    fn one_writer_wins_among_threads() {
        let cell = Arc::new(Once::new());
        let handles: std::vec::Vec<_> = (0..4)
            .map(|i| {
                let cell = Arc::clone(&cell);
                thread::spawn(move || cell.set(i).is_ok())
            })
            .collect();
        let winners = handles
            .into_iter()
            .filter_map(|h| h.join().ok())
            .filter(|&won| won)
            .count();
        assert_eq!(winners, 1);
        assert!(cell.get().is_some());
    }

    #[test]
    fn drops_the_stored_value() {
        let marker = Arc::new(());
        {
            let cell = Once::new();
            let _ = cell.set(Arc::clone(&marker));
            assert_eq!(Arc::strong_count(&marker), 2);
        }
        assert_eq!(Arc::strong_count(&marker), 1);
    }
}
