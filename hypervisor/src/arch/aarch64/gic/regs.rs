//! GIC register values as newtypes with decoders: pure, so the host tests cover them.
//!
//! GICv3 facts are from Arm IHI 0069 (GICv3 and GICv4 architecture specification), chapter 12,
//! whose section numbers here are those of issue H.b;
//! GICv2 facts from Arm IHI 0048B.b (GIC architecture specification v2), chapters 4 and 5.

/// The affinity fields of an MPIDR (Aff3 at bits 39:32, Aff2..Aff0 at bits 23:0).
pub const MPIDR_AFFINITY_MASK: u64 = 0xff_00ff_ffff;

/// The first INTID that is not an SGI or PPI.
pub const FIRST_SPI: u32 = 32;
/// The first special INTID (1020..1023: spurious and friends, never a real interrupt).
pub const FIRST_SPECIAL: u32 = 1020;
/// Number of SGIs (INTIDs 0..15).
pub const SGI_COUNT: u32 = 16;

/// Whether `intid` is an SGI or a PPI: banked per CPU (v2) or in a redistributor (v3).
pub const fn is_private(intid: u32) -> bool {
    intid < FIRST_SPI
}

/// Where a set/clear register with one bit per interrupt (`GICD_ICACTIVERn` and its kin,
/// IHI 0048B §4.3.5 to §4.3.10) holds SPI `intid`: the register index and its bit. `None`
/// for an SGI or PPI, whose word (index 0) is banked per CPU, and past the implemented
/// `lines`: what such a register does to an SPI does not depend on the CPU that writes it.
pub const fn spi_bit(intid: u32, lines: u32) -> Option<(usize, u32)> {
    if is_private(intid) || intid >= lines {
        return None;
    }
    Some(((intid / 32) as usize, 1 << (intid % 32)))
}

/// `GICR_TYPER`, the redistributor type register (IHI 0069H.b §12.11.37).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GicrTyper(pub u64);

impl GicrTyper {
    /// The affinity of the PE this redistributor serves, laid out as in MPIDR_EL1
    /// (`Affinity_Value` is Aff3.Aff2.Aff1.Aff0 in bits 63:32).
    pub const fn mpidr_affinity(self) -> u64 {
        let value = self.0 >> 32;
        (value & 0xff_ffff) | ((value >> 24) & 0xff) << 32
    }

    /// Whether this is the last redistributor frame of the contiguous region (`Last`, bit 4).
    pub const fn is_last(self) -> bool {
        self.0 & (1 << 4) != 0
    }

    /// Whether the redistributor supports virtual LPIs (`VLPIS`, bit 1): then each
    /// redistributor has four 64 KiB frames instead of two (§12.10).
    pub const fn virtual_lpis(self) -> bool {
        self.0 & (1 << 1) != 0
    }

    /// Bytes from this redistributor's frames to the next one's.
    pub const fn stride(self) -> usize {
        if self.virtual_lpis() {
            0x4_0000
        } else {
            0x2_0000
        }
    }

    /// The PE number used by the ITS and `GICR_TYPER.Processor_Number` (bits 23:8).
    pub const fn processor_number(self) -> u16 {
        (self.0 >> 8) as u16
    }
}

/// `GICD_TYPER`, the distributor type register, fields common to GICv2 (IHI 0048B §4.3.2)
/// and GICv3 (IHI 0069H.b §12.9.38).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GicdTyper(pub u32);

impl GicdTyper {
    /// Number of INTIDs the distributor implements, SGIs and PPIs included:
    /// 32 * (`ITLinesNumber` + 1), at most 1020.
    pub const fn interrupt_lines(self) -> u32 {
        let lines = 32 * ((self.0 & 0x1f) + 1);
        if lines > FIRST_SPECIAL {
            FIRST_SPECIAL
        } else {
            lines
        }
    }

    /// GICv2: number of CPU interfaces (`CPUNumber` + 1).
    pub const fn cpu_interfaces(self) -> u32 {
        ((self.0 >> 5) & 0x7) + 1
    }

    /// GICv2: the GIC implements the Security Extensions (`SecurityExtn`, bit 10). Then a
    /// non-secure access (ours, at non-secure EL2) sees the non-secure views of `GICD_CTLR`
    /// and `GICC_CTLR`.
    pub const fn security_extensions(self) -> bool {
        self.0 & (1 << 10) != 0
    }

    /// GICv3: SGIs may target Aff0 values above 15 (`RSS`, bit 26).
    pub const fn range_selector(self) -> bool {
        self.0 & (1 << 26) != 0
    }
}

/// A value of `ICC_SGI1R_EL1` (IHI 0069H.b §12.2): one Group 1 SGI to one PE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sgi1r(pub u64);

impl Sgi1r {
    /// The value that sends SGI `sgi` (0..15) to the PE with affinity `mpidr`. The target
    /// list has 16 bits; `RS` (bits 47:44) selects which group of 16 Aff0 values it covers.
    /// `None` for an SGI number above 15.
    pub const fn to_cpu(sgi: u32, mpidr: u64) -> Option<Self> {
        if sgi >= SGI_COUNT {
            return None;
        }
        let aff0 = mpidr & 0xff;
        let aff1 = (mpidr >> 8) & 0xff;
        let aff2 = (mpidr >> 16) & 0xff;
        let aff3 = (mpidr >> 32) & 0xff;
        Some(Sgi1r(
            (aff3 << 48)
                | ((aff0 >> 4) << 44)
                | (aff2 << 32)
                | ((sgi as u64) << 24)
                | (aff1 << 16)
                | (1 << (aff0 & 0xf)),
        ))
    }

