//! [`Frame`]: a memory-mapped GIC register block that every CPU may use.

use core::ops::Deref;

/// A register block (a `register_structs!` type) at a fixed physical address, reachable from
/// every CPU through the EL2 identity map.
pub struct Frame<T: 'static>(&'static T);

// SAFETY: the register types hold `UnsafeCell`s only to allow volatile access through `&`.
// Each access is a single volatile load or store, which the interconnect and the GIC order
// and complete whole; the drivers hold a lock around every read-modify-write of a register
// that more than one CPU writes, and banked registers are a separate copy for each CPU.
unsafe impl<T> Sync for Frame<T> {}
// SAFETY: as for `Sync`: the block is device memory at a fixed address, not owned by a CPU.
unsafe impl<T> Send for Frame<T> {}

impl<T> Frame<T> {
    /// The block at `address`; `None` for address zero.
    ///
    /// # Safety
    /// `address` must hold a device whose registers `T` lays out, mapped as Device memory for
    /// the rest of the program, and used by nothing but the GIC drivers.
    pub unsafe fn new(address: u64) -> Option<Self> {
        let pointer = address as *const T;
        if pointer.is_null() {
            return None;
        }
        // SAFETY: the caller guarantees the mapping is valid for good and matches `T`.
        Some(Frame(unsafe { &*pointer }))
    }
}

impl<T> Clone for Frame<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Frame<T> {}

impl<T> Deref for Frame<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.0
    }
}
