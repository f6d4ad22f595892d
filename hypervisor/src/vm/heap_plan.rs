//! The heap sized from the plan: before the partitions are built, what they need
//! (`portable::partition::heap_need`) beyond what the heap has free is carved from host RAM
//! and added to the heap, for good.

use core::sync::atomic::{AtomicU64, Ordering};

use dom0less_config::PartitionPlan;

use crate::portable::memory::frames::FrameAllocator;
use crate::portable::memory::AddressRange;
use crate::portable::partition::{heap_need, BuildError};
use crate::log;
use crate::log::D;

/// Host RAM carved for the heap, for `mem`.
static CARVED: AtomicU64 = AtomicU64::new(0);
/// Where it was carved, if anywhere.
static CARVED_AT: spin::Once<AddressRange> = spin::Once::new();

/// Carves from `frames` what the heap lacks for `plan`'s partitions and adds it to the heap.
/// Call once, after the plan's static banks are claimed from `frames` (so the carve keeps
/// clear of them) and before the partitions are built.
pub fn carve<const N: usize>(plan: &PartitionPlan, frames: &mut FrameAllocator<N>) -> Result<(), BuildError> {
    let need = heap_need::for_plan(plan) as u64;
    let heap = crate::boot::heap();
    let free = heap.free() as u64;
    // Whole 64 KiB: a few table pages' alignment, and a round figure in the logs.
    let lacking = need.saturating_sub(free).saturating_add(0xffff) & !0xffff;
    if lacking == 0 {
        log!("bulkhead: heap: {} KiB needed for {} partitions, {} KiB free in the image's heap and the unused CPUs' stacks: nothing carved from host RAM", D(&(need >> 10)), plan.partitions.len(), D(&(free >> 10)));
        return Ok(());
    }
    let range = frames
        .allocate_aligned(lacking, 4096)
        .map_err(|error| BuildError::Heap { bytes: lacking, error })?;
    // The heap is write-back, as everything the hypervisor keeps (with the boot scrub on,
    // free RAM is Non-cacheable in the EL2 map until it is taken; off, this does nothing).
    // SAFETY: the range was just taken from the free host RAM: nothing uses it or, with no
    // partition started yet and the other CPUs idle, the blocks around it.
    unsafe { crate::arch::aarch64::mmu::make_cacheable(range) }.map_err(|e| BuildError::HostMap { what: "heap", range, reason: alloc::format!("{e}") })?;
    // SAFETY: the range was just taken from the free host RAM (no partition, module, static
    // bank, the image or the host tree is there), which the EL2 map covers read-write; it
    // belongs to the heap for the hypervisor's lifetime.
    let added = unsafe { heap.add_region(range.start() as usize, range.size() as usize) };
    if !added {
        return Err(BuildError::Heap { bytes: lacking, error: crate::portable::memory::frames::FrameError::OutOfMemory { size: lacking, alignment: 4096 } });
    }
    CARVED.store(range.size(), Ordering::Relaxed);
    CARVED_AT.call_once(|| range);
    log!("bulkhead: heap: {} KiB needed for {} partitions, {} KiB free in the image's heap and the unused CPUs' stacks, {} KiB of host RAM carved at {:#x}", D(&(need >> 10)), plan.partitions.len(), D(&(free >> 10)), D(&(range.size() >> 10)), range.start());
    Ok(())
}

/// The host RAM carved for the heap at boot, if any (nothing may unmap it for a moment: the
/// EL2 map's own new tables may live there).
pub fn carved_range() -> Option<AddressRange> {
    CARVED_AT.get().copied()
}

/// Host RAM carved for the heap at boot.
pub fn carved_bytes() -> u64 {
    CARVED.load(Ordering::Relaxed)
}
