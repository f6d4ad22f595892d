//! Decoding of the Exception Syndrome Register (ESR_EL2) for reports (Arm ARM D24.2.40).

use core::fmt;

/// A raw ESR_ELx value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Esr(pub u64);

impl Esr {
    /// Exception Class, bits [31:26].
    pub const fn ec(self) -> u8 {
        ((self.0 >> 26) & 0x3f) as u8
    }

    /// Instruction Length: true for a 32-bit instruction, bit [25].
    pub const fn il(self) -> bool {
        self.0 & (1 << 25) != 0
    }

    /// Instruction Specific Syndrome, bits [24:0].
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
}
