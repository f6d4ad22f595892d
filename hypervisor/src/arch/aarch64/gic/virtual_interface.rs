//! One view of the virtual CPU interface control over both GIC versions: list registers,
//! control, maintenance status and the state a vCPU switch saves.
//!
//! Every operation acts on the calling CPU's interface (GICv3 system registers, or the
//! banked GICv2 `GICH` frame). List register values are in each version's native format:
//! `ICH_LR<n>_EL2` (64 bits) or `GICH_LR<n>` (32 bits, in the low half), as the vGIC's
//! `encode_v3` / `encode_v2` produce them.

use super::frame::Frame;
use super::gich::Gich;
use super::sysreg;
use super::virtual_regs::{Hcr, Misr, VirtualCpuState, Vtr};
use super::GicError;
use aarch64_cpu::registers::{ICH_HCR_EL2, ICH_MISR_EL2, ICH_VMCR_EL2, ICH_VTR_EL2};
use tock_registers::interfaces::{Readable, Writeable};

/// The calling CPU's virtual interface control, GICv2 or GICv3.
#[derive(Clone, Copy)]
pub enum VirtualInterface {
    /// GICv2: the memory-mapped `GICH` frame.
    V2 {
        /// The frame.
        gich: Frame<Gich>,
        /// `GICH_VTR`, decoded once.
        vtr: Vtr,
    },
    /// GICv3: the `ICH_*_EL2` system registers.
    V3 {
        /// `ICH_VTR_EL2`, decoded once.
        vtr: Vtr,
    },
}

impl VirtualInterface {
    /// The GICv3 interface; reads `ICH_VTR_EL2`. System-register access must be on
    /// (`ICC_SRE_EL2.SRE`, set by the physical GIC's set-up).
    pub(super) fn v3() -> Self {
        VirtualInterface::V3 {
            vtr: Vtr::from_ich(ICH_VTR_EL2.get()),
        }
    }

    /// The GICv2 interface at `gich`.
    ///
    /// # Safety
    /// `gich` must be the GICv2 virtual interface control frame, mapped as Device memory for
    /// the rest of the program, and only virtual interface handles may use it.
    pub(super) unsafe fn v2(gich: u64) -> Result<Self, GicError> {
        // SAFETY: the caller guarantees the frame is mapped for good and used only through
        // these handles; `Gich` matches its layout.
        let gich =
            unsafe { Frame::<Gich>::new(gich) }.ok_or(GicError::BadAddress { address: gich })?;
        Ok(VirtualInterface::V2 {
            gich,
            vtr: gich.vtr(),
        })
    }

    /// The implementation facts (list registers, priority and preemption bits).
    pub fn vtr(&self) -> Vtr {
        match *self {
            VirtualInterface::V2 { vtr, .. } | VirtualInterface::V3 { vtr } => vtr,
        }
    }

    /// Number of list registers.
    pub fn lr_count(&self) -> usize {
        self.vtr().list_registers
    }

    /// Reads list register `index`.
    pub fn read_lr(&self, index: usize) -> Result<u64, GicError> {
        self.check_lr(index)?;
        Ok(match self {
            VirtualInterface::V2 { gich, .. } => gich.lr(index) as u64,
            VirtualInterface::V3 { .. } => sysreg::ich_lr(index),
        })
    }

    /// Writes list register `index`; a GICv2 interface takes the low 32 bits.
    pub fn write_lr(&self, index: usize, value: u64) -> Result<(), GicError> {
        self.check_lr(index)?;
        match self {
            VirtualInterface::V2 { gich, .. } => gich.set_lr(index, value as u32),
            VirtualInterface::V3 { .. } => sysreg::set_ich_lr(index, value),
        }
        Ok(())
    }

    /// Empties every list register.
    pub fn clear_lrs(&self) {
        for index in 0..self.lr_count() {
            match self {
                VirtualInterface::V2 { gich, .. } => gich.set_lr(index, 0),
                VirtualInterface::V3 { .. } => sysreg::set_ich_lr(index, 0),
            }
        }
    }

    /// The control register (`ICH_HCR_EL2` or `GICH_HCR`), with its `EOIcount`.
    pub fn hcr(&self) -> Hcr {
        match self {
            VirtualInterface::V2 { gich, .. } => gich.hcr(),
            VirtualInterface::V3 { .. } => Hcr(ICH_HCR_EL2.get() as u32),
        }
    }

    /// Writes the control register; the value's `EOIcount` is written too (usually zero, to
    /// clear a count that was handled).
    pub fn set_hcr(&self, value: Hcr) {
        match self {
            VirtualInterface::V2 { gich, .. } => gich.set_hcr(value),
            VirtualInterface::V3 { .. } => ICH_HCR_EL2.set(value.0 as u64),
        }
    }

    /// Why the maintenance interrupt is asserted (`ICH_MISR_EL2` or `GICH_MISR`).
    pub fn misr(&self) -> Misr {
        match self {
            VirtualInterface::V2 { gich, .. } => gich.misr(),
            VirtualInterface::V3 { .. } => Misr(ICH_MISR_EL2.get() as u32),
        }
    }

    /// List registers with an EOI maintenance condition, one bit each (`EISR`).
    pub fn eisr(&self) -> u64 {
        match self {
            VirtualInterface::V2 { gich, .. } => gich.eisr(),
            VirtualInterface::V3 { .. } => sysreg::ich_eisr_el2(),
        }
    }

    /// List registers holding no valid interrupt, one bit each (`ELRSR`).
    pub fn elrsr(&self) -> u64 {
        match self {
            VirtualInterface::V2 { gich, .. } => gich.elrsr(),
            VirtualInterface::V3 { .. } => sysreg::ich_elrsr_el2(),
        }
    }

    /// Saves the vCPU's `VMCR` and active priorities (only the implemented `AP0R`/`AP1R`).
    pub fn save(&self, state: &mut VirtualCpuState) {
        match self {
            VirtualInterface::V2 { gich, .. } => gich.save(state),
            VirtualInterface::V3 { vtr } => {
                state.vmcr = ICH_VMCR_EL2.get() as u32;
                let count = vtr.active_priority_registers();
                for index in 0..4 {
                    let implemented = index < count;
                    state.ap0r[index] = if implemented {
                        sysreg::ich_ap0r(index)
                    } else {
                        0
                    };
                    state.ap1r[index] = if implemented {
                        sysreg::ich_ap1r(index)
                    } else {
                        0
                    };
                }
            }
        }
    }

    /// Restores what [`VirtualInterface::save`] saved.
    pub fn restore(&self, state: &VirtualCpuState) {
        match self {
            VirtualInterface::V2 { gich, .. } => gich.restore(state),
            VirtualInterface::V3 { vtr } => {
                ICH_VMCR_EL2.set(state.vmcr as u64);
                for index in 0..vtr.active_priority_registers() {
                    sysreg::set_ich_ap0r(index, state.ap0r[index]);
                    sysreg::set_ich_ap1r(index, state.ap1r[index]);
                }
            }
        }
    }

    fn check_lr(&self, index: usize) -> Result<(), GicError> {
        let count = self.lr_count();
        if index >= count {
            return Err(GicError::NoListRegister { index, count });
        }
        Ok(())
    }
}
