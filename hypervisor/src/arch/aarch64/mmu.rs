//! The hypervisor's own address space: an identity map at EL2 (stage 1), built with
//! `aarch64-paging` from the board's device windows, the RAM banks and the image layout, and
//! kept once it is on, to switch RAM from Non-cacheable to write-back (`make_cacheable`) when
//! it was mapped Non-cacheable from the start (`RamMapping`).

use super::layout::{ImageLayout, Kind, RamMapping, Region};
use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, MAIR_EL2, SCTLR_EL2, TCR_EL2};
use aarch64_paging::descriptor::El23Attributes as A;
use aarch64_paging::idmap::IdMap;
use aarch64_paging::paging::{El2, MemoryRegion};
use aarch64_paging::MapError;
use boards::AddressRange;
use core::arch::asm;
use core::fmt;
use locks::Mutex;
use spin::Once;
use tock_registers::interfaces::{Readable, Writeable};

/// Root level 1 with a 4 KiB granule: 39-bit addresses, 512 GiB identity mapped at most.
const ROOT_LEVEL: usize = 1;
const T0SZ: u64 = 64 - 39;

/// MAIR_EL2: index 0 Device-nGnRE, index 1 Normal write-back read/write-allocate, index 2
/// Normal Non-cacheable (inner and outer).
const MAIR: u64 = 0x04 | (0xff << 8) | (0x44 << 16);
const DEVICE: A = A::ATTRIBUTE_INDEX_0;
const NORMAL: A = A::ATTRIBUTE_INDEX_1.union(A::INNER_SHAREABLE);
const UNCACHED: A = A::ATTRIBUTE_INDEX_2.union(A::INNER_SHAREABLE);
/// The translation granule.
const PAGE: u64 = 4096;
const BASE: A = A::VALID.union(A::ACCESSED).union(A::USER_RES1);

/// SCTLR_EL2 bits that are RES1 when HCR_EL2.E2H is 0 (Arm ARM, SCTLR_EL2).
const SCTLR_EL2_RES1: u64 = (1 << 4) | (1 << 5) | (1 << 11) | (1 << 16) | (1 << 18) | (1 << 22) | (1 << 23) | (1 << 28) | (1 << 29);
/// M (MMU), C (data cache), SA (stack alignment check), I (instruction cache), WXN.
const SCTLR_EL2_ON: u64 = SCTLR_EL2_RES1 | 1 | (1 << 2) | (1 << 3) | (1 << 12) | (1 << 19);

fn attributes(kind: Kind) -> A {
    match kind {
        Kind::Text => BASE | NORMAL | A::READ_ONLY,
        Kind::ReadOnly => BASE | NORMAL | A::READ_ONLY | A::XN,
        Kind::ReadWrite => BASE | NORMAL | A::XN,
        Kind::Uncached => BASE | UNCACHED | A::XN,
        Kind::Device => BASE | DEVICE | A::XN,
        // No VALID bit: aarch64-paging leaves the entries invalid, so any access faults.
        Kind::Guard => A::empty(),
    }
}

/// The EL2 page tables, with the register values that turn them on.
pub struct El2Map {
    idmap: IdMap<El2>,
    /// How `regions` had RAM outside the hypervisor's own memory.
    ram: RamMapping,
}

/// Register values a CPU loads to use the EL2 map.
#[derive(Clone, Copy, Debug)]
pub struct MmuConfig {
    pub mair_el2: u64,
    pub tcr_el2: u64,
    pub ttbr0_el2: u64,
    pub sctlr_el2: u64,
}

impl El2Map {
    /// Builds the tables (on the boot heap) from `regions`, a `layout::plan` made with `ram`.
    pub fn build(regions: &[Region], ram: RamMapping) -> Result<Self, MapError> {
        let mut idmap = IdMap::new(ROOT_LEVEL, El2);
        for r in regions {
            let region = MemoryRegion::new(r.range.start() as usize, r.range.end() as usize);
            idmap.map_range(&region, attributes(r.kind))?;
        }
        Ok(Self { idmap, ram })
    }

