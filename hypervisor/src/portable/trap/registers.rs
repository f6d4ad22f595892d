//! The guest's general-purpose registers as trap handlers see them, with XZR semantics.
//!
//! In the load/store encodings that report a syndrome, register number 31 is the zero
//! register (XZR/WZR), never SP (Arm ARM C1.2.5 and the `ESR_ELx.SRT` description in D13):
//! it reads as zero and writes to it are discarded.

/// A general-purpose register number as a trapped load or store names it (0 to 31).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Register(u8);

impl Register {
    /// Register 31, which loads and stores use as the zero register.
    pub const ZERO: Self = Self(31);

    /// Wraps a register number; only the low five bits are kept, as in the encodings.
    pub const fn new(number: u8) -> Self {
        Self(number & 0x1f)
    }

    /// The register number (0 to 31).
    pub const fn number(self) -> u8 {
        self.0
    }

    /// True for register 31, the zero register.
    pub const fn is_zero_register(self) -> bool {
        self.0 == 31
    }
}

/// Access to the saved `x0` to `x30` of a trapped vCPU.
///
/// A vCPU's saved `GuestRegisters` implement it; [`RegisterFile`] is a plain
/// implementation. The provided methods give register 31 its zero-register meaning.
pub trait GeneralRegisters {
    /// Reads `x<index>` for `index` in 0..31.
    fn x(&self, index: usize) -> u64;

    /// Writes `x<index>` for `index` in 0..31.
    fn set_x(&mut self, index: usize, value: u64);

    /// Reads a register as a load or store operand: register 31 reads as zero.
    fn read(&self, register: Register) -> u64 {
        if register.is_zero_register() {
            0
        } else {
            self.x(usize::from(register.number()))
        }
    }

    /// Writes a register as a load destination: writes to register 31 are discarded.
    fn write(&mut self, register: Register, value: u64) {
        if !register.is_zero_register() {
            self.set_x(usize::from(register.number()), value);
        }
    }
}

/// The 31 general-purpose registers `x0` to `x30`, laid out as an array.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct RegisterFile {
    /// `x0` to `x30`.
    pub x: [u64; 31],
}

impl GeneralRegisters for RegisterFile {
    fn x(&self, index: usize) -> u64 {
        self.x.get(index).copied().unwrap_or(0)
    }

    fn set_x(&mut self, index: usize, value: u64) {
        if let Some(slot) = self.x.get_mut(index) {
            *slot = value;
        }
    }
}

impl GeneralRegisters for crate::arch::aarch64::context::GuestRegisters {
    fn x(&self, index: usize) -> u64 {
        self.x.get(index).copied().unwrap_or(0)
    }

    fn set_x(&mut self, index: usize, value: u64) {
        if let Some(slot) = self.x.get_mut(index) {
            *slot = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_31_reads_as_zero_and_ignores_writes() {
        let mut registers = RegisterFile { x: [0xaaaa; 31] };
        assert_eq!(registers.read(Register::ZERO), 0);
        registers.write(Register::ZERO, 0x1234);
        assert_eq!(registers, RegisterFile { x: [0xaaaa; 31] });
    }

    #[test]
    fn ordinary_registers_read_and_write() {
        let mut registers = RegisterFile::default();
        registers.write(Register::new(30), 0xdead_beef);
        assert_eq!(registers.x[30], 0xdead_beef);
        assert_eq!(registers.read(Register::new(30)), 0xdead_beef);
        assert_eq!(registers.read(Register::new(0)), 0);
    }

    #[test]
    fn register_numbers_keep_five_bits() {
        assert_eq!(Register::new(0x21).number(), 1);
        assert!(Register::new(0xff).is_zero_register());
    }
}
