//! Decoding of the exception syndrome (ESR_EL1) for the guests' fault reports
//! (Arm ARM D23.2.41 "ESR_EL1", exception classes and data fault status codes).

use core::fmt;

/// An ESR_EL1 value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Esr(pub u64);

impl Esr {
    /// Exception class, bits [31:26].
    pub fn ec(self) -> u8 {
        ((self.0 >> 26) & 0x3f) as u8
    }

    /// Whether this is a data abort (from a lower or the same exception level).
    pub fn is_data_abort(self) -> bool {
        matches!(self.ec(), 0x24 | 0x25)
    }

    /// Whether this is an instruction abort (a prefetch abort), from either exception level.
    pub fn is_instruction_abort(self) -> bool {
        matches!(self.ec(), 0x20 | 0x21)
    }

    /// Data or instruction fault status code, ISS bits [5:0], meaningful for aborts.
    pub fn fault_status(self) -> u8 {
        (self.0 & 0x3f) as u8
    }

    /// A short name for the exception class.
    pub fn class_name(self) -> &'static str {
        match self.ec() {
            0x00 => "unknown reason",
            0x01 => "WFI or WFE",
            0x0e => "illegal execution state",
            0x15 => "SVC",
            0x16 => "HVC",
            0x17 => "SMC",
            0x18 => "system register access",
            0x20 => "instruction abort from a lower EL",
            0x21 => "instruction abort",
            0x22 => "PC alignment fault",
            0x24 => "data abort from a lower EL",
            0x25 => "data abort",
            0x26 => "SP alignment fault",
            0x2f => "SError",
            0x3c => "BRK",
            _ => "other",
        }
    }
}

/// Names a data or instruction fault status code.
pub fn fault_status_name(status: u8) -> &'static str {
    match status {
        0x00..=0x03 => "address size fault",
        0x04..=0x07 => "translation fault",
        0x09..=0x0b => "access flag fault",
        0x0d..=0x0f => "permission fault",
        0x10 => "synchronous external abort",
        0x14..=0x17 => "external abort on table walk",
        0x21 => "alignment fault",
        0x30 => "TLB conflict",
        _ => "other fault",
    }
}

impl fmt::Display for Esr {
    /// `EC 0x25 data abort, DFSC 0x10 synchronous external abort`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EC {:#04x} {}", self.ec(), self.class_name())?;
        if matches!(self.ec(), 0x20 | 0x21 | 0x24 | 0x25) {
            let status = self.fault_status();
            let label = if self.is_data_abort() { "DFSC" } else { "IFSC" };
            write!(f, ", {label} {status:#04x} {}", fault_status_name(status))?;
            if status & 0x3c == 0x04 || status & 0x3c == 0x0c {
                write!(f, " level {}", status & 3)?;
            }
        }
        Ok(())
    }
}

/// Names an entry of the EL1 exception vector table by its index (offset / 0x80).
pub fn vector_name(index: u64) -> &'static str {
    const NAMES: [&str; 16] = [
        "synchronous, current EL with SP_EL0",
        "IRQ, current EL with SP_EL0",
        "FIQ, current EL with SP_EL0",
        "SError, current EL with SP_EL0",
        "synchronous, current EL",
        "IRQ, current EL",
        "FIQ, current EL",
        "SError, current EL",
        "synchronous, lower EL (AArch64)",
        "IRQ, lower EL (AArch64)",
        "FIQ, lower EL (AArch64)",
        "SError, lower EL (AArch64)",
        "synchronous, lower EL (AArch32)",
        "IRQ, lower EL (AArch32)",
        "FIQ, lower EL (AArch32)",
        "SError, lower EL (AArch32)",
    ];
    usize::try_from(index)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("unknown vector")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn decodes_data_aborts() {
        let external = Esr(0x9600_0010);
        assert_eq!(external.ec(), 0x25);
        assert!(external.is_data_abort());
        assert_eq!(
            external.to_string(),
            "EC 0x25 data abort, DFSC 0x10 synchronous external abort"
        );
        let translation = Esr((0x24 << 26) | (1 << 25) | 0x06);
        assert_eq!(
            translation.to_string(),
            "EC 0x24 data abort from a lower EL, DFSC 0x06 translation fault level 2"
        );
        let svc = Esr((0x15 << 26) | 1);
        assert!(!svc.is_data_abort());
        assert_eq!(svc.to_string(), "EC 0x15 SVC");
        assert_eq!(
            Esr(0x8600_000f).to_string(),
            "EC 0x21 instruction abort, IFSC 0x0f permission fault level 3"
        );
    }
}