    /// The SGI number (`INTID`, bits 27:24).
    pub const fn sgi(self) -> u32 {
        ((self.0 >> 24) & 0xf) as u32
    }

    /// The range selector (`RS`, bits 47:44): Aff0 / 16 of the targets.
    pub const fn range_selector(self) -> u32 {
        ((self.0 >> 44) & 0xf) as u32
    }

    /// The 16-bit target list (bits 15:0): bit n targets Aff0 = 16 * RS + n.
    pub const fn target_list(self) -> u16 {
        self.0 as u16
    }

    /// Aff3, Aff2 and Aff1 of the targets, laid out as in MPIDR_EL1 (Aff0 zero).
    pub const fn upper_affinity(self) -> u64 {
        (((self.0 >> 48) & 0xff) << 32)
            | (((self.0 >> 32) & 0xff) << 16)
            | (((self.0 >> 16) & 0xff) << 8)
    }
}

/// A value of the GICv2 `GICD_SGIR` (IHI 0048B §4.3.15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sgir(pub u32);

impl Sgir {
    /// The value that sends SGI `sgi` (0..15) to the CPU interface `cpu_interface` (0..7),
    /// with `TargetListFilter` 0 (use the list). `None` when either is out of range.
    pub const fn to_cpu_interface(sgi: u32, cpu_interface: u8) -> Option<Self> {
        if sgi >= SGI_COUNT || cpu_interface >= 8 {
            return None;
        }
        Some(Sgir((1 << (16 + cpu_interface as u32)) | sgi))
    }

    /// The SGI number (`SGIINTID`, bits 3:0).
    pub const fn sgi(self) -> u32 {
        self.0 & 0xf
    }

    /// The CPU target list (`CPUTargetList`, bits 23:16), one bit per CPU interface.
    pub const fn target_list(self) -> u8 {
        (self.0 >> 16) as u8
    }
}

/// A value read from the GICv2 `GICD_ITARGETSR0..7`: for SGIs and PPIs each byte is the mask
/// of the CPU interface that reads it (IHI 0048B §4.3.12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrivateTargets(pub u32);

impl PrivateTargets {
    /// The reading CPU's interface number: the lowest bit set in the first byte. A
    /// uniprocessor implementation reads as zero; its only interface is number 0.
    /// `None` when the first byte has more than one bit set, which no CPU interface reports.
    pub const fn cpu_interface(self) -> Option<u8> {
        let mask = self.0 as u8;
        match mask {
            0 => Some(0),
            m if m.count_ones() == 1 => Some(m.trailing_zeros() as u8),
            _ => None,
        }
    }
}

/// An `ITARGETSR` byte for an SPI: the mask with only `cpu_interface` set (IHI 0048B §4.3.12).
pub const fn spi_target_byte(cpu_interface: u8) -> u8 {
    1 << (cpu_interface & 7)
}

/// An acknowledged interrupt: a value read from `ICC_IAR1_EL1` (IHI 0069H.b §12.2.14) or the
/// GICv2 `GICC_IAR` (IHI 0048B §4.4.4). For a GICv2 SGI the value also names the source CPU,
/// which `GICC_EOIR` and `GICC_DIR` need back, so the whole value is kept for the end of the
/// interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acknowledged {
    raw: u32,
    intid: u32,
}

impl Acknowledged {
    /// Decodes a GICv3 `ICC_IAR1_EL1` value (`INTID`, bits 23:0).
    pub const fn from_v3(raw: u32) -> Self {
        Acknowledged {
            raw,
            intid: raw & 0xff_ffff,
        }
    }

    /// Decodes a GICv2 `GICC_IAR` value (`InterruptID`, bits 9:0; `CPUID`, bits 12:10).
    pub const fn from_v2(raw: u32) -> Self {
        Acknowledged {
            raw: raw & 0x1fff,
            intid: raw & 0x3ff,
        }
    }

    /// The value to end or deactivate `intid` when it was not acknowledged here (a
    /// hardware-mapped interrupt the guest deactivated outside a list register). Not for a
    /// GICv2 SGI, which needs its source CPU.
    pub const fn of(intid: u32) -> Self {
        Acknowledged { raw: intid, intid }
    }

    /// The INTID.
    pub const fn intid(self) -> u32 {
        self.intid
    }

    /// The value to write back to the end-of-interrupt and deactivation registers.
    pub const fn raw(self) -> u32 {
        self.raw
    }

    /// The source CPU interface of a GICv2 SGI (`CPUID`, bits 12:10); zero otherwise.
    pub const fn source_cpu(self) -> u8 {
        if self.intid < SGI_COUNT {
            ((self.raw >> 10) & 0x7) as u8
        } else {
            0
        }
    }

    /// Whether the value names no interrupt: INTIDs 1020 to 1023 (spurious, or reserved
    /// for other security states).
    pub const fn is_special(self) -> bool {
        self.intid >= FIRST_SPECIAL && self.intid < 1024
    }
}
