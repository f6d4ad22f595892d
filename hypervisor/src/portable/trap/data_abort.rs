//! Data aborts from a guest (EC 0x24): the ISS fields and the MMIO access they describe.
//!
//! Arm ARM D13, `ESR_EL2` "ISS encoding for an exception from a Data Abort": ISV (bit 24),
//! SAS (\[23:22\]), SSE (21), SRT (\[20:16\]), SF (15), AR (14), FnV (10), EA (9), CM (8),
//! S1PTW (7), WnR (6), DFSC (\[5:0\]). The faulting IPA comes from `HPFAR_EL2.FIPA`
//! (bits \[43:4\], IPA bits \[51:12\]) and the page offset from `FAR_EL2` \[11:0\].

use super::registers::{GeneralRegisters, Register};
use super::syndrome::{ExceptionClass, Esr};
use core::fmt;

/// The faulting intermediate physical address of a stage-2 abort.
///
/// `HPFAR_EL2.FIPA` gives the page (IPA bits \[51:12\] in bits \[43:4\]) and `FAR_EL2`
/// the byte within it.
pub const fn fault_ipa(far_el2: u64, hpfar_el2: u64) -> u64 {
    const FIPA_MASK: u64 = 0x0000_0fff_ffff_fff0;
    ((hpfar_el2 & FIPA_MASK) << 8) | (far_el2 & 0xfff)
}

/// Why a data abort cannot be emulated as a single MMIO access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataAbortError {
    /// The syndrome is not a data abort at all.
    NotADataAbort {
        /// The class the syndrome carries instead.
        class: ExceptionClass,
    },
    /// ISV = 0: the instruction (load/store pair, exclusive, SIMD, cache maintenance...)
    /// gives no syndrome, so the hypervisor cannot tell the register or size.
    NoSyndrome {
        /// The faulting IPA.
        ipa: u64,
        /// The raw `ESR_EL2`.
        esr: u64,
    },
    /// The fault happened on the guest's own stage-1 table walk, not on its access.
    StageOneTableWalk {
        /// The IPA of the table entry.
        ipa: u64,
    },
    /// FnV = 1: `FAR_EL2` is not valid, so the byte address is unknown.
    FarNotValid {
        /// The raw `ESR_EL2`.
        esr: u64,
    },
}

impl fmt::Display for DataAbortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotADataAbort { class } => {
                write!(
                    f,
                    "exception class {:#04x} is not a data abort",
                    class.code()
                )
            }
            Self::NoSyndrome { ipa, esr } => write!(
                f,
                "instruction gives no syndrome for its access to IPA {ipa:#x} (ESR {esr:#010x}); \
                 only single-register loads and stores can reach emulated devices"
            ),
            Self::StageOneTableWalk { ipa } => {
                write!(
                    f,
                    "guest stage-1 table walk touched IPA {ipa:#x}, which has no memory"
                )
            }
            Self::FarNotValid { esr } => {
                write!(
                    f,
                    "data abort with no valid fault address (ESR {esr:#010x})"
                )
            }
        }
    }
}

/// The data fault status code (DFSC), grouped by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultStatus {
    /// 0b0001LL: translation fault at level LL (no mapping: an emulated device or a hole).
    Translation {
        /// The table level.
        level: u8,
    },
    /// 0b0010LL: access flag fault at level LL.
    AccessFlag {
        /// The table level.
        level: u8,
    },
    /// 0b0011LL: permission fault at level LL.
    Permission {
        /// The table level.
        level: u8,
    },
    /// 0b010000: synchronous external abort, not on a table walk.
    ExternalAbort,
    /// 0b100001: alignment fault.
    Alignment,
    /// Any other code, raw.
    Other(u8),
}

impl FaultStatus {
    /// Classifies a 6-bit DFSC.
    pub const fn from_code(code: u8) -> Self {
        let code = code & 0x3f;
        let level = code & 0b11;
        match code >> 2 {
            0b0001 => Self::Translation { level },
            0b0010 => Self::AccessFlag { level },
            0b0011 => Self::Permission { level },
            _ => match code {
                0x10 => Self::ExternalAbort,
                0x21 => Self::Alignment,
                other => Self::Other(other),
            },
        }
    }
}

/// The decoded ISS of a data abort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataAbort {
    /// The raw syndrome it came from.
    pub esr: Esr,
}

impl DataAbort {
    /// Checks that `esr` is a data abort (from a lower or the current level).
    pub fn new(esr: Esr) -> Result<Self, DataAbortError> {
        match esr.class() {
            ExceptionClass::DataAbortLower | ExceptionClass::DataAbortCurrent => Ok(Self { esr }),
            class => Err(DataAbortError::NotADataAbort { class }),
        }
    }

    const fn bit(self, bit: u32) -> bool {
        (self.esr.iss() >> bit) & 1 != 0
    }

