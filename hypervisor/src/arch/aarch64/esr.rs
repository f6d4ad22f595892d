//! The Exception Esr Register (`ESR_ELx`, Arm ARM DDI 0487 M.c D24.2.45): its fields, the exception
//! classes the hypervisor handles, and a decoding for reports. The one ESR decoder: the trap
//! path (`portable::trap`) and the fatal report both use it.

use core::fmt;

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

/// A raw ESR_ELx value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Esr(pub u64);

impl Esr {
    const EC_SHIFT: u32 = 26;
    const IL_BIT: u64 = 1 << 25;
    const ISS_MASK: u64 = (1 << 25) - 1;

    /// The exception class (bits \[31:26\]).
    pub const fn class(self) -> ExceptionClass {
        ExceptionClass::from_code(self.ec())
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

    /// Builds a syndrome from its fields, as the hypervisor does to inject an exception.
    pub const fn new(class: ExceptionClass, is_32bit_instruction: bool, iss: u32) -> Self {
        let il = if is_32bit_instruction { Self::IL_BIT } else { 0 };
        Self(((class.code() as u64) << Self::EC_SHIFT) | il | (iss as u64 & Self::ISS_MASK))
    }

    /// Exception Class, bits [31:26].
    pub const fn ec(self) -> u8 {
        ((self.0 >> 26) & 0x3f) as u8
    }

    /// Instruction Length: true for a 32-bit instruction, bit [25].
    pub const fn il(self) -> bool {
        self.0 & (1 << 25) != 0
    }

    /// Instruction Specific Esr, bits [24:0].
    pub const fn iss(self) -> u32 {
        (self.0 & 0x1ff_ffff) as u32
    }

    /// What the exception class means.
    pub const fn class_name(self) -> &'static str {
        match self.ec() {
            0x00 => "unknown reason",
            0x01 => "WFI or WFE",
            0x07 => "SVE, SIMD or floating-point access",
            0x0e => "illegal execution state",
            0x11 | 0x15 => "SVC",
            0x12 | 0x16 => "HVC",
            0x13 | 0x17 => "SMC",
            0x18 => "MSR, MRS or system instruction",
            0x20 => "instruction abort from a lower exception level",
            0x21 => "instruction abort without a change in exception level",
            0x22 => "PC alignment fault",
            0x24 => "data abort from a lower exception level",
            0x25 => "data abort without a change in exception level",
            0x26 => "SP alignment fault",
            0x2f => "SError interrupt",
            0x30 | 0x31 => "breakpoint",
            0x32 | 0x33 => "software step",
            0x34 | 0x35 => "watchpoint",
            0x3c => "BRK instruction",
            _ => "reserved or unexpected class",
        }
    }

    /// For an instruction or data abort, the fault status code (ISS[5:0]).
    pub const fn abort_status(self) -> Option<u8> {
        match self.ec() {
            0x20 | 0x21 | 0x24 | 0x25 => Some((self.iss() & 0x3f) as u8),
            _ => None,
        }
    }

    /// For a data abort: whether it was a write (ISS.WnR, bit 6).
    pub const fn is_write(self) -> bool {
        self.iss() & (1 << 6) != 0
    }
}

/// What a data or instruction fault status code (DFSC/IFSC) means.
pub const fn fault_status_name(status: u8) -> &'static str {
    match status {
        0x00..=0x03 => "address size fault",
        0x04..=0x07 => "translation fault",
        0x08..=0x0b => "access flag fault",
        0x0c..=0x0f => "permission fault",
        0x10 => "synchronous external abort",
        0x21 => "alignment fault",
        0x30 => "TLB conflict abort",
        _ => "other fault",
    }
}

impl fmt::Display for Esr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}: EC {:#04x} ({}), IL {}, ISS {:#x}", self.0, self.ec(), self.class_name(), self.il() as u8, self.iss())?;
        if let Some(status) = self.abort_status() {
            let level = status & 3;
            write!(f, "; {} level {level}", fault_status_name(status))?;
            if matches!(self.ec(), 0x24 | 0x25) {
                write!(f, ", {}", if self.is_write() { "write" } else { "read" })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn data_abort_at_el2_translation_fault() {
        // ldr x0, [x1] to an unmapped address, level 1 translation fault, read.
        let esr = Esr(0x9600_0005);
        assert_eq!(esr.ec(), 0x25);
        assert!(esr.il());
        assert_eq!(esr.abort_status(), Some(0x05));
        assert!(!esr.is_write());
        assert_eq!(
            esr.to_string(),
            "0x96000005: EC 0x25 (data abort without a change in exception level), IL 1, ISS 0x5; translation fault level 1, read"
        );
    }

    #[test]
    fn write_permission_fault_is_reported_as_write() {
        let esr = Esr(0x9600_004f);
        assert!(esr.is_write());
        assert!(esr.to_string().ends_with("permission fault level 3, write"));
    }

    #[test]
    fn non_abort_classes_have_no_fault_status() {
        let hvc = Esr(0x5a00_0000);
        assert_eq!(hvc.ec(), 0x16);
        assert_eq!(hvc.class_name(), "HVC");
        assert_eq!(hvc.abort_status(), None);
        assert_eq!(Esr(0).class_name(), "unknown reason");
        assert_eq!(Esr(0x3f << 26).class_name(), "reserved or unexpected class");
    }

    #[test]
    fn instruction_abort_from_guest() {
        let esr = Esr(0x8200_0010);
        assert_eq!(esr.ec(), 0x20);
        assert_eq!(esr.abort_status(), Some(0x10));
        assert!(esr.to_string().contains("synchronous external abort"));
    }

    #[test]
    fn splits_a_data_abort_syndrome() {
        let esr = Esr(0x9381_0006);
        assert_eq!(esr.class(), ExceptionClass::DataAbortLower);
        assert!(esr.is_32bit_instruction());
        assert_eq!(esr.instruction_length(), 4);
        assert_eq!(esr.iss(), 0x0181_0006);
    }

    #[test]
    fn a_16bit_instruction_has_length_two() {
        // IL = 0: a 16-bit T32 instruction (AArch32 guests only).
        let esr = Esr(0x9181_0006);
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
        let esr = Esr::new(ExceptionClass::DataAbortLower, true, 0x0181_0006);
        assert_eq!(esr, Esr(0x9381_0006));
        // The ISS is truncated to 25 bits rather than spilling into IL.
        let clipped = Esr::new(ExceptionClass::Hvc64, false, 0xffff_ffff);
        assert!(!clipped.is_32bit_instruction());
        assert_eq!(clipped.class(), ExceptionClass::Hvc64);
    }
}
