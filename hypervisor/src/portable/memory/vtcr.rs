//! The stage-2 translation regime: VTCR_EL2 from the CPU's PARange, and VTTBR_EL2 values.
//!
//! Field layouts follow the Arm ARM (DDI 0487), D23.2 "VTCR_EL2" and "VTTBR_EL2", and
//! D8.2 "Translation table walk" for the start level and T0SZ rules of the 4 KiB granule.

use core::fmt;

use super::vmid::Vmid;

/// The largest IPA size we configure: a single level 1 root table (512 x 1 GiB) covers 39 bits
/// without concatenated root tables.
pub const MAX_IPA_BITS: u32 = 39;

/// The translation level the walk starts at (VTCR_EL2.SL0 = 0b01 with a 4 KiB granule).
pub const START_LEVEL: usize = 1;

const T0SZ_SHIFT: u32 = 0;
const SL0_SHIFT: u32 = 6;
const SL0_LEVEL1: u64 = 0b01;
const IRGN0_SHIFT: u32 = 8;
const ORGN0_SHIFT: u32 = 10;
/// Normal memory, write-back read-allocate write-allocate cacheable.
const WALK_CACHE_WRITE_BACK: u64 = 0b01;
const SH0_SHIFT: u32 = 12;
const SH0_INNER_SHAREABLE: u64 = 0b11;
const TG0_SHIFT: u32 = 14;
const TG0_4K: u64 = 0b00;
const PS_SHIFT: u32 = 16;
/// Bit 31 of VTCR_EL2 is RES1.
const RES1: u64 = 1 << 31;
/// The largest PS encoding usable with a 4 KiB granule without FEAT_LPA2 (48 bits).
const PS_MAX_4K: u64 = 0b101;
const VTTBR_VMID_SHIFT: u32 = 48;
const VTTBR_BADDR_MASK: u64 = 0x0000_ffff_ffff_fffe;

/// Why a stage-2 configuration cannot be built.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum VtcrError {
    /// ID_AA64MMFR0_EL1.PARange holds an encoding the Arm ARM reserves.
    ReservedParange {
        /// The raw 4-bit field.
        parange: u8,
    },
    /// A root table address does not fit VTTBR_EL2.BADDR or is not 4 KiB aligned.
    BadRootAddress {
        /// The address given.
        address: u64,
    },
}

impl fmt::Display for VtcrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReservedParange { parange } => {
                write!(
                    f,
                    "ID_AA64MMFR0_EL1.PARange {parange:#x} is a reserved encoding"
                )
            }
            Self::BadRootAddress { address } => write!(
                f,
                "stage-2 root table {address:#x} is not a 4 KiB aligned address below 2^48"
            ),
        }
    }
}

/// The stage-2 regime shared by all partitions: IPA and PA sizes and the VTCR_EL2 value.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Stage2Config {
    pa_bits: u32,
    ipa_bits: u32,
}

impl Stage2Config {
    /// Builds the configuration from the raw ID_AA64MMFR0_EL1 value (PARange is bits [3:0]).
    pub fn from_id_aa64mmfr0_el1(id_aa64mmfr0_el1: u64) -> Result<Self, VtcrError> {
        // The mask keeps four bits, so the cast is lossless.
        let parange = (id_aa64mmfr0_el1 & 0xf) as u8;
        let pa_bits = match parange {
            0b0000 => 32,
            0b0001 => 36,
            0b0010 => 40,
            0b0011 => 42,
            0b0100 => 44,
            0b0101 => 48,
            // 52 bits needs FEAT_LPA2 with a 4 KiB granule: use 48.
            0b0110 => 48,
            _ => return Err(VtcrError::ReservedParange { parange }),
        };
        Ok(Self {
            pa_bits,
            ipa_bits: pa_bits.min(MAX_IPA_BITS),
        })
    }

    /// The number of physical address bits the stage-2 output may use.
    pub const fn pa_bits(&self) -> u32 {
        self.pa_bits
    }

    /// The number of IPA bits a guest may use.
    pub const fn ipa_bits(&self) -> u32 {
        self.ipa_bits
    }

    /// The first IPA a guest cannot use.
    pub const fn ipa_limit(&self) -> u64 {
        1 << self.ipa_bits
    }

    /// The first physical address stage-2 cannot output.
    pub const fn pa_limit(&self) -> u64 {
        1 << self.pa_bits
    }

