//! Host physical memory as the hypervisor sees it: identity mapped at EL2, so copying guest
//! images is plain memory access, followed by cache cleaning for guests that start with
//! their MMU off.

use crate::core::memory::physical::{PhysicalMemory, PhysicalMemoryError};
use crate::core::memory::AddressRange;
use alloc::vec::Vec;

/// RAM as mapped at EL2. Accesses outside the given banks are refused.
pub struct El2Memory {
    ram: Vec<AddressRange>,
}

impl El2Memory {
    /// # Safety
    /// `ram` must be RAM that the EL2 map covers read-write, and the caller must only ask for
    /// accesses to memory nothing else is using (guest banks being loaded, boot modules).
    pub unsafe fn new(ram: Vec<AddressRange>) -> Self {
        Self { ram }
    }

    fn check(&self, address: u64, size: u64) -> Result<(), PhysicalMemoryError> {
        let range = AddressRange::new(address, size).ok_or(PhysicalMemoryError::Overflow { address })?;
        if size == 0 || self.ram.iter().any(|r| r.contains_range(&range)) {
            Ok(())
        } else {
            Err(PhysicalMemoryError::OutOfBounds { range })
        }
    }

    /// The bytes of `range`, if it is RAM.
    pub fn slice(&self, range: AddressRange) -> Option<&[u8]> {
        self.check(range.start(), range.size()).ok()?;
        // SAFETY: `check` keeps the range inside RAM mapped at EL2; boot modules are not
        // written while the validator reads them.
        Some(unsafe { core::slice::from_raw_parts(range.start() as *const u8, range.size() as usize) })
    }

    /// Cleans `range` to the point of coherency, so a guest with its MMU off sees it.
    pub fn clean(&self, range: AddressRange) {
        super::cpu::clean_dcache_to_poc(range.start(), range.size());
    }
}

impl PhysicalMemory for El2Memory {
    fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), PhysicalMemoryError> {
        self.check(address, bytes.len() as u64)?;
        // SAFETY: `check` keeps the access inside RAM mapped read-write at EL2 (identity), and
        // the constructor's contract says nothing else uses it.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), address as *mut u8, bytes.len()) };
        Ok(())
    }

    fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), PhysicalMemoryError> {
        self.check(address, buffer.len() as u64)?;
        // SAFETY: as for `write`; reading mapped RAM.
        unsafe { core::ptr::copy_nonoverlapping(address as *const u8, buffer.as_mut_ptr(), buffer.len()) };
        Ok(())
    }

    fn fill(&mut self, range: AddressRange, value: u8) -> Result<(), PhysicalMemoryError> {
        self.check(range.start(), range.size())?;
        // SAFETY: as for `write`.
        unsafe { core::ptr::write_bytes(range.start() as *mut u8, value, range.size() as usize) };
        Ok(())
    }

    fn copy(&mut self, source: u64, destination: u64, size: u64) -> Result<(), PhysicalMemoryError> {
        self.check(source, size)?;
        self.check(destination, size)?;
        // SAFETY: both ranges are checked RAM; `copy` allows overlap.
        unsafe { core::ptr::copy(source as *const u8, destination as *mut u8, size as usize) };
        Ok(())
    }
}