    /// The values for MAIR_EL2, TCR_EL2, TTBR0_EL2 and SCTLR_EL2.
    pub fn config(&self) -> MmuConfig {
        let pa_range = ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange).min(5);
        // T0SZ, inner/outer write-back write-allocate walks, inner shareable, 4 KiB granule,
        // PS = the CPU's physical address size, RES1 bits 23 and 31.
        let tcr = T0SZ | (1 << 8) | (1 << 10) | (3 << 12) | (pa_range << 16) | (1 << 23) | (1 << 31);
        MmuConfig { mair_el2: MAIR, tcr_el2: tcr, ttbr0_el2: self.idmap.root_address().0 as u64, sctlr_el2: SCTLR_EL2_ON }
    }

    /// Turns the MMU and caches on for this CPU with this map, which then lives forever.
    ///
    /// # Safety
    /// The map must identity map everything the running code touches (code, stack, data,
    /// heap, devices), with the MMU currently off.
    pub unsafe fn enable(self, image: &ImageLayout) -> MmuConfig {
        let config = self.config();
        // Lines cached before the MMU was turned off may hide what was written since with the
        // caches off (relocations, .bss, these tables): discard them.
        super::cpu::invalidate_dcache_to_poc(image.start, image.end - image.start);
        // Then every line the firmware left anywhere else goes (written back if dirty). With
        // RAM Non-cacheable, so that no cache holds a line of it: nothing allocates one while
        // the MMU is off, and nothing maps that RAM cacheable once it is on. With RAM
        // write-back, so that no dirty line of the firmware's can later be written back over
        // what a guest wrote with its caches off (the loader cleans what it writes itself).
        // The image's stale lines went first: a dirty one written back now would overwrite
        // this image.
        super::cpu::clean_invalidate_dcache_all();
        MAIR_EL2.set(config.mair_el2);
        TCR_EL2.set(config.tcr_el2);
        let mut idmap = self.idmap;
        // SAFETY: the caller guarantees the map covers everything in use; the map is leaked
        // below, so the tables are never freed while TTBR0_EL2 points at them.
        unsafe { idmap.activate() };
        // SAFETY: invalidating TLBs and barriers have no memory-safety effect.
        unsafe { asm!("tlbi alle2", "dsb nsh", "isb", options(nostack, preserves_flags)) };
        SCTLR_EL2.set(config.sctlr_el2);
        // SAFETY: as above.
        unsafe { asm!("isb", options(nostack, preserves_flags)) };
        // Kept for good: the tables are never freed while TTBR0_EL2 points at them.
        let ram = self.ram;
        LIVE.call_once(|| Mutex::new(Live { idmap, ram }));
        config
    }
}

/// The EL2 map once it is on.
struct Live {
    idmap: IdMap<El2>,
    ram: RamMapping,
}

/// How the EL2 map has RAM outside the hypervisor's own memory from the MMU's start; `None`
/// before the MMU is on.
pub fn ram_mapping() -> Option<RamMapping> {
    LIVE.get().map(|live| live.lock().ram)
}

// SAFETY: the tables are reached only through `LIVE`'s lock, from whichever CPU holds it;
// nothing in them belongs to one CPU.
unsafe impl Send for Live {}

static LIVE: Once<Mutex<Live>> = Once::new();

/// Why a range could not be switched to write-back.
#[derive(Debug)]
pub enum RemapError {
    /// The MMU is not on yet (`El2Map::enable` keeps the map).
    NotOn,
    /// The range does not start and end on 4 KiB pages.
    Unaligned { range: AddressRange },
    /// The range is not inside one RAM bank (only RAM is switched).
    NotRam { range: AddressRange },
    /// The table library refused a step.
    Map { range: AddressRange, error: MapError },
}

impl fmt::Display for RemapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotOn => write!(f, "the EL2 map is not on yet: RAM can be switched to write-back only after El2Map::enable"),
            Self::Unaligned { range } => write!(f, "{range} does not start and end on a 4 KiB page: round it out to pages"),
            Self::NotRam { range } => write!(f, "{range} is not inside one RAM bank of the host tree's /memory: only RAM is switched to write-back"),
            Self::Map { range, error } => write!(f, "switching {range} to write-back in the EL2 map failed: {error}"),
        }
    }
}

