//! Trapped HVC, SMC and WFI/WFE instructions: their ISS and how far to step the guest's PC.
//!
//! Arm ARM D13 (`ESR_EL2`): HVC and SMC from AArch64 carry imm16 in ISS \[15:0\]; a trapped
//! WFx carries TI in ISS \[1:0\] (00 WFI, 01 WFE, 10 WFIT, 11 WFET). Arm ARM D1.10
//! (preferred return address): after an HVC, `ELR_EL2` already points past the instruction;
//! an SMC trapped by `HCR_EL2.TSC` and a trapped WFx return to the instruction itself, so
//! the hypervisor steps over it.

use super::syndrome::{ExceptionClass, Esr};
use core::fmt;

/// Why a syndrome is not the trapped instruction the caller expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The syndrome is not an HVC or SMC from AArch64.
    NotACall {
        /// The class it carries instead.
        class: ExceptionClass,
    },
    /// The syndrome is not a trapped WFI or WFE.
    NotAWait {
        /// The class it carries instead.
        class: ExceptionClass,
    },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotACall { class } => write!(
                f,
                "exception class {:#04x} is not an AArch64 HVC or SMC",
                class.code()
            ),
            Self::NotAWait { class } => {
                write!(
                    f,
                    "exception class {:#04x} is not a trapped WFI/WFE",
                    class.code()
                )
            }
        }
    }
}

/// Which instruction a guest used to call the hypervisor or firmware (`hvc #imm`, or
/// `smc #imm` trapped to EL2): the SMC Calling Convention's conduit, as boards name it.
pub use boards::Conduit;

/// A trapped HVC or SMC from AArch64: the conduit and its 16-bit immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    /// The instruction used.
    pub conduit: Conduit,
    /// The immediate (SMCCC calls use 0; Xen hypercalls use 0xEA1).
    pub immediate: u16,
    /// How many bytes to add to `ELR_EL2` before returning to the guest.
    pub pc_advance: u64,
}

impl Call {
    /// Decodes an HVC or SMC syndrome from AArch64.
    pub fn decode(esr: Esr) -> Result<Self, CallError> {
        let conduit = match esr.class() {
            ExceptionClass::Hvc64 => Conduit::Hvc,
            ExceptionClass::Smc64 => Conduit::Smc,
            class => return Err(CallError::NotACall { class }),
        };
        let pc_advance = match conduit {
            Conduit::Hvc => 0,
            Conduit::Smc => esr.instruction_length(),
        };
        Ok(Self {
            conduit,
            immediate: (esr.iss() & 0xffff) as u16,
            pc_advance,
        })
    }
}

/// The kind of a trapped wait instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitKind {
    /// WFI: wait for an interrupt.
    Interrupt,
    /// WFE: wait for an event.
    Event,
    /// WFIT: WFI with a timeout in a register (FEAT_WFxT).
    InterruptWithTimeout,
    /// WFET: WFE with a timeout in a register (FEAT_WFxT).
    EventWithTimeout,
}

impl WaitKind {
    /// Decodes a trapped WFx syndrome (EC 0x01).
    pub fn decode(esr: Esr) -> Result<Self, CallError> {
        match esr.class() {
            ExceptionClass::WaitForInterruptOrEvent => Ok(match esr.iss() & 0b11 {
                0b00 => Self::Interrupt,
                0b01 => Self::Event,
                0b10 => Self::InterruptWithTimeout,
                _ => Self::EventWithTimeout,
            }),
            class => Err(CallError::NotAWait { class }),
        }
    }

    /// True for WFI and WFIT, which wait for an interrupt rather than an event.
    pub const fn waits_for_interrupt(self) -> bool {
        matches!(self, Self::Interrupt | Self::InterruptWithTimeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hvc_0xea1_is_a_xen_hypercall_with_no_pc_step() {
        // hvc #0xea1: EC 0x16, IL, imm16 0xea1.
        let call = Call::decode(Esr(0x5a00_0ea1)).unwrap();
        assert_eq!(
            call,
            Call {
                conduit: Conduit::Hvc,
                immediate: 0xea1,
                pc_advance: 0
            }
        );
    }

    #[test]
    fn smc_0_steps_over_the_instruction() {
        // smc #0: EC 0x17, IL.
        let call = Call::decode(Esr(0x5e00_0000)).unwrap();
        assert_eq!(
            call,
            Call {
                conduit: Conduit::Smc,
                immediate: 0,
                pc_advance: 4
            }
        );
    }

    #[test]
    fn aarch32_calls_and_other_classes_are_rejected() {
        // hvc from AArch32 (EC 0x12).
        assert_eq!(
            Call::decode(Esr(0x4a00_0000)),
            Err(CallError::NotACall {
                class: ExceptionClass::Hvc32
            })
        );
        assert_eq!(
            WaitKind::decode(Esr(0x9381_0006)),
            Err(CallError::NotAWait {
                class: ExceptionClass::DataAbortLower
            })
        );
    }

    #[test]
    fn wait_kinds_follow_ti() {
        // EC 0x01 with IL and CV/COND = 0b1_1110 (unconditional), TI = 0..3.
        assert_eq!(
            WaitKind::decode(Esr(0x05e0_0000)),
            Ok(WaitKind::Interrupt)
        );
        assert_eq!(WaitKind::decode(Esr(0x05e0_0001)), Ok(WaitKind::Event));
        assert_eq!(
            WaitKind::decode(Esr(0x05e0_0002)),
            Ok(WaitKind::InterruptWithTimeout)
        );
        assert_eq!(
            WaitKind::decode(Esr(0x05e0_0003)),
            Ok(WaitKind::EventWithTimeout)
        );
        assert!(WaitKind::Interrupt.waits_for_interrupt());
        assert!(!WaitKind::Event.waits_for_interrupt());
    }
}
