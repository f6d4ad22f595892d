//! Grant tables on the machine: every partition's table (`portable::gnttab`) behind one
//! lock, its grant frames and bookkeeping in host RAM carved at build (never the boot heap),
//! grants mapped into and out of the partitions' live stage 2 with TLB maintenance, and a
//! partition's mappings revoked both ways when it stops or restarts.
//!
//! Lock order: a partition's `run` (when held), then `GRANTS`, then a partition's `stage2`.
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use dom0less_config::{Enhanced, PartitionPlan};
use spin::{Mutex, Once};

use crate::portable::gnttab::{self, Access, Bank, GrantMemory, GrantTable, Grants, HostFrame, Limits, MemoryError, Span, Stage2, Stage2Error};
use crate::portable::memory::frames::FrameAllocator;
use crate::portable::memory::stage2::{self, MappingAttributes, MemoryType};
use crate::portable::memory::AddressRange;
use crate::portable::partition::{BuildError, Partition};
use crate::portable::xen::abi::PAGE_SIZE;
use crate::portable::xen::guest_memory::in_ram;
use crate::log;
use crate::log::D;

use super::{memory, PARTITIONS};

/// Every partition's grant table.
static GRANTS: Once<Mutex<Grants>> = Once::new();
/// Each partition's grant frames: the host address of the first (they are contiguous) and
/// how many (`max_grant_frames`, 0 for a partition without `xen,enhanced`).
static FRAMES: Once<Vec<(u64, u32)>> = Once::new();
/// Host RAM carved for the grant tables (frames and bookkeeping), for `mem`.
static CARVED: AtomicU64 = AtomicU64::new(0);
/// Where they were carved.
static CARVED_AT: spin::Once<AddressRange> = spin::Once::new();

/// The grant-table limits of partition `index`: the config's, with Xen's defaults, for a
/// partition with the Xen interfaces; none for the others (they see no `/hypervisor` node,
/// and their table has no frame and no mapping).
fn limits(plan: &PartitionPlan, index: usize) -> Limits {
    match plan.partitions.get(index) {
        Some(p) if p.enhanced != Enhanced::Disabled => Limits::from_plan(p.max_grant_frames, p.max_maptrack_frames),
        _ => Limits { max_grant_frames: 0, max_maptrack_frames: 0 },
    }
}

fn banks(p: &Partition) -> Vec<Bank> {
    p.banks.iter().map(|b| Bank { guest: b.ipa.start(), host: b.host, size: b.ipa.size() }).collect()
}

/// Builds every partition's grant table in host RAM carved from `frames`: first the grant
/// frames of each (zeroed), then an arena holding the tables' bookkeeping. Call once, after
/// the partitions are built (their RAM is placed) and before any starts.
/// `ram` is the host's RAM and `keep_out` the hypervisor's image and host tree: the carve is
/// switched to write-back in the EL2 map by whole 2 MiB blocks where those blocks hold none of
/// them, no partition's bank and not the heap's carve (`layout::cacheable_span`).
pub fn build(plan: &PartitionPlan, partitions: &[Partition], frames: &mut FrameAllocator<64>, ram: &[AddressRange], keep_out: &[AddressRange]) -> Result<(), BuildError> {
    let mut frame_bytes = 0u64;
    let mut bookkeeping = 0u64;
    for p in partitions {
        let limits = limits(plan, p.index);
        let banks = banks(p);
        let count = u64::from(limits.max_grant_frames).min(gnttab::abi::WINDOW_SIZE / PAGE_SIZE);
        frame_bytes = frame_bytes.saturating_add(count.saturating_mul(PAGE_SIZE));
        bookkeeping = bookkeeping.saturating_add(GrantTable::bookkeeping_bytes(limits, &banks));
    }
    let arena_bytes = bookkeeping.saturating_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
    let total = frame_bytes.saturating_add(arena_bytes).max(PAGE_SIZE);
    let carved = frames.allocate(total).map_err(|error| BuildError::GrantTables { bytes: total, error })?;
    // Write-back, as guests map the frames (free RAM is Non-cacheable in the EL2 map until
    // it is taken).
    let mut keep_out = keep_out.to_vec();
    keep_out.extend(partitions.iter().flat_map(|p| p.banks.iter()).filter_map(|b| b.host_range()));
    keep_out.extend(super::heap_plan::carved_range());
    let span = crate::arch::aarch64::layout::cacheable_span(carved, ram, &keep_out).unwrap_or(carved);
    // SAFETY: the range was just taken from the free host RAM, and its span holds nothing the
    // hypervisor or a partition uses (`keep_out`: the rest is free RAM, modules, reserved
    // memory); no partition has started and the other CPUs are idle, so nothing accesses it
    // or the blocks around it.
    unsafe { crate::arch::aarch64::mmu::make_cacheable(span) }.map_err(|e| BuildError::HostMap { what: "grant tables", range: carved, reason: alloc::format!("{e}") })?;
    // SAFETY: the range was just taken from the free host RAM (no partition, module, the
    // hypervisor image or the host tree is there), which the EL2 map covers read-write; it
    // belongs to the grant tables for the hypervisor's lifetime.
    unsafe { core::ptr::write_bytes(carved.start() as *mut u8, 0, frame_bytes as usize) };
    let mut placed = Vec::with_capacity(partitions.len());
    let mut next = carved.start();
    for p in partitions {
        let count = limits(plan, p.index).max_grant_frames.min((gnttab::abi::WINDOW_SIZE / PAGE_SIZE) as u32);
        placed.push((next, count));
        next = next.saturating_add(u64::from(count).saturating_mul(PAGE_SIZE));
    }
    let arena = next;
    let build_tables = || -> Result<Vec<GrantTable>, BuildError> {
        let mut tables = Vec::with_capacity(partitions.len());
        for p in partitions {
            let mut table = GrantTable::new(limits(plan, p.index), &banks(p))
                .map_err(|error| BuildError::GrantBank { partition: p.name.clone(), error })?;
            if let Some(peers) = plan.partitions.get(p.index).and_then(|q| q.evtchn_peers.as_ref()) {
                table.set_peers(peers.iter().filter(|&&i| i < 64).fold(0u64, |bits, &i| bits | (1 << i)));
            }
            tables.push(table);
        }
        Ok(tables)
    };
    // SAFETY: `arena..arena + arena_bytes` is the rest of the carved range, used by nothing
    // else; the tables allocated in it live for good (in `GRANTS`).
    let tables = unsafe { crate::boot::heap().arena(arena as usize, arena_bytes as usize, build_tables) }?;
    GRANTS.call_once(|| Mutex::new(Grants::new(tables)));
    FRAMES.call_once(|| placed);
    CARVED.store(carved.size(), Ordering::Relaxed);
    CARVED_AT.call_once(|| carved);
    let (_, used) = crate::boot::heap().arena_usage();
    log!("bulkhead: grant tables: {} KiB of host RAM at {:#x} ({} KiB of grant frames, {} KiB of bookkeeping, {} KiB of it used)", D(&carved.size() >> 10), carved.start(), D(&frame_bytes >> 10), D(&arena_bytes >> 10), D(&used >> 10));
    Ok(())
}

