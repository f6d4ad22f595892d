//! The GICv2 virtual interface control registers, `GICH_*` (IHI 0048B.b, chapter 5).
//!
//! The frame at the board's `gich` address is banked: each CPU reaches the interface of the
//! virtual CPU interface it hosts.

use super::virtual_regs::{Hcr, Misr, VirtualCpuState, Vtr};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

/// Most list registers a GICv2 virtual interface can have (`GICH_VTR.ListRegs` is 6 bits).
pub const MAX_GICH_LIST_REGISTERS: usize = 64;

register_structs! {
    /// The virtual interface control frame (IHI 0048B, the virtual interface control register
    /// map).
    pub Gich {
        (0x000 => hcr: ReadWrite<u32>),
        (0x004 => vtr: ReadOnly<u32>),
        (0x008 => vmcr: ReadWrite<u32>),
        (0x00c => _reserved0),
        (0x010 => misr: ReadOnly<u32>),
        (0x014 => _reserved1),
        (0x020 => eisr: [ReadOnly<u32>; 2]),
        (0x028 => _reserved2),
        (0x030 => elrsr: [ReadOnly<u32>; 2]),
        (0x038 => _reserved3),
        (0x0f0 => apr: ReadWrite<u32>),
        (0x0f4 => _reserved4),
        (0x100 => lr: [ReadWrite<u32>; MAX_GICH_LIST_REGISTERS]),
        (0x200 => @END),
    }
}

impl Gich {
    /// `GICH_VTR`, decoded.
    pub fn vtr(&self) -> Vtr {
        Vtr::from_gich(self.vtr.get())
    }

    /// `GICH_HCR`.
    pub fn hcr(&self) -> Hcr {
        Hcr(self.hcr.get())
    }

    /// Writes `GICH_HCR`.
    pub fn set_hcr(&self, value: Hcr) {
        self.hcr.set(value.0);
    }

    /// `GICH_MISR`.
    pub fn misr(&self) -> Misr {
        Misr(self.misr.get())
    }

    /// `GICH_EISR1:GICH_EISR0`: one bit per list register with a pending EOI maintenance.
    pub fn eisr(&self) -> u64 {
        self.eisr[0].get() as u64 | (self.eisr[1].get() as u64) << 32
    }

    /// `GICH_ELRSR1:GICH_ELRSR0`: one bit per list register holding no valid interrupt.
    pub fn elrsr(&self) -> u64 {
        self.elrsr[0].get() as u64 | (self.elrsr[1].get() as u64) << 32
    }

    /// `GICH_LR<index>`; `index` below [`MAX_GICH_LIST_REGISTERS`] (the caller checks
    /// it against `GICH_VTR`).
    pub fn lr(&self, index: usize) -> u32 {
        self.lr.get(index).map_or(0, Readable::get)
    }

    /// Writes `GICH_LR<index>`; an index past the frame is ignored.
    pub fn set_lr(&self, index: usize, value: u32) {
        if let Some(lr) = self.lr.get(index) {
            lr.set(value);
        }
    }

    /// Saves `GICH_VMCR` and `GICH_APR` into `state` (`ap0r[0]`).
    pub fn save(&self, state: &mut VirtualCpuState) {
        state.vmcr = self.vmcr.get();
        state.ap0r = [self.apr.get(), 0, 0, 0];
        state.ap1r = [0; 4];
    }

    /// Restores `GICH_VMCR` and `GICH_APR` from `state`.
    pub fn restore(&self, state: &VirtualCpuState) {
        self.vmcr.set(state.vmcr);
        self.apr.set(state.ap0r[0]);
    }
}
