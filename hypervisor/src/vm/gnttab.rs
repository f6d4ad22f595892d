//! Grant tables on the machine: every partition's table (`portable::gnttab`) behind one
//! lock, its grant frames and bookkeeping in pages of host RAM from the pool (`vm::pool`),
//! taken as the table grows and given back when the partition stops, grants mapped into and
//! out of the partitions' live stage 2 with TLB maintenance, and a partition's mappings
//! revoked both ways when it stops or restarts.
//!
//! Lock order: a partition's `run` (when held), then `GRANTS`, then a partition's `stage2`,
//! then the pool.
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use dom0less_config::{Enhanced, PartitionPlan};
use locks::Mutex;
use spin::Once;

use crate::portable::gnttab::{Access, Bank, GrantMemory, GrantTable, Grants, HostFrame, Limits, MemoryError, Span, Stage2, Stage2Error};
use crate::portable::memory::page_pool::PageSource;
use crate::portable::memory::stage2::{self, MappingAttributes, MemoryType};
use crate::portable::memory::AddressRange;
use crate::portable::partition::{BuildError, Partition};
use crate::portable::xen::abi::PAGE_SIZE;
use crate::portable::xen::guest_memory::in_ram;
use crate::log;
use crate::log::D;

use super::{memory, pool, PARTITIONS};

/// Every partition's grant table.
static GRANTS: Once<Mutex<Grants>> = Once::new();
/// Each partition's grant frames: the host address of frame `i` in slot `i` (0: none), one
/// slot per frame its `max_grant_frames` allows.
static FRAMES: Once<Vec<Box<[AtomicU64]>>> = Once::new();

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

/// The most pages of host RAM partition `index`'s grant table may hold at once (its frames,
/// their active entries, its maptrack, its RAM page states) in RAM `banks`: its share of the
/// pool's cap.
pub fn page_cap(plan: &PartitionPlan, index: usize, banks: &[crate::portable::guest::boot::GuestBank]) -> usize {
    let banks: Vec<Bank> = banks.iter().map(|b| Bank { guest: b.ipa.start(), host: b.host, size: b.ipa.size() }).collect();
    GrantTable::page_cap(limits(plan, index), &banks)
}

/// Builds every partition's grant table, each with Xen's one initial frame from the pool
/// (none for a partition without `xen,enhanced`). Call once, after the pool is made and
/// before any partition starts.
pub fn build(plan: &PartitionPlan, partitions: &[Partition]) -> Result<(), BuildError> {
    let mut tables = Vec::with_capacity(partitions.len());
    let mut frames = Vec::with_capacity(partitions.len());
    for p in partitions {
        let mut table = GrantTable::new(p.index, limits(plan, p.index), &banks(p))
            .map_err(|error| BuildError::GrantBank { partition: p.name.clone(), error })?;
        if let Some(peers) = plan.partitions.get(p.index).and_then(|q| q.evtchn_peers.as_ref()) {
            table.set_peers(peers.iter().filter(|&&i| i < 64).fold(0u64, |bits, &i| bits | (1 << i)));
        }
        frames.push((0..table.max_frames()).map(|_| AtomicU64::new(0)).collect::<Box<[AtomicU64]>>());
        tables.push(table);
    }
    FRAMES.call_once(|| frames);
    let mut grants = Grants::new(tables);
    for p in partitions {
        let wants = grants.table(p.index).is_some_and(|t| t.max_frames() > 0);
        if wants && !grants.start_table(p.index, &mut Frames) {
            return Err(BuildError::GrantTables { partition: p.name.clone() });
        }
    }
    GRANTS.call_once(|| Mutex::new(grants));
    Ok(())
}

/// Pages partition `p`'s grant table holds now.
pub fn pages_held(p: usize) -> usize {
    GRANTS.get().and_then(|g| g.lock().table(p).map(GrantTable::pages_held)).unwrap_or(0)
}

fn partitions() -> &'static [Partition] {
    PARTITIONS.get().map_or(&[], |all| all.as_slice())
}

/// The grant frames of every partition, and copies between granted pages.
struct Frames;

