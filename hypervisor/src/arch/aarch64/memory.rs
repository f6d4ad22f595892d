//! Host physical memory as the hypervisor sees it: identity mapped at EL2, so copying guest
//! images is plain memory access. Every write is cleaned to the point of coherency as it is
//! made, for guests that start with their MMU off. Every access is checked (`reach`): reads reach RAM outside the hypervisor's
//! own memory (its image with stacks, heap and EL2 tables, and the host device tree); writes
//! reach only the partitions' banks.

use super::reach::{Range, Reach, Refused};
use alloc::vec::Vec;

/// RAM as mapped at EL2. Accesses [`Reach`] refuses are refused.
pub struct El2Memory {
    reach: Reach,
}

impl El2Memory {
    /// `ram`: the RAM banks; `hypervisor`: the hypervisor's own memory inside them, never
    /// reachable through this accessor.
    ///
    /// # Safety
    /// `ram` must be RAM that the EL2 map covers read-write, and `hypervisor` must cover every
    /// byte of it that the hypervisor uses other than through this accessor (its image, with
    /// stacks, heap and EL2 tables; the host device tree). The ranges later given to
    /// [`El2Memory::allow_writes`] are then memory nothing else uses.
    pub unsafe fn new(ram: Vec<Range>, hypervisor: Vec<Range>) -> Self {
        Self { reach: Reach::new(ram, hypervisor) }
    }

    /// Lets writes reach `size` bytes at `address`: a partition's bank, which only the
    /// partition's loader (through this accessor) and the partition itself touch.
    pub fn allow_writes(&mut self, address: u64, size: u64) -> Result<(), Refused> {
        self.reach.allow_writes((address, size))
    }

    /// The `size` bytes at `address`, if they are readable.
    pub fn slice(&self, address: u64, size: u64) -> Option<&[u8]> {
        self.reach.readable(address, size).ok()?;
        // SAFETY: `readable` keeps the range inside RAM mapped at EL2 and outside the
        // hypervisor's own memory; boot modules are not written while the validator reads them.
        Some(unsafe { core::slice::from_raw_parts(address as *const u8, size as usize) })
    }

    /// Copies `bytes` to `address` and cleans them to the point of coherency.
    pub fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), Refused> {
        self.reach.writable(address, bytes.len() as u64)?;
        // SAFETY: `writable` keeps the access inside a partition's bank, RAM mapped read-write
        // at EL2 (identity) that the constructor's contract says nothing else uses.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), address as *mut u8, bytes.len()) };
        super::cpu::clean_dcache_to_poc(address, bytes.len() as u64);
        Ok(())
    }

    /// Copies the bytes at `address` into `buffer`.
    pub fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), Refused> {
        self.reach.readable(address, buffer.len() as u64)?;
        // SAFETY: `readable` keeps the access inside mapped RAM outside the hypervisor's own
        // memory, so it cannot overlap `buffer`.
        unsafe { core::ptr::copy_nonoverlapping(address as *const u8, buffer.as_mut_ptr(), buffer.len()) };
        Ok(())
    }

    /// Sets `size` bytes at `address` to `value` and cleans them to the point of coherency:
    /// zeros with `DC ZVA` where the CPU permits it (`cpu::zero_to_poc`).
    pub fn fill(&mut self, address: u64, size: u64, value: u8) -> Result<(), Refused> {
        self.reach.writable(address, size)?;
        if value == 0 {
            // SAFETY: `writable` keeps the range inside a partition's bank: RAM (Normal memory
            // in the EL2 map) that the constructor's contract says nothing else uses.
            unsafe { super::cpu::zero_to_poc(address, size) };
        } else {
            // SAFETY: as for `write`.
            unsafe { core::ptr::write_bytes(address as *mut u8, value, size as usize) };
            super::cpu::clean_dcache_to_poc(address, size);
        }
        Ok(())
    }

    /// Copies `size` bytes from `source` to `destination` (the ranges may overlap).
    pub fn copy(&mut self, source: u64, destination: u64, size: u64) -> Result<(), Refused> {
        self.reach.readable(source, size)?;
        self.reach.writable(destination, size)?;
        // SAFETY: the source is readable RAM, the destination a partition's bank (`write`);
        // `copy` allows overlap.
        unsafe { core::ptr::copy(source as *const u8, destination as *mut u8, size as usize) };
        super::cpu::clean_dcache_to_poc(destination, size);
        Ok(())
    }
}
