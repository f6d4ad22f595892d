//! The register values that deliver a synchronous external abort to a guest's EL1, for a
//! data access or an instruction fetch (a prefetch abort) the hypervisor refused.
//!
//! The hypervisor performs by hand the exception entry the PE would perform (Arm ARM D1.10,
//! "Exception entry"): save PSTATE in `SPSR_EL1` and the PC in `ELR_EL1`, report the
//! syndrome in `ESR_EL1` (D13: a data abort is EC 0x24 from EL0 or 0x25 from EL1, an
//! instruction abort EC 0x20 or 0x21; ISS DFSC/IFSC 0b010000 "synchronous external abort,
//! not on translation table walk") and the address in
//! `FAR_EL1`, then resume at the synchronous vector of `VBAR_EL1` (D1.10.2: +0x000 from EL1
//! on SP_EL0, +0x200 from EL1 on SP_EL1, +0x400 from AArch64 EL0, +0x600 from AArch32 EL0)
//! in EL1h with D, A, I and F masked.

use super::syndrome::{ExceptionClass, Esr};
use core::fmt;

/// Why an abort cannot be injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectError {
    /// The guest's PSTATE names a mode EL1 cannot take an AArch64 exception from:
    /// EL2 or EL3, or an AArch32 mode other than User.
    UnsupportedMode {
        /// The raw PSTATE (`SPSR_EL2` at the trap).
        pstate: u64,
    },
}

impl fmt::Display for InjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedMode { pstate } => write!(
                f,
                "cannot inject an abort into a guest in mode {:#04x} (PSTATE {pstate:#x})",
                pstate & 0x1f
            ),
        }
    }
}

/// The guest state at the trap, as the aarch64 layer read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestState {
    /// `SPSR_EL2`: the guest's PSTATE.
    pub pstate: u64,
    /// `ELR_EL2`: the address of the faulting instruction.
    pub pc: u64,
    /// `FAR_EL2`: the virtual address the guest accessed.
    pub far: u64,
    /// `VBAR_EL1`: the guest's vector base.
    pub vbar_el1: u64,
    /// `SCTLR_EL1`: read for SPAN and DSSBS.
    pub sctlr_el1: u64,
}

/// Which optional PSTATE bits exception entry sets on this PE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntryFeatures {
    /// FEAT_PAN: PSTATE.PAN is set on entry when `SCTLR_EL1.SPAN` is 0.
    pub pan: bool,
    /// FEAT_SSBS: PSTATE.SSBS takes the value of `SCTLR_EL1.DSSBS` on entry.
    pub ssbs: bool,
}

/// The registers to write so that the guest takes the abort when it resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Injection {
    /// The new `ESR_EL1`.
    pub esr_el1: u64,
    /// The new `FAR_EL1`.
    pub far_el1: u64,
    /// The new `ELR_EL1`: the faulting instruction.
    pub elr_el1: u64,
    /// The new `SPSR_EL1`: the guest's PSTATE at the fault.
    pub spsr_el1: u64,
    /// The new `ELR_EL2`: the guest's synchronous exception vector.
    pub pc: u64,
    /// The new `SPSR_EL2`: EL1h with D, A, I and F masked.
    pub pstate: u64,
}

/// PSTATE.M for EL1 using SP_EL1 (EL1h).
pub const MODE_EL1H: u64 = 0b0_0101;
/// PSTATE.M for EL1 using SP_EL0 (EL1t).
pub const MODE_EL1T: u64 = 0b0_0100;
/// PSTATE.M for AArch64 EL0.
pub const MODE_EL0T: u64 = 0b0_0000;
/// PSTATE.M for AArch32 User mode.
pub const MODE_AARCH32_USER: u64 = 0b1_0000;
/// PSTATE.{D, A, I, F} (bits 9 to 6).
pub const DAIF_MASK: u64 = 0b1111 << 6;
const PAN_BIT: u64 = 1 << 22;
const SSBS_BIT: u64 = 1 << 12;
const SCTLR_SPAN: u64 = 1 << 23;
const SCTLR_DSSBS: u64 = 1 << 44;
/// DFSC for a synchronous external abort, not on a translation table walk.
pub const DFSC_EXTERNAL_ABORT: u32 = 0b01_0000;
const ISS_WNR: u32 = 1 << 6;