impl Frames {
    /// Slot `index` of partition `partition`'s grant frames.
    fn slot(partition: usize, index: u64) -> Option<&'static AtomicU64> {
        FRAMES.get()?.get(partition)?.get(usize::try_from(index).ok()?)
    }

    /// The host address of grant frame `index` of `partition`, if it has a page.
    fn frame(partition: usize, index: u64) -> Option<u64> {
        Some(Self::slot(partition, index)?.load(Ordering::Acquire)).filter(|&a| a != 0)
    }

    /// The word at `offset` of partition `partition`'s grant frames.
    fn word(partition: usize, offset: u64) -> Result<&'static AtomicU32, MemoryError> {
        let refused = MemoryError::Table { partition, offset };
        if !offset.is_multiple_of(4) {
            return Err(refused);
        }
        let base = Self::frame(partition, offset / PAGE_SIZE).ok_or(refused)?;
        let host = base.checked_add(offset % PAGE_SIZE).ok_or(refused)?;
        // SAFETY: `host` is 4-byte aligned inside a grant frame of the partition, a page the
        // pool gave it, kept until the frame is removed under the grant lock (which the caller
        // holds); the guest writes the same words through its window, which is why every
        // access is atomic.
        Ok(unsafe { AtomicU32::from_ptr(host as *mut u32) })
    }
}

// SAFETY: the pool's pages, as `pool::Pages` promises.
unsafe impl PageSource for Frames {
    fn take_page(&mut self, owner: usize) -> Option<NonNull<u8>> {
        pool::Pages.take_page(owner)
    }

    unsafe fn give_page(&mut self, owner: usize, page: NonNull<u8>) {
        // SAFETY: the caller's promise, passed on.
        unsafe { pool::Pages.give_page(owner, page) }
    }
}

impl GrantMemory for Frames {
    fn add_frame(&mut self, partition: usize, index: u32) -> Result<(), MemoryError> {
        let refused = MemoryError::NoPage { partition, index };
        let slot = Self::slot(partition, u64::from(index)).ok_or(refused)?;
        if slot.load(Ordering::Acquire) != 0 {
            return Ok(());
        }
        let page = pool::take(partition).map_err(|_| refused)?;
        slot.store(page.as_ptr() as u64, Ordering::Release);
        Ok(())
    }

    fn remove_frames(&mut self, partition: usize, first: u32) {
        let Some(slots) = FRAMES.get().and_then(|f| f.get(partition)) else { return };
        for slot in slots.iter().skip(first as usize) {
            if let Some(page) = NonNull::new(slot.swap(0, Ordering::AcqRel) as *mut u8) {
                pool::give(partition, page);
            }
        }
    }

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
        memory::replace_guest(p, page, frame, attributes).map_err(|_| Stage2Error)
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
        let host = Frames::frame(partition, u64::from(index)).ok_or(Stage2Error)?;
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
/// 2, its own mappings of theirs go), puts its RAM pages back as built, gives back every page
/// its table grew by and zeroes the frame it keeps, under the grant lock: once it returns,
/// nothing of `p` is reachable through a grant and no old entry can grant anything. Called
/// when `p` stops and before it is loaded again, with none of its vCPUs in its guest.
pub fn revoke(p: &Partition) {
    let Some(grants) = GRANTS.get() else { return };
    let revoked = {
        let mut grants = grants.lock();
        let revoked = grants.stop(p.index, &mut Frames, &mut Live);
        for slot in FRAMES.get().and_then(|f| f.get(p.index)).into_iter().flat_map(|s| s.iter()) {
            let page = slot.load(Ordering::Acquire);
            if page != 0 {
                // SAFETY: a grant frame of the partition, a page the pool gave it; no guest
                // maps it now (`stop` took it out of its window) and the lock keeps every
                // operation out.
                unsafe { core::ptr::write_bytes(page as *mut u8, 0, PAGE_SIZE as usize) };
            }
        }
        revoked
    };
    match revoked {
        Ok(r) if r.foreign != 0 || r.own != 0 => log!("bulkhead: partition \"{}\": grant mappings removed: {} of its pages in other partitions, {} of other partitions' pages in it", p.name.as_str(), D(&r.foreign), D(&r.own)),
        Ok(_) => {}
        Err(refusal) => log!("bulkhead: partition \"{}\": its RAM could not all be put back after its grants: {}", p.name.as_str(), D(&refusal)),
    }
}
