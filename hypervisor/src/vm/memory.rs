//! Memory at run time: the arch layer's EL2 memory seen through the portable `PhysicalMemory`
//! trait (the guest loader and the partition builder use it), and changes to a partition's
//! live stage 2 followed by the TLB maintenance they need.

use crate::arch::aarch64::memory::El2Memory;
use crate::arch::aarch64::reach::Refused;
use crate::portable::memory::physical::{PhysicalMemory, PhysicalMemoryError};
use crate::portable::memory::AddressRange;

fn error(e: Refused) -> PhysicalMemoryError {
    let (address, size) = e.range();
    match AddressRange::new(address, size) {
        Some(range) => PhysicalMemoryError::OutOfBounds { range },
        None => PhysicalMemoryError::Overflow { address },
    }
}

impl PhysicalMemory for El2Memory {
    fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), PhysicalMemoryError> {
        El2Memory::write(self, address, bytes).map_err(error)
    }

    fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), PhysicalMemoryError> {
        El2Memory::read(self, address, buffer).map_err(error)
    }

    fn fill(&mut self, range: AddressRange, value: u8) -> Result<(), PhysicalMemoryError> {
        El2Memory::fill(self, range.start(), range.size(), value).map_err(error)
    }

    fn copy(&mut self, source: u64, destination: u64, size: u64) -> Result<(), PhysicalMemoryError> {
        El2Memory::copy(self, source, destination, size).map_err(error)
    }
}

/// Maps `host` at `ipa` in partition `p`'s stage 2 while it runs, with page-table pages from
/// its preallocated pool. A new mapping needs no TLB maintenance (nothing was cached for it).
pub fn map_guest(
    p: &crate::portable::partition::Partition,
    ipa: u64,
    host: AddressRange,
    attributes: crate::portable::memory::stage2::MappingAttributes,
) -> Result<(), crate::portable::memory::stage2::Stage2Error> {
    p.stage2.lock().map(ipa, host, attributes)
}

/// Removes `ipa` from partition `p`'s stage 2 while it runs, then makes every CPU forget the
/// translations of the partition's VMID before the caller reuses the memory.
pub fn unmap_guest(p: &crate::portable::partition::Partition, ipa: AddressRange) -> Result<(), crate::portable::memory::stage2::Stage2Error> {
    let mut table = p.stage2.lock();
    table.unmap(ipa)?;
    // SAFETY: `vttbr_el2` is this partition's; this CPU runs at EL2 here.
    unsafe { crate::arch::aarch64::tlb::invalidate_guest(p.vttbr_el2) };
    Ok(())
}

/// Puts `host` (one page) at the page `ipa` of partition `p`'s stage 2, replacing what is
/// there: the old entry is removed and every CPU forgets it first (break before make), then
/// the new one is made, under one hold of the table's lock. The pages both steps may need are
/// reserved first, so it fails before it changes anything, never halfway with the page gone.
pub fn replace_guest(
    p: &crate::portable::partition::Partition,
    ipa: AddressRange,
    host: AddressRange,
    attributes: crate::portable::memory::stage2::MappingAttributes,
) -> Result<(), crate::portable::memory::stage2::Stage2Error> {
    use crate::portable::memory::stage2::{Stage2Error, TablePageSource};
    let mut table = p.stage2.lock();
    // Unmapping a page inside a block splits it (a table at most); each step asks for two.
    if !table.page_source().reserve(3) {
        return Err(Stage2Error::OutOfTablePages { needed: 3, available: table.page_source().available() });
    }
    table.unmap(ipa)?;
    // SAFETY: `vttbr_el2` is this partition's; this CPU runs at EL2 here.
    unsafe { crate::arch::aarch64::tlb::invalidate_guest(p.vttbr_el2) };
    table.map(ipa.start(), host, attributes)
}

/// Rebuilds partition `p`'s stage 2 from its static mappings: every run-time mapping goes
/// (grants, grant frames, shared_info, pages given back), every table page the run took goes
/// back to the page pool (the static mappings' pages are kept), then every CPU forgets the
/// VMID's translations. For a partition that stops or is loaded again, with none of its
/// vCPUs in its guest and its grants revoked.
pub fn rebuild_stage2(p: &crate::portable::partition::Partition) {
    let mut table = p.stage2.lock();
    let rebuilt = table.clear().and_then(|()| p.static_mappings.iter().try_for_each(|&(ipa, host, attributes)| table.map(ipa, host, attributes)));
    // SAFETY: `vttbr_el2` is this partition's; this CPU runs at EL2 here.
    unsafe { crate::arch::aarch64::tlb::invalidate_guest(p.vttbr_el2) };
    drop(table);
    if let Err(e) = rebuilt {
        crate::log!("bulkhead: partition \"{}\": its stage-2 table could not be rebuilt from its static mappings: {}", p.name.as_str(), crate::log::D(&e));
    }
}