/// Computes the injection of a synchronous external abort on the access that trapped:
/// a data abort, or an instruction abort when `trapped` (the `ESR_EL2` of the fault) is one.
/// A data abort carries the trap's IL and WnR into `ESR_EL1`; an instruction abort has IL set
/// and no WnR.
pub fn external_abort(
    guest: GuestState,
    trapped: Esr,
    features: EntryFeatures,
) -> Result<Injection, InjectError> {
    let fetch = matches!(trapped.class(), ExceptionClass::InstructionAbortLower | ExceptionClass::InstructionAbortCurrent);
    let (current, lower) = match fetch {
        true => (ExceptionClass::InstructionAbortCurrent, ExceptionClass::InstructionAbortLower),
        false => (ExceptionClass::DataAbortCurrent, ExceptionClass::DataAbortLower),
    };
    let mode = guest.pstate & 0x1f;
    let (class, vector) = match mode {
        MODE_EL1T => (current, 0x000),
        MODE_EL1H => (current, 0x200),
        MODE_EL0T => (lower, 0x400),
        MODE_AARCH32_USER => (lower, 0x600),
        _ => {
            return Err(InjectError::UnsupportedMode {
                pstate: guest.pstate,
            })
        }
    };
    let esr = match fetch {
        true => Esr::new(class, true, DFSC_EXTERNAL_ABORT),
        false => Esr::new(class, trapped.is_32bit_instruction(), DFSC_EXTERNAL_ABORT | (trapped.iss() & ISS_WNR)),
    };

    let mut pstate = MODE_EL1H | DAIF_MASK;
    if features.pan {
        let inherited = guest.pstate & PAN_BIT;
        pstate |= if guest.sctlr_el1 & SCTLR_SPAN == 0 {
            PAN_BIT
        } else {
            inherited
        };
    }
    if features.ssbs && guest.sctlr_el1 & SCTLR_DSSBS != 0 {
        pstate |= SSBS_BIT;
    }
    Ok(Injection {
        esr_el1: esr.0,
        far_el1: guest.far,
        elr_el1: guest.pc,
        spsr_el1: guest.pstate,
        // The vector's offset is below 0x800, the bits VBAR_EL1's alignment leaves clear.
        pc: (guest.vbar_el1 & !0x7ff) | vector,
        pstate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VBAR: u64 = 0xffff_8000_1001_0800;

    fn guest(pstate: u64) -> GuestState {
        GuestState {
            pstate,
            pc: 0xffff_8000_1000_1234,
            far: 0xffff_0000_0900_0000,
            vbar_el1: VBAR,
            sctlr_el1: 0,
        }
    }

    // ldr w1, [x0] and str w1, [x0], both translation faults at level 2.
    const LOAD: Esr = Esr(0x9381_0006);
    const STORE: Esr = Esr(0x9381_0046);

    #[test]
    fn abort_from_el1h_goes_to_the_current_el_spx_vector() {
        // EL1h with interrupts unmasked and the Z flag set.
        let pstate = 0x4000_0005;
        let injection = external_abort(guest(pstate), LOAD, EntryFeatures::default()).unwrap();
        assert_eq!(
            injection,
            Injection {
                // EC 0x25, IL, DFSC 0x10.
                esr_el1: 0x9600_0010,
                far_el1: 0xffff_0000_0900_0000,
                elr_el1: 0xffff_8000_1000_1234,
                spsr_el1: pstate,
                pc: VBAR + 0x200,
                pstate: 0x3c5,
            }
        );
    }

    #[test]
    fn abort_from_el1t_uses_offset_zero() {
        let injection = external_abort(guest(MODE_EL1T), LOAD, EntryFeatures::default()).unwrap();
        assert_eq!(injection.pc, VBAR);
        assert_eq!(injection.esr_el1, 0x9600_0010);
    }

    #[test]
    fn abort_from_el0_is_from_a_lower_level_and_keeps_wnr() {
        let injection = external_abort(guest(MODE_EL0T), STORE, EntryFeatures::default()).unwrap();
        // EC 0x24, IL, WnR, DFSC 0x10.
        assert_eq!(injection.esr_el1, 0x9200_0050);
        assert_eq!(injection.pc, VBAR + 0x400);
        assert_eq!(injection.pstate, 0x3c5);
    }

    #[test]
    fn abort_from_aarch32_user_uses_the_aarch32_lower_vector() {
        let injection =
            external_abort(guest(MODE_AARCH32_USER), LOAD, EntryFeatures::default()).unwrap();
        assert_eq!(injection.pc, VBAR + 0x600);
    }

    #[test]
    fn an_instruction_fetch_gets_a_prefetch_abort() {
        // An instruction abort from EL1 at level 3, translation fault (EC 0x20, IL, IFSC 7).
        let fetch = Esr(0x8200_0007);
        let mut state = guest(MODE_EL1H);
        state.far = state.pc;
        let injection = external_abort(state, fetch, EntryFeatures::default()).unwrap();
        // EC 0x21 (instruction abort, same EL), IL, IFSC 0x10.
        assert_eq!(injection.esr_el1, 0x8600_0010);
        assert_eq!(injection.far_el1, state.pc);
        assert_eq!(injection.elr_el1, state.pc);
        assert_eq!(injection.pc, VBAR + 0x200);
        let from_el0 = external_abort(guest(MODE_EL0T), fetch, EntryFeatures::default()).unwrap();
        assert_eq!(from_el0.esr_el1, 0x8200_0010, "EC 0x20 from EL0");
        assert_eq!(from_el0.pc, VBAR + 0x400);
    }

    #[test]
    fn el2_and_aarch32_kernel_modes_are_refused() {
        for pstate in [0b0_1001, 0b1_0011] {
            assert_eq!(
                external_abort(guest(pstate), LOAD, EntryFeatures::default()),
                Err(InjectError::UnsupportedMode { pstate })
            );
        }
    }

    #[test]
    fn pan_is_set_when_span_is_clear() {
        let features = EntryFeatures {
            pan: true,
            ssbs: false,
        };
        let injection = external_abort(guest(MODE_EL1H), LOAD, features).unwrap();
        assert_eq!(injection.pstate, 0x3c5 | PAN_BIT);
        // SPAN = 1: PAN keeps the value it had.
        let mut with_span = guest(MODE_EL1H);
        with_span.sctlr_el1 = SCTLR_SPAN;
        assert_eq!(
            external_abort(with_span, LOAD, features).unwrap().pstate,
            0x3c5
        );
    }

    #[test]
    fn ssbs_follows_dssbs() {
        let mut state = guest(MODE_EL1H);
        state.sctlr_el1 = SCTLR_DSSBS;
        let features = EntryFeatures {
            pan: false,
            ssbs: true,
        };
        assert_eq!(
            external_abort(state, LOAD, features).unwrap().pstate,
            0x3c5 | SSBS_BIT
        );
    }
}
