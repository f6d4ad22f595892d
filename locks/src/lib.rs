//! The hypervisor's spin lock, [`Mutex`]: an uncontended acquire is one exclusive
//! swap inline at the lock site; waiting for a held lock is one function out of
//! line ([`wait`]), shared by every lock site.
//!
//! The `spin` crate's lock inlines its whole wait loop (an exclusive-load loop inside a
//! polling loop) at each of the hypervisor's some 270 lock sites: about 60 bytes a site
//! where the uncontended path needs 16 (Armv8.0 has no single-instruction atomics: a swap is
//! a load-acquire exclusive, a store exclusive and a retry if the store lost the line; then
//! one branch to the wait if the flag was set), as many instructions as the first try of
//! `spin`'s loop.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use core::cell::UnsafeCell;
use core::fmt;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

/// A spin lock around a `T`: whoever holds its [`MutexGuard`] has the `T` to itself.
pub struct Mutex<T: ?Sized> {
    locked: AtomicBool,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out at most one `&mut T` at a time (the guard exists only while
// `locked` was set by its acquire), so sharing the lock between CPUs shares the `T` only as a
// `Send` value moved between them would be.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
// SAFETY: the lock owns its `T`; sending the lock sends the `T`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}

/// Proof that the lock is held: derefs to the `T`; dropping it releases the lock.
pub struct MutexGuard<'a, T: ?Sized> {
    locked: &'a AtomicBool,
    data: &'a mut T,
}

impl<T> Mutex<T> {
    /// A lock, free, around `value`.
    pub const fn new(value: T) -> Self {
        Self { locked: AtomicBool::new(false), data: UnsafeCell::new(value) }
    }

    /// The `T`, the lock consumed.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Takes the lock, waiting (spinning, out of line) while another holder has it.
    #[inline(always)]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        // Test and set: a swap is the shortest exclusive sequence (load, store, retry if the
        // store lost the line); setting a flag that was already set changes nothing.
        if self.locked.swap(true, Ordering::Acquire) {
            wait(&self.locked);
        }
        self.guard()
    }

    /// Takes the lock if it is free, else `None` at once.
    #[inline(always)]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        if self.locked.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            Some(self.guard())
        } else {
            None
        }
    }

    /// Whether someone holds the lock (a moment's answer, for reports).
    pub fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Relaxed)
    }

    /// The `T` through an exclusive reference to the lock: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Releases the lock whoever holds it.
    ///
    /// # Safety
    ///
    /// The holder's guard must never be used again (for a holder that will never run
    /// again, such as a CPU that stopped inside a fatal report); else two have the `T`.
    pub unsafe fn force_unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }

    /// The guard, once `locked` was set by this caller's acquire.
    #[inline(always)]
    fn guard(&self) -> MutexGuard<'_, T> {
        // SAFETY: the caller's acquire set `locked`, and only the guard made here clears it
        // (or `force_unlock`, whose caller vouches that no guard is used after it): no other
        // reference to the `T` exists until this guard drops.
        let data = unsafe { &mut *self.data.get() };
        MutexGuard { locked: &self.locked, data }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.try_lock() {
            Some(guard) => f.debug_struct("Mutex").field("data", &&*guard).finish(),
            None => f.write_str("Mutex { <locked> }"),
        }
    }
}

/// Waits until `locked` is free and takes it: the contended path of every lock site, out of
/// line once. It polls with plain loads (no exclusive access, which would take the line from
/// the holder) and swaps the flag only when the lock looks free. Not `#[cold]`: that moved
/// blocks of the trap path's functions around their lock sites (measured: the image 5 KB
/// larger, the same trap rows).
#[inline(never)]
pub fn wait(locked: &AtomicBool) {
    loop {
        while locked.load(Ordering::Relaxed) {
            core::hint::spin_loop();
        }
        if !locked.swap(true, Ordering::Acquire) {
            return;
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.data
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.data
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        self.locked.store(false, Ordering::Release);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.data, f)
    }
}

#[cfg(test)]
mod tests;
