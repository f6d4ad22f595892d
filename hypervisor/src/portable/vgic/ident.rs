//! Identification registers (`IIDR`, `PIDR`, `CIDR`) of the virtual distributor and redistributors.

use super::GicVersion;

/// `GICD_IIDR` and `GICR_IIDR`: ProductID 0x42 in bits 31:24, variant and revision 0, implementer
/// 0x43b (Arm's JEP106 code, as other hypervisors' virtual GICs use). Linux matches errata
/// workarounds on this value; none of its GIC quirk entries matches it (one matches zero).
pub(super) const IIDR: u32 = 0x4200_043b;

/// Offset of `PIDR4`, the first identification register, from the end of a 4 KiB or 64 KiB frame.
pub(super) const ID_BLOCK_FROM_END: u64 = 0x30;

/// The value of an identification register at `offset` from the start of the ID block
/// (`PIDR4` at 0x00 to `CIDR3` at 0x2c); `None` past it.
///
/// `PIDR2.ArchRev` (bits 7:4) is what Linux checks: 2 for GICv2, 3 for GICv3
/// (IHI 0048B "Identification registers", IHI 0069 "GICD_PIDR2").
pub(super) const fn id_register(version: GicVersion, offset: u64) -> Option<u32> {
    let arch_rev: u32 = match version {
        GicVersion::V2 => 2,
        GicVersion::V3 => 3,
    };
    let value = match offset {
        // PIDR4: 4 KiB block count 0, JEP106 continuation code 4 (Arm).
        0x00 => 0x04,
        0x04 | 0x08 | 0x0c => 0,
        // PIDR0, PIDR1: part number; PIDR1 bits 7:4 hold JEP106 identity bits 3:0 (0xb).
        0x10 => 0x92,
        0x14 => 0xb4,
        // PIDR2: ArchRev, JEDEC-assigned flag, JEP106 identity bits 6:4.
        0x18 => (arch_rev << 4) | 0b1011,
        0x1c => 0,
        // CIDR0 to CIDR3: the CoreSight component preamble.
        0x20 => 0x0d,
        0x24 => 0xf0,
        0x28 => 0x05,
        0x2c => 0xb1,
        _ => return None,
    };
    Some(value)
}