    /// The VTCR_EL2 value: 4 KiB granule, walks start at level 1, table walks inner-shareable
    /// write-back, 8-bit VMIDs, no hardware access-flag or dirty-state management.
    pub const fn vtcr_el2(&self) -> u64 {
        let t0sz = 64 - self.ipa_bits as u64;
        let ps = match self.pa_bits {
            32 => 0b000,
            36 => 0b001,
            40 => 0b010,
            42 => 0b011,
            44 => 0b100,
            _ => PS_MAX_4K,
        };
        RES1 | (ps << PS_SHIFT)
            | (TG0_4K << TG0_SHIFT)
            | (SH0_INNER_SHAREABLE << SH0_SHIFT)
            | (WALK_CACHE_WRITE_BACK << ORGN0_SHIFT)
            | (WALK_CACHE_WRITE_BACK << IRGN0_SHIFT)
            | (SL0_LEVEL1 << SL0_SHIFT)
            | (t0sz << T0SZ_SHIFT)
    }
}

/// The VTTBR_EL2 value for a partition: its VMID and the physical address of its root table.
pub fn vttbr_el2(vmid: Vmid, root_table: u64) -> Result<u64, VtcrError> {
    if root_table & !VTTBR_BADDR_MASK != 0 || !root_table.is_multiple_of(0x1000) {
        return Err(VtcrError::BadRootAddress {
            address: root_table,
        });
    }
    Ok((u64::from(vmid.get()) << VTTBR_VMID_SHIFT) | root_table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parange_maps_to_ps_and_ipa_size() {
        // (PARange, PA bits, IPA bits, PS)
        let cases = [
            (0b0000, 32, 32, 0b000),
            (0b0001, 36, 36, 0b001),
            (0b0010, 40, 39, 0b010),
            (0b0011, 42, 39, 0b011),
            (0b0100, 44, 39, 0b100),
            (0b0101, 48, 39, 0b101),
            (0b0110, 48, 39, 0b101),
        ];
        for (parange, pa_bits, ipa_bits, ps) in cases {
            // Other ID_AA64MMFR0_EL1 fields must not leak into the result.
            let config =
                Stage2Config::from_id_aa64mmfr0_el1(0x1122_0000_0000_0f20 | parange).unwrap();
            assert_eq!((config.pa_bits(), config.ipa_bits()), (pa_bits, ipa_bits));
            let vtcr = config.vtcr_el2();
            assert_eq!((vtcr >> 16) & 0b111, ps, "PS for PARange {parange}");
            assert_eq!(
                vtcr & 0x3f,
                u64::from(64 - ipa_bits),
                "T0SZ for PARange {parange}"
            );
        }
    }

    #[test]
    fn vtcr_fields_for_a_cortex_a72() {
        // Cortex-A72 (Raspberry Pi 4) reports PARange 0b0100, 44 bits.
        let config = Stage2Config::from_id_aa64mmfr0_el1(0x1124).unwrap();
        let vtcr = config.vtcr_el2();
        assert_eq!(vtcr, 0x8004_3559);
        assert_eq!(vtcr & 0x3f, 25, "T0SZ: 39-bit IPA");
        assert_eq!((vtcr >> 6) & 0b11, 0b01, "SL0: start at level 1");
        assert_eq!((vtcr >> 8) & 0b11, 0b01, "IRGN0: write-back");
        assert_eq!((vtcr >> 10) & 0b11, 0b01, "ORGN0: write-back");
        assert_eq!((vtcr >> 12) & 0b11, 0b11, "SH0: inner shareable");
        assert_eq!((vtcr >> 14) & 0b11, 0b00, "TG0: 4 KiB");
        assert_eq!((vtcr >> 19) & 1, 0, "VS: 8-bit VMID");
        assert_eq!(vtcr >> 31, 1, "RES1");
        assert_eq!(config.ipa_limit(), 0x80_0000_0000);
        assert_eq!(config.pa_limit(), 0x1000_0000_0000);
    }

    #[test]
    fn small_pa_range_limits_ipa_within_level1_rules() {
        let config = Stage2Config::from_id_aa64mmfr0_el1(0).unwrap();
        // T0SZ 32 is inside the 25..=33 range the Arm ARM allows for SL0 = level 1.
        assert_eq!(config.vtcr_el2() & 0x3f, 32);
        assert_eq!(config.ipa_limit(), 0x1_0000_0000);
    }

    #[test]
    fn reserved_parange_is_rejected() {
        assert_eq!(
            Stage2Config::from_id_aa64mmfr0_el1(0b0111).unwrap_err(),
            VtcrError::ReservedParange { parange: 7 }
        );
    }

    #[test]
    fn vttbr_combines_vmid_and_root() {
        let vmid = Vmid::new(0x2a).unwrap();
        assert_eq!(vttbr_el2(vmid, 0x4123_4000).unwrap(), 0x002a_0000_4123_4000);
        assert_eq!(
            vttbr_el2(vmid, 0x4123_4800).unwrap_err(),
            VtcrError::BadRootAddress {
                address: 0x4123_4800
            }
        );
        assert_eq!(
            vttbr_el2(vmid, 1 << 48).unwrap_err(),
            VtcrError::BadRootAddress { address: 1 << 48 }
        );
    }
}
