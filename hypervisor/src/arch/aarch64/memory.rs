//! Host physical memory as the hypervisor sees it: identity mapped at EL2, so copying guest
//! images is plain memory access, followed by cache cleaning for guests that start with
//! their MMU off. Every access is checked against the RAM banks it was given.

use alloc::vec::Vec;

/// An access that is not inside the RAM banks, or whose end overflows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutsideRam {
    pub address: u64,
    pub size: u64,
}

/// RAM as mapped at EL2: `(start, size)` banks. Accesses outside them are refused.
pub struct El2Memory {
    ram: Vec<(u64, u64)>,
}

impl El2Memory {
    /// # Safety
    /// `ram` must be RAM that the EL2 map covers read-write, and the caller must only ask for
    /// accesses to memory nothing else is using (guest banks being loaded, boot modules).
    pub unsafe fn new(ram: Vec<(u64, u64)>) -> Self {
        Self { ram }
    }

    fn check(&self, address: u64, size: u64) -> Result<(), OutsideRam> {
        let outside = OutsideRam { address, size };
        let end = address.checked_add(size).ok_or(outside)?;
        let inside = |&(start, length): &(u64, u64)| start <= address && start.checked_add(length).is_some_and(|bank_end| end <= bank_end);
        if size == 0 || self.ram.iter().any(inside) {
            Ok(())
        } else {
            Err(outside)
        }
    }

    /// The `size` bytes at `address`, if they are RAM.
    pub fn slice(&self, address: u64, size: u64) -> Option<&[u8]> {
        self.check(address, size).ok()?;
        // SAFETY: `check` keeps the range inside RAM mapped at EL2; boot modules are not
        // written while the validator reads them.
        Some(unsafe { core::slice::from_raw_parts(address as *const u8, size as usize) })
    }

    /// Cleans `size` bytes at `address` to the point of coherency, so a guest with its MMU
    /// off sees them.
    pub fn clean(&self, address: u64, size: u64) {
        super::cpu::clean_dcache_to_poc(address, size);
    }

    /// Copies `bytes` to `address`.
    pub fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), OutsideRam> {
        self.check(address, bytes.len() as u64)?;
        // SAFETY: `check` keeps the access inside RAM mapped read-write at EL2 (identity), and
        // the constructor's contract says nothing else uses it.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), address as *mut u8, bytes.len()) };
        Ok(())
    }

    /// Copies the bytes at `address` into `buffer`.
    pub fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), OutsideRam> {
        self.check(address, buffer.len() as u64)?;
        // SAFETY: as for `write`; reading mapped RAM.
        unsafe { core::ptr::copy_nonoverlapping(address as *const u8, buffer.as_mut_ptr(), buffer.len()) };
        Ok(())
    }

    /// Sets `size` bytes at `address` to `value`.
    pub fn fill(&mut self, address: u64, size: u64, value: u8) -> Result<(), OutsideRam> {
        self.check(address, size)?;
        // SAFETY: as for `write`.
        unsafe { core::ptr::write_bytes(address as *mut u8, value, size as usize) };
        Ok(())
    }

    /// Copies `size` bytes from `source` to `destination` (the ranges may overlap).
    pub fn copy(&mut self, source: u64, destination: u64, size: u64) -> Result<(), OutsideRam> {
        self.check(source, size)?;
        self.check(destination, size)?;
        // SAFETY: both ranges are checked RAM; `copy` allows overlap.
        unsafe { core::ptr::copy(source as *const u8, destination as *mut u8, size as usize) };
        Ok(())
    }
}
