//! The common layout of an exception syndrome (`ESR_ELx`): exception class, length, ISS.
//!
//! Arm ARM D13 (`ESR_EL2`): EC is bits \[31:26\], IL is bit 25, ISS is bits \[24:0\]
//! (ISS2 in bits \[55:32\] is not used by anything decoded here).

/// The exception classes the hypervisor handles from a guest (`ESR_ELx.EC`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExceptionClass {
    /// EC 0x01: a trapped WFI or WFE (or WFIT/WFET).
    WaitForInterruptOrEvent,
    /// EC 0x12: HVC executed in AArch32 state.
    Hvc32,
    /// EC 0x13: SMC executed in AArch32 state.
    Smc32,
    /// EC 0x16: HVC executed in AArch64 state.
    Hvc64,
    /// EC 0x17: SMC executed in AArch64 state (trapped by `HCR_EL2.TSC`).
    Smc64,
    /// EC 0x18: a trapped MSR, MRS or system instruction in AArch64 state.
    SystemRegister,
    /// EC 0x20: an instruction abort from a lower exception level.
    InstructionAbortLower,
    /// EC 0x21: an instruction abort taken without a change of exception level.
    InstructionAbortCurrent,
    /// EC 0x24: a data abort from a lower exception level (stage-2 faults on guest accesses).
    DataAbortLower,
    /// EC 0x25: a data abort taken without a change of exception level.
    DataAbortCurrent,
    /// Any other class, with its raw value.
    Other(u8),
}

impl ExceptionClass {
    /// The raw 6-bit EC value.
    pub const fn code(self) -> u8 {
        match self {
            Self::WaitForInterruptOrEvent => 0x01,
            Self::Hvc32 => 0x12,
            Self::Smc32 => 0x13,
            Self::Hvc64 => 0x16,
            Self::Smc64 => 0x17,
            Self::SystemRegister => 0x18,
            Self::InstructionAbortLower => 0x20,
            Self::InstructionAbortCurrent => 0x21,
            Self::DataAbortLower => 0x24,
            Self::DataAbortCurrent => 0x25,
            Self::Other(code) => code,
        }
    }

    /// Classifies a raw 6-bit EC value.
    pub const fn from_code(code: u8) -> Self {
        match code & 0x3f {
            0x01 => Self::WaitForInterruptOrEvent,
            0x12 => Self::Hvc32,
            0x13 => Self::Smc32,
            0x16 => Self::Hvc64,
            0x17 => Self::Smc64,
            0x18 => Self::SystemRegister,
            0x20 => Self::InstructionAbortLower,
            0x21 => Self::InstructionAbortCurrent,
            0x24 => Self::DataAbortLower,
            0x25 => Self::DataAbortCurrent,
            other => Self::Other(other),
        }
    }
}

/// A raw `ESR_ELx` value with accessors for its common fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syndrome(pub u64);

impl Syndrome {
    const EC_SHIFT: u32 = 26;
    const IL_BIT: u64 = 1 << 25;
    const ISS_MASK: u64 = (1 << 25) - 1;

    /// The exception class (bits \[31:26\]).
    pub const fn class(self) -> ExceptionClass {
        ExceptionClass::from_code(((self.0 >> Self::EC_SHIFT) & 0x3f) as u8)
    }

    /// IL (bit 25): true when the trapped instruction is 32 bits long.
    pub const fn is_32bit_instruction(self) -> bool {
        self.0 & Self::IL_BIT != 0
    }

    /// The length in bytes of the trapped instruction, to step the guest's PC past it.
    pub const fn instruction_length(self) -> u64 {
        if self.is_32bit_instruction() {
            4
        } else {
            2
        }
    }

    /// The instruction specific syndrome (bits \[24:0\]).
    pub const fn iss(self) -> u32 {
        (self.0 & Self::ISS_MASK) as u32
    }

    /// Builds a syndrome from its fields, as the hypervisor does to inject an exception.
    pub const fn new(class: ExceptionClass, is_32bit_instruction: bool, iss: u32) -> Self {
        let il = if is_32bit_instruction {
            Self::IL_BIT
        } else {
            0
        };
        Self(((class.code() as u64) << Self::EC_SHIFT) | il | (iss as u64 & Self::ISS_MASK))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_data_abort_syndrome() {
        let esr = Syndrome(0x9381_0006);
        assert_eq!(esr.class(), ExceptionClass::DataAbortLower);
        assert!(esr.is_32bit_instruction());
        assert_eq!(esr.instruction_length(), 4);
        assert_eq!(esr.iss(), 0x0181_0006);
    }

    #[test]
    fn a_16bit_instruction_has_length_two() {
        // IL = 0: a 16-bit T32 instruction (AArch32 guests only).
        let esr = Syndrome(0x9181_0006);
        assert!(!esr.is_32bit_instruction());
        assert_eq!(esr.instruction_length(), 2);
    }

    #[test]
    fn classes_round_trip_through_their_codes() {
        for code in 0..64u8 {
            assert_eq!(ExceptionClass::from_code(code).code(), code);
        }
        assert_eq!(ExceptionClass::from_code(0x16), ExceptionClass::Hvc64);
        assert_eq!(ExceptionClass::from_code(0x0e), ExceptionClass::Other(0x0e));
    }

    #[test]
    fn new_rebuilds_the_same_value() {
        let esr = Syndrome::new(ExceptionClass::DataAbortLower, true, 0x0181_0006);
        assert_eq!(esr, Syndrome(0x9381_0006));
        // The ISS is truncated to 25 bits rather than spilling into IL.
        let clipped = Syndrome::new(ExceptionClass::Hvc64, false, 0xffff_ffff);
        assert!(!clipped.is_32bit_instruction());
        assert_eq!(clipped.class(), ExceptionClass::Hvc64);
    }
}