/// Switches `range` from Normal Non-cacheable to write-back in the EL2 map, with
/// break-before-make (Arm ARM, "Using break-before-make when updating translation table entries"): where an end of `range` lies inside a block
/// mapping, that block is first made invalid, its TLB entries invalidated on every CPU
/// (`TLBI VAE2IS`, `DSB ISH`, `ISB`) and remapped as a table of smaller mappings with the same
/// attributes; then every descriptor of `range` is made invalid, its TLB entries invalidated
/// the same way, and written again as write-back. A range already write-back is written again
/// the same way. Lines written through the Non-cacheable map are in memory already (the
/// writers end with `DSB SY`), and no cache holds a line of `range` (`Kind::Uncached`), so the
/// first cacheable access reads memory. Nothing to do where the map has had RAM write-back
/// from the start (`RamMapping::WriteBack`).
///
/// # Safety
/// Nothing may access `range` during the call, and where an end of it lies inside a block
/// mapping, nothing may access the rest of that block either (`split_edges` beforehand, at a
/// time when that holds, lifts this second condition for good). No cache may hold a line of
/// `range` (true of RAM mapped `Kind::Uncached` since the MMU went on).
pub unsafe fn make_cacheable(range: AddressRange) -> Result<(), RemapError> {
    if !range.is_aligned(PAGE) {
        return Err(RemapError::Unaligned { range });
    }
    let mut live = LIVE.get().ok_or(RemapError::NotOn)?.lock();
    if live.ram == RamMapping::WriteBack {
        // RAM has been write-back since the MMU's start: nothing to switch.
        return Ok(());
    }
    let map = &mut live.idmap;
    let error = |error| RemapError::Map { range, error };
    for edge in [range.start(), range.end()] {
        split_at(map, edge).map_err(error)?;
    }
    let region = MemoryRegion::new(range.start() as usize, range.end() as usize);
    // Break: the library writes each changed descriptor, then `DSB ISHST`, `TLBI VAE2IS` for
    // it, `DSB ISH` and `ISB` (it refuses a change that would split a live block).
    map.modify_range(&region, &|_, d| if d.is_table() { Ok(()) } else { d.modify_flags(A::empty(), A::VALID) })
        .map_err(error)?;
    // Make: the descriptors are invalid, so writing them is no change of a live mapping.
    map.map_range(&region, attributes(Kind::ReadWrite)).map_err(error)
}

/// Splits the block mappings in which an end of `range` lies (break-before-make, as
/// `make_cacheable` does), so that switching `range` later touches no descriptor that maps
/// anything else. Nothing to do where RAM is write-back from the start (nothing is switched).
///
/// # Safety
/// Nothing may access the memory of a block mapping in which an end of `range` lies during
/// the call.
pub unsafe fn split_edges(range: AddressRange) -> Result<(), RemapError> {
    if !range.is_aligned(PAGE) {
        return Err(RemapError::Unaligned { range });
    }
    let mut live = LIVE.get().ok_or(RemapError::NotOn)?.lock();
    if live.ram == RamMapping::WriteBack {
        // No range is ever switched, so no block needs splitting.
        return Ok(());
    }
    for edge in [range.start(), range.end()] {
        split_at(&mut live.idmap, edge).map_err(|error| RemapError::Map { range, error })?;
    }
    Ok(())
}

/// If `edge` (page aligned) lies inside a valid block mapping, replaces that block by a table
/// of the same mappings with break-before-make. The caller guarantees nothing accesses the
/// block meanwhile.
fn split_at(map: &mut IdMap<El2>, edge: u64) -> Result<(), MapError> {
    let probe = MemoryRegion::new(edge as usize, edge as usize + PAGE as usize);
    let mut block = None;
    map.walk_range(&probe, &mut |_, d, level| {
        let size = PAGE << (9 * (3 - level as u64));
        if level < 3 && d.is_valid() && !d.is_table_or_page() && !edge.is_multiple_of(size) {
            block = Some((edge & !(size - 1), size, d.flags()));
        }
        Ok(())
    })?;
    let Some((start, size, flags)) = block else { return Ok(()) };
    let whole = MemoryRegion::new(start as usize, (start + size) as usize);
    // Break the whole block (one descriptor: the library invalidates its TLB entries).
    map.modify_range(&whole, &|_, d| if d.is_table() { Ok(()) } else { d.modify_flags(A::empty(), A::VALID) })?;
    // Make it again in two parts that meet at `edge`: the library puts a table where the
    // invalid block was, and each part's mappings into it.
    for (from, to) in [(start, edge), (edge, start + size)] {
        map.map_range(&MemoryRegion::new(from as usize, to as usize), flags)?;
    }
    Ok(())
}