/// The host RAM the grant tables took at build, once built.
pub fn carved_range() -> Option<AddressRange> {
    CARVED_AT.get().copied()
}

/// Host RAM the grant tables took at build.
pub fn carved_bytes() -> u64 {
    CARVED.load(Ordering::Relaxed)
}

fn partitions() -> &'static [Partition] {
    PARTITIONS.get().map_or(&[], |all| all.as_slice())
}

/// The grant frames of every partition, and copies between granted pages.
struct Frames;

impl Frames {
    /// The word at `offset` of partition `partition`'s grant frames.
    fn word(partition: usize, offset: u64) -> Result<&'static AtomicU32, MemoryError> {
        let refused = MemoryError::Table { partition, offset };
        let &(base, count) = FRAMES.get().and_then(|f| f.get(partition)).ok_or(refused)?;
        let size = u64::from(count).saturating_mul(PAGE_SIZE);
        if !offset.is_multiple_of(4) || offset >= size {
            return Err(refused);
        }
        let host = base.checked_add(offset).ok_or(refused)?;
        // SAFETY: `host` is 4-byte aligned inside the partition's grant frames, carved at
        // build and kept for good; the guest writes the same words through its window, which
        // is why every access is atomic.
        Ok(unsafe { AtomicU32::from_ptr(host as *mut u32) })
    }
}

impl GrantMemory for Frames {
    fn load(&mut self, partition: usize, offset: u64) -> Result<u32, MemoryError> {
        Ok(Self::word(partition, offset)?.load(Ordering::Acquire))
    }

    fn compare_exchange(&mut self, partition: usize, offset: u64, current: u32, new: u32) -> Result<u32, MemoryError> {
        let word = Self::word(partition, offset)?;
        Ok(word.compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire).unwrap_or_else(|found| found))
    }

    fn fetch_and(&mut self, partition: usize, offset: u64, bits: u32) -> Result<u32, MemoryError> {
        Ok(Self::word(partition, offset)?.fetch_and(bits, Ordering::AcqRel))
    }

    fn copy(&mut self, from: Span, to: Span, len: u16) -> Result<(), MemoryError> {
        let source = from.frame.address().saturating_add(u64::from(from.offset));
        let target = to.frame.address().saturating_add(u64::from(to.offset));
        let refused = MemoryError::Copy { from: source, to: target };
        let fits = |span: &Span| u64::from(span.offset).saturating_add(u64::from(len)) <= PAGE_SIZE;
        // Both are pages of some partition's RAM (HostFrame's invariant), checked again here.
        let ram = |frame: HostFrame| partitions().iter().any(|p| in_ram(&p.banks, frame.address(), PAGE_SIZE));
        if !fits(&from) || !fits(&to) || !ram(from.frame) || !ram(to.frame) {
            return Err(refused);
        }
        // SAFETY: both spans lie inside one page of partition RAM, which the EL2 map covers
        // read-write and which holds nothing of the hypervisor; they may be the same page
        // (hence `copy`, which allows overlap); the guests may change the bytes meanwhile,
        // which plain bytes tolerate.
        unsafe { core::ptr::copy(source as *const u8, target as *mut u8, usize::from(len)) };
        Ok(())
    }
}

