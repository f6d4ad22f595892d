//! Host physical memory as the hypervisor sees it: identity mapped at EL2, so copying guest
//! images is plain memory access. RAM outside the hypervisor's own memory is Normal
//! Non-cacheable in the EL2 map until it is switched to write-back (`make_cacheable`): a
//! partition's banks are, after their first load; with the boot scrub off it is write-back
//! from the MMU's start (`layout::RamMapping`). Every write reaches the point of coherency
//! as it is made, for guests that start with their MMU off: through the Non-cacheable map by
//! itself, through the write-back map by a clean. Every access is checked (`reach`): reads
//! reach RAM outside the hypervisor's own memory (its image with stacks, heap and EL2 tables,
//! and the host device tree); writes reach only the partitions' banks.

use super::layout::RamMapping;
use super::mmu::RemapError;
use super::reach::{Range, Reach, Refused};
use alloc::vec::Vec;
use boards::AddressRange;
use core::arch::asm;

/// RAM as mapped at EL2. Accesses [`Reach`] refuses are refused.
pub struct El2Memory {
    reach: Reach,
    /// The ranges write-back in the EL2 map: switched, or all of RAM where it was write-back
    /// from the start (the rest of RAM outside the hypervisor's own memory is Non-cacheable).
    cacheable: Vec<Range>,
}

/// The two ranges share a byte.
fn overlaps(a: Range, b: Range) -> bool {
    a.0 < b.0.saturating_add(b.1) && b.0 < a.0.saturating_add(a.1)
}

/// Completes the Non-cacheable writes before it (Arm ARM, "Data Synchronization Barrier"): they have reached
/// memory when it returns.
fn complete_writes() {
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
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
    /// Every byte of `ram` outside `hypervisor` must be mapped as the EL2 map says it has RAM
    /// from the start (`mmu::ram_mapping`): write-back for good, or Normal Non-cacheable
    /// (`layout::Kind::Uncached`) until this accessor switches it.
    pub unsafe fn new(ram: Vec<Range>, hypervisor: Vec<Range>) -> Self {
        let cacheable = match super::mmu::ram_mapping() {
            Some(RamMapping::WriteBack) => ram.clone(),
            Some(RamMapping::NonCacheable) | None => Vec::new(),
        };
        Self { reach: Reach::new(ram, hypervisor), cacheable }
    }

    /// Whether `size` bytes at `address` are mapped Non-cacheable: no part of them was
    /// switched to write-back. A range that is only partly switched counts as write-back,
    /// whose writers clean (cleaning a Non-cacheable line does no harm).
    fn uncached(&self, address: u64, size: u64) -> bool {
        !self.cacheable.iter().any(|&c| overlaps(c, (address, size)))
    }

    /// Switches `range` (page aligned, inside one RAM bank) to write-back in the EL2 map
    /// (`mmu::make_cacheable`): the hypervisor's own use of a range (boot modules, before they
    /// are copied), or a partition's bank after its first load, before its vCPUs start
    /// (hypercalls read guest buffers through this map). Nothing if it was switched already.
    ///
    /// # Safety
    /// As `mmu::make_cacheable`: nothing may access `range` during the call, nor the rest of a
    /// block mapping an end of it lies in (none once `mmu::split_edges` split them).
    pub unsafe fn make_cacheable(&mut self, range: AddressRange) -> Result<(), RemapError> {
        let wanted = (range.start(), range.size());
        if !self.reach.in_ram(wanted.0, wanted.1) {
            return Err(RemapError::NotRam { range });
        }
        if self.cacheable.iter().any(|&c| c.0 <= wanted.0 && wanted.0.saturating_add(wanted.1) <= c.0.saturating_add(c.1)) {
            return Ok(());
        }
        // SAFETY: the caller's contract; `range` is RAM, which the EL2 map covers, and no
        // cache holds a line of the Non-cacheable part of it (`new`'s contract).
        unsafe { super::mmu::make_cacheable(range) }?;
        self.cacheable.push(wanted);
        Ok(())
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

    /// Copies `bytes` to `address`, to the point of coherency.
    pub fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), Refused> {
        self.reach.writable(address, bytes.len() as u64)?;
        // SAFETY: `writable` keeps the access inside a partition's bank, RAM mapped read-write
        // at EL2 (identity) that the constructor's contract says nothing else uses.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), address as *mut u8, bytes.len()) };
        self.to_poc(address, bytes.len() as u64);
        Ok(())
    }

    /// Brings what was just written at `address` to the point of coherency: a barrier where
    /// the map is Non-cacheable, a clean where it is write-back.
    fn to_poc(&self, address: u64, size: u64) {
        if self.uncached(address, size) {
            complete_writes();
        } else {
            super::cpu::clean_dcache_to_poc(address, size);
        }
    }

    /// Copies the bytes at `address` into `buffer`.
    pub fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), Refused> {
        self.reach.readable(address, buffer.len() as u64)?;
        // SAFETY: `readable` keeps the access inside mapped RAM outside the hypervisor's own
        // memory, so it cannot overlap `buffer`.
        unsafe { core::ptr::copy_nonoverlapping(address as *const u8, buffer.as_mut_ptr(), buffer.len()) };
        Ok(())
    }

    /// Sets `size` bytes at `address` to `value`, to the point of coherency: zeros through
    /// the Non-cacheable map with 64-byte SIMD stores (`cpu::zero_uncached`, no clean), through
    /// the write-back map with `DC ZVA` and a clean where the CPU permits it
    /// (`cpu::zero_to_poc`).
    pub fn fill(&mut self, address: u64, size: u64, value: u8) -> Result<(), Refused> {
        self.reach.writable(address, size)?;
        match (value, self.uncached(address, size)) {
            // SAFETY: `writable` keeps the range inside a partition's bank, which the
            // constructor's contract says nothing else uses, and `uncached` says the EL2 map
            // has it Non-cacheable, so no cache holds a line of it.
            (0, true) => unsafe { super::cpu::zero_uncached(address, size) },
            // SAFETY: as above; the bank is Normal memory in the EL2 map.
            (0, false) => unsafe { super::cpu::zero_to_poc(address, size) },
            _ => {
                // SAFETY: as for `write`.
                unsafe { core::ptr::write_bytes(address as *mut u8, value, size as usize) };
                self.to_poc(address, size);
            }
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
        self.to_poc(destination, size);
        Ok(())
    }
}
