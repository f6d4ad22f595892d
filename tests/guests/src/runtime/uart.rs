//! The console: a PL011 or SBSA UART transmitter, and whole lines prefixed with the guest name.

use core::fmt::{self, Write};
use core::hint::spin_loop;
use core::ptr::{addr_of, addr_of_mut};
use core::sync::atomic::{AtomicBool, Ordering};

/// FR.TXFF: the transmit FIFO is full (PL011 TRM, section 3.3.3; SBSA UART, Arm DEN0094).
const FR_TXFF: u32 = 1 << 5;
/// How long a line waits for another CPU's line before writing anyway.
const LOCK_SPINS: u32 = 10_000_000;

/// The registers this driver touches. The SBSA UART subset has no baud or control setup.
#[repr(C)]
struct Registers {
    /// UARTDR, offset 0x00.
    dr: u32,
    _reserved: [u32; 5],
    /// UARTFR, offset 0x18.
    fr: u32,
}

const _: () = assert!(core::mem::offset_of!(Registers, fr) == 0x18);

/// A UART transmitter.
pub struct Pl011 {
    registers: *mut Registers,
}

// SAFETY: the registers are MMIO; every access is a single volatile load or store, and
// interleaved bytes from two CPUs are only a cosmetic problem, which `Console` avoids.
unsafe impl Send for Pl011 {}
// SAFETY: as for `Send`; `&Pl011` only allows the same volatile accesses.
unsafe impl Sync for Pl011 {}

impl Pl011 {
    /// A driver for the UART at `base`.
    ///
    /// # Safety
    /// `base` must be the physical address of a PL011 or SBSA UART, identity-mapped as Device
    /// memory, and nothing else in the guest may use that address range.
    pub unsafe fn new(base: usize) -> Self {
        Self {
            registers: base as *mut Registers,
        }
    }

    /// The UART's base address.
    pub fn base(&self) -> usize {
        self.registers as usize
    }

    /// Sends one byte, waiting while the FIFO is full.
    pub fn write_byte(&self, byte: u8) {
        // SAFETY: `new`'s contract: `registers` points at the UART's registers.
        while unsafe { addr_of!((*self.registers).fr).read_volatile() } & FR_TXFF != 0 {
            spin_loop();
        }
        // SAFETY: as above; writing DR queues one byte.
        unsafe { addr_of_mut!((*self.registers).dr).write_volatile(u32::from(byte)) };
    }
}

impl Write for &Pl011 {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        text.bytes().for_each(|byte| self.write_byte(byte));
        Ok(())
    }
}

/// Writes whole lines `NAME: text`, one CPU at a time.
pub struct Console {
    uart: Pl011,
    name: &'static str,
    busy: AtomicBool,
}

impl Console {
    /// A console named `name` on `uart`.
    pub fn new(uart: Pl011, name: &'static str) -> Self {
        Self {
            uart,
            name,
            busy: AtomicBool::new(false),
        }
    }

    /// The UART the console writes to.
    pub fn uart(&self) -> &Pl011 {
        &self.uart
    }

    /// The name that starts every line.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Writes `NAME: ` then `args` then a newline. If another CPU holds the console for very
    /// long (it faulted while printing), the line is written anyway rather than never.
    pub fn line(&self, args: fmt::Arguments<'_>) {
        let mut spins = 0;
        while self
            .busy
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
            && spins < LOCK_SPINS
        {
            spins += 1;
            spin_loop();
        }
        let mut out = &self.uart;
        // Writing to the UART cannot fail; a formatting error only cuts the line short.
        let _ = writeln!(out, "{}: {}", self.name, args);
        self.busy.store(false, Ordering::Release);
    }
}