/// The partitions' live stage-2 tables.
struct Live;

impl Live {
    /// Puts `host` (one page) at guest frame `gfn` of partition `partition`, replacing what
    /// is there: the old entry is removed and every CPU forgets it first (break before make).
    fn replace(partition: usize, gfn: u64, host: u64, attributes: MappingAttributes) -> Result<(), Stage2Error> {
        let p = partitions().get(partition).ok_or(Stage2Error)?;
        let ipa = gfn.checked_mul(PAGE_SIZE).ok_or(Stage2Error)?;
        let (page, frame) = AddressRange::new(ipa, PAGE_SIZE).zip(AddressRange::new(host, PAGE_SIZE)).ok_or(Stage2Error)?;
        memory::unmap_guest(p, page).map_err(|_| Stage2Error)?;
        memory::map_guest(p, ipa, frame, attributes).map_err(|_| Stage2Error)
    }
}

impl Stage2 for Live {
    fn map(&mut self, partition: usize, gfn: u64, frame: HostFrame, access: Access) -> Result<(), Stage2Error> {
        let own = partitions().get(partition).is_some_and(|p| in_ram(&p.banks, frame.address(), PAGE_SIZE));
        // The partition's own page is RAM again; another's granted page is data, never code
        // (as Xen's p2m_grant_map types).
        let attributes = MappingAttributes {
            memory: MemoryType::Normal,
            access: match access {
                Access::ReadOnly => stage2::Access::ReadOnly,
                Access::ReadWrite => stage2::Access::ReadWrite,
            },
            executable: own,
        };
        Self::replace(partition, gfn, frame.address(), attributes)
    }

    fn map_table_frame(&mut self, partition: usize, gfn: u64, index: u32) -> Result<(), Stage2Error> {
        let &(base, count) = FRAMES.get().and_then(|f| f.get(partition)).ok_or(Stage2Error)?;
        if index >= count {
            return Err(Stage2Error);
        }
        let host = base.checked_add(u64::from(index).saturating_mul(PAGE_SIZE)).ok_or(Stage2Error)?;
        let attributes = MappingAttributes { memory: MemoryType::Normal, access: stage2::Access::ReadWrite, executable: false };
        Self::replace(partition, gfn, host, attributes)
    }

    fn unmap(&mut self, partition: usize, gfn: u64) {
        let Some(p) = partitions().get(partition) else { return };
        let Some(page) = gfn.checked_mul(PAGE_SIZE).and_then(|ipa| AddressRange::new(ipa, PAGE_SIZE)) else { return };
        if let Err(e) = memory::unmap_guest(p, page) {
            log!("bulkhead: partition \"{}\": guest page {:#x} could not be unmapped: {}", p.name.as_str(), page.start(), D(&e));
        }
    }
}

/// Runs `f` on the locked grant tables with the machine's frames and stage 2 (the
/// hypercalls' `Environment::grants`). Before the tables exist, `f` does not run.
pub fn with(f: &mut dyn FnMut(&mut Grants, &mut dyn GrantMemory, &mut dyn Stage2)) {
    let Some(grants) = GRANTS.get() else { return };
    f(&mut grants.lock(), &mut Frames, &mut Live);
}

/// Revokes every grant mapping to and from `p` (its pages leave the other partitions' stage
/// 2, its own mappings of theirs go), puts its RAM pages back as built and zeroes its grant
/// frames, under the grant lock: once it returns, nothing of `p` is reachable through a grant
/// and no old entry can grant anything. Called when `p` stops and before it is loaded again,
/// with none of its vCPUs in its guest.
pub fn revoke(p: &Partition) {
    let Some(grants) = GRANTS.get() else { return };
    let revoked = {
        let mut grants = grants.lock();
        let revoked = grants.stop(p.index, &mut Frames, &mut Live);
        if let Some(&(base, count)) = FRAMES.get().and_then(|f| f.get(p.index)) {
            let bytes = u64::from(count).saturating_mul(PAGE_SIZE);
            // SAFETY: the partition's grant frames, carved at build; no guest maps them now
            // (`stop` took them out of its window) and the lock keeps every operation out.
            unsafe { core::ptr::write_bytes(base as *mut u8, 0, bytes as usize) };
        }
        revoked
    };
    match revoked {
        Ok(r) if r.foreign != 0 || r.own != 0 => log!("bulkhead: partition \"{}\": grant mappings removed: {} of its pages in other partitions, {} of other partitions' pages in it", p.name.as_str(), D(&r.foreign), D(&r.own)),
        Ok(_) => {}
        Err(refusal) => log!("bulkhead: partition \"{}\": its RAM could not all be put back after its grants: {}", p.name.as_str(), D(&refusal)),
    }
}