    /// ISV: the access-description fields (SAS, SSE, SRT, SF, AR) are valid.
    pub const fn syndrome_valid(self) -> bool {
        self.bit(24)
    }

    /// SAS: the access size in bytes (1, 2, 4 or 8).
    pub const fn access_size(self) -> u8 {
        1 << ((self.esr.iss() >> 22) & 0b11)
    }

    /// SSE: a load whose value must be sign-extended.
    pub const fn sign_extend(self) -> bool {
        self.bit(21)
    }

    /// SRT: the transfer register (31 is the zero register).
    pub const fn register(self) -> Register {
        Register::new(((self.esr.iss() >> 16) & 0x1f) as u8)
    }

    /// SF: the register is 64 bits wide (X) rather than 32 (W).
    pub const fn sixty_four_bit_register(self) -> bool {
        self.bit(15)
    }

    /// AR: the access has acquire or release semantics.
    pub const fn acquire_release(self) -> bool {
        self.bit(14)
    }

    /// FnV: `FAR_EL2` is not valid.
    pub const fn far_not_valid(self) -> bool {
        self.bit(10)
    }

    /// CM: the fault came from a cache maintenance or address translation instruction.
    pub const fn cache_maintenance(self) -> bool {
        self.bit(8)
    }

    /// S1PTW: the fault happened on a stage-2 translation of a stage-1 table walk.
    pub const fn stage_one_table_walk(self) -> bool {
        self.bit(7)
    }

    /// WnR: the access was a write.
    pub const fn is_write(self) -> bool {
        self.bit(6)
    }

    /// DFSC: the fault status code.
    pub const fn fault_status(self) -> FaultStatus {
        FaultStatus::from_code((self.esr.iss() & 0x3f) as u8)
    }

    /// Describes the access as one MMIO load or store, or says why it cannot be one.
    pub fn mmio_access(self, far_el2: u64, hpfar_el2: u64) -> Result<MmioAccess, DataAbortError> {
        let ipa = fault_ipa(far_el2, hpfar_el2);
        if self.stage_one_table_walk() {
            return Err(DataAbortError::StageOneTableWalk { ipa });
        }
        if !self.syndrome_valid() {
            return Err(DataAbortError::NoSyndrome {
                ipa,
                esr: self.esr.0,
            });
        }
        if self.far_not_valid() {
            return Err(DataAbortError::FarNotValid { esr: self.esr.0 });
        }
        Ok(MmioAccess {
            ipa,
            size: self.access_size(),
            write: self.is_write(),
            reg: self.register(),
            sign_extend: self.sign_extend() && !self.is_write(),
            sf: self.sixty_four_bit_register(),
        })
    }
}

/// One emulated load or store, as the guest's instruction performed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioAccess {
    /// The intermediate physical address accessed.
    pub ipa: u64,
    /// The access size in bytes: 1, 2, 4 or 8.
    pub size: u8,
    /// True for a store.
    pub write: bool,
    /// The transfer register (31 is the zero register).
    pub reg: Register,
    /// A load that sign-extends its value into the register.
    pub sign_extend: bool,
    /// The register is 64 bits wide.
    pub sf: bool,
}

impl MmioAccess {
    /// The mask of the bits an access of this size carries.
    pub const fn size_mask(self) -> u64 {
        match self.size {
            1 => 0xff,
            2 => 0xffff,
            4 => 0xffff_ffff,
            _ => u64::MAX,
        }
    }

    /// The value a store writes: the low `size` bytes of its register (zero for XZR).
    pub fn store_value(self, registers: &impl GeneralRegisters) -> u64 {
        registers.read(self.reg) & self.size_mask()
    }

    /// The value a load leaves in its register, from the device's `size`-byte value.
    ///
    /// The value is sign-extended to 64 bits (SF = 1) or 32 bits (SF = 0) when SSE is set,
    /// zero-extended otherwise; a W destination always has its upper half cleared.
    pub const fn loaded_value(self, device_value: u64) -> u64 {
        let value = device_value & self.size_mask();
        // The size is 1, 2, 4 or 8 bytes (SAS): at most 64 bits.
        let bits = (self.size as u32).wrapping_mul(8);
        let extended = if self.sign_extend && bits < 64 {
            // LDRSB, LDRSH and LDRSW are rare on device registers: the plain load, which
            // the trap fast path answers, skips this with one test.
            core::hint::cold_path();
            let shift = 64u32.wrapping_sub(bits);
            (((value << shift) as i64) >> shift) as u64
        } else {
            value
        };
        if self.sf {
            extended
        } else {
            extended & 0xffff_ffff
        }
    }

    /// Completes a load: writes the extended device value to the register (not to XZR).
    pub fn complete_load(self, registers: &mut impl GeneralRegisters, device_value: u64) {
        registers.write(self.reg, self.loaded_value(device_value));
    }
}

#[cfg(test)]
#[path = "data_abort_tests.rs"]
mod tests;
