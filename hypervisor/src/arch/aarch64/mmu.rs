//! The hypervisor's own address space: an identity map at EL2 (stage 1), built with
//! `aarch64-paging` from the board's device windows, the RAM banks and the image layout.

use super::layout::{ImageLayout, Kind, Region};
use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, MAIR_EL2, SCTLR_EL2, TCR_EL2};
use aarch64_paging::descriptor::El23Attributes as A;
use aarch64_paging::idmap::IdMap;
use aarch64_paging::paging::{El2, MemoryRegion};
use aarch64_paging::MapError;
use core::arch::asm;
use tock_registers::interfaces::{Readable, Writeable};

/// Root level 1 with a 4 KiB granule: 39-bit addresses, 512 GiB identity mapped at most.
const ROOT_LEVEL: usize = 1;
const T0SZ: u64 = 64 - 39;

/// MAIR_EL2: index 0 Device-nGnRE, index 1 Normal write-back read/write-allocate.
const MAIR: u64 = 0x04 | (0xff << 8);
const DEVICE: A = A::ATTRIBUTE_INDEX_0;
const NORMAL: A = A::ATTRIBUTE_INDEX_1.union(A::INNER_SHAREABLE);
const BASE: A = A::VALID.union(A::ACCESSED).union(A::USER_RES1);

/// SCTLR_EL2 bits that are RES1 when HCR_EL2.E2H is 0 (Arm ARM D24.2.166).
const SCTLR_EL2_RES1: u64 = (1 << 4) | (1 << 5) | (1 << 11) | (1 << 16) | (1 << 18) | (1 << 22) | (1 << 23) | (1 << 28) | (1 << 29);
/// M (MMU), C (data cache), SA (stack alignment check), I (instruction cache), WXN.
const SCTLR_EL2_ON: u64 = SCTLR_EL2_RES1 | 1 | (1 << 2) | (1 << 3) | (1 << 12) | (1 << 19);

fn attributes(kind: Kind) -> A {
    match kind {
        Kind::Text => BASE | NORMAL | A::READ_ONLY,
        Kind::ReadOnly => BASE | NORMAL | A::READ_ONLY | A::XN,
        Kind::ReadWrite => BASE | NORMAL | A::XN,
        Kind::Device => BASE | DEVICE | A::XN,
        // No VALID bit: aarch64-paging leaves the entries invalid, so any access faults.
        Kind::Guard => A::empty(),
    }
}

/// The EL2 page tables, with the register values that turn them on.
pub struct El2Map {
    idmap: IdMap<El2>,
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
    /// Builds the tables (on the boot heap).
    pub fn build(regions: &[Region]) -> Result<Self, MapError> {
        let mut idmap = IdMap::new(ROOT_LEVEL, El2);
        for r in regions {
            let region = MemoryRegion::new(r.range.start() as usize, r.range.end() as usize);
            idmap.map_range(&region, attributes(r.kind))?;
        }
        Ok(Self { idmap })
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
        core::mem::forget(idmap);
        config
    }
}
