//! Virtual interface register values shared by GICv3 `ICH_*_EL2` and GICv2 `GICH_*`: pure
//! newtypes, covered by host tests.
//!
//! The low bits of `ICH_HCR_EL2` and `GICH_HCR`, and all of `ICH_MISR_EL2` and `GICH_MISR`,
//! have the same layout (IHI 0069H.b §12.4, the virtualization control System registers;
//! IHI 0048B, `GICH_HCR` and `GICH_MISR`).

/// The virtual interface's implementation facts (`ICH_VTR_EL2`, IHI 0069H.b §12.4;
/// `GICH_VTR`, IHI 0048B).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vtr {
    /// Number of list registers.
    pub list_registers: usize,
    /// Preemption bits of the virtual priority (`PREbits` + 1).
    pub preemption_bits: u32,
    /// Priority bits of a virtual interrupt (`PRIbits` + 1).
    pub priority_bits: u32,
}

impl Vtr {
    /// Decodes `ICH_VTR_EL2`: `ListRegs` in bits 4:0, `PREbits` in 28:26, `PRIbits` in 31:29,
    /// each one less than the count. At most 16 list registers exist (`ICH_LR0..15_EL2`).
    pub const fn from_ich(value: u64) -> Self {
        let list_registers = (value & 0x1f) as usize + 1;
        Vtr {
            list_registers: if list_registers > 16 {
                16
            } else {
                list_registers
            },
            preemption_bits: ((value >> 26) & 0x7) as u32 + 1,
            priority_bits: ((value >> 29) & 0x7) as u32 + 1,
        }
    }

    /// Decodes `GICH_VTR`: `ListRegs` in bits 5:0, `PREbits` and `PRIbits` as in GICv3.
    pub const fn from_gich(value: u32) -> Self {
        Vtr {
            list_registers: (value & 0x3f) as usize + 1,
            preemption_bits: ((value >> 26) & 0x7) + 1,
            priority_bits: ((value >> 29) & 0x7) + 1,
        }
    }

    /// How many `ICH_AP0R<n>_EL2` (and as many `ICH_AP1R<n>_EL2`) registers exist: one bit
    /// per preemption level, 32 levels a register (IHI 0069H.b §12.4, `ICH_AP0R<n>_EL2`: AP0R1 exists from
    /// 6 preemption bits, AP0R2 and AP0R3 with 7).
    pub const fn active_priority_registers(self) -> usize {
        match self.preemption_bits {
            0..=5 => 1,
            6 => 2,
            _ => 4,
        }
    }
}

/// A value of `ICH_HCR_EL2` or `GICH_HCR`: the virtual interface's control.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hcr(pub u32);

impl Hcr {
    /// `En`: the virtual CPU interface works.
    pub const ENABLE: u32 = 1 << 0;
    /// `UIE`: maintenance interrupt while at most one list register holds a valid entry.
    pub const UNDERFLOW: u32 = 1 << 1;
    /// `LRENPIE`: maintenance interrupt while `EOIcount` is not zero.
    pub const LR_ENTRY_NOT_PRESENT: u32 = 1 << 2;
    /// `NPIE`: maintenance interrupt while no list register holds a pending interrupt.
    pub const NO_PENDING: u32 = 1 << 3;
    /// `VGrp0EIE`: maintenance interrupt while the guest has virtual Group 0 enabled.
    pub const GROUP0_ENABLED: u32 = 1 << 4;
    /// `VGrp0DIE`: maintenance interrupt while the guest has virtual Group 0 disabled.
    pub const GROUP0_DISABLED: u32 = 1 << 5;
    /// `VGrp1EIE`: maintenance interrupt while the guest has virtual Group 1 enabled.
    pub const GROUP1_ENABLED: u32 = 1 << 6;
    /// `VGrp1DIE`: maintenance interrupt while the guest has virtual Group 1 disabled.
    pub const GROUP1_DISABLED: u32 = 1 << 7;
    /// GICv3 only, `TDIR` (bit 14): trap the guest's `ICC_DIR_EL1` writes to EL2.
    pub const V3_TRAP_DIR: u32 = 1 << 14;
    const EOI_COUNT_SHIFT: u32 = 27;

    /// The interface enabled, nothing else set (and `EOIcount` zero).
    pub const fn enabled() -> Self {
        Hcr(Self::ENABLE)
    }

    /// This value with `bits` set or cleared.
    pub const fn with(self, bits: u32, on: bool) -> Self {
        if on {
            Hcr(self.0 | bits)
        } else {
            Hcr(self.0 & !bits)
        }
    }

    /// Whether all of `bits` are set.
    pub const fn has(self, bits: u32) -> bool {
        self.0 & bits == bits
    }

    /// `EOIcount` (bits 31:27): the guest's EOIs of interrupts that were in no list register
    /// (with `EOImode` 0 each also deactivated one) since the count was last written.
    pub const fn eoi_count(self) -> u32 {
        self.0 >> Self::EOI_COUNT_SHIFT
    }

    /// This value with `EOIcount` cleared, to write back once the count was handled.
    pub const fn without_eoi_count(self) -> Self {
        Hcr(self.0 & ((1 << Self::EOI_COUNT_SHIFT) - 1))
    }
}

/// A value of `ICH_MISR_EL2` or `GICH_MISR`: why the maintenance interrupt is asserted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Misr(pub u32);

impl Misr {
    /// `EOI`: a list register asking for it (`EOI` bit, no `HW`) was deactivated; `EISR`
    /// says which.
    pub const fn end_of_interrupt(self) -> bool {
        self.0 & (1 << 0) != 0
    }

    /// `U`: underflow, at most one valid list register while `UIE` is set.
    pub const fn underflow(self) -> bool {
        self.0 & (1 << 1) != 0
    }

    /// `LRENP`: `EOIcount` is not zero while `LRENPIE` is set.
    pub const fn lr_entry_not_present(self) -> bool {
        self.0 & (1 << 2) != 0
    }

    /// `NP`: no pending list register while `NPIE` is set.
    pub const fn no_pending(self) -> bool {
        self.0 & (1 << 3) != 0
    }

    /// `VGrp0E`, `VGrp0D`, `VGrp1E` or `VGrp1D`: a virtual group enable condition asked for.
    pub const fn group_change(self) -> bool {
        self.0 & 0xf0 != 0
    }
}

/// A vCPU's virtual CPU interface state outside the list registers, saved when another vCPU
/// takes the physical CPU and restored before it runs again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VirtualCpuState {
    /// `ICH_VMCR_EL2` or `GICH_VMCR`: the guest's view of its CPU interface controls
    /// (priority mask, binary points, group enables, EOI mode).
    pub vmcr: u32,
    /// GICv3: `ICH_AP0R0..3_EL2`, the Group 0 active priorities (only the implemented ones
    /// are saved). GICv2: `[0]` is `GICH_APR`.
    pub ap0r: [u32; 4],
    /// GICv3: `ICH_AP1R0..3_EL2`, the Group 1 active priorities. Unused for GICv2.
    pub ap1r: [u32; 4],
}
