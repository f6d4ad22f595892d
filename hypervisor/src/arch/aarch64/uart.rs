//! The physical console: the board's PL011, through `arm-pl011-uart`.

use arm_pl011_uart::{Interrupts, PL011Registers, Uart};
use core::ptr::NonNull;
use safe_mmio::UniqueMmioPointer;
use spin::{Mutex, Once};

/// The board's PL011 as the hypervisor console. Firmware (or QEMU) has configured it.
pub struct Pl011Console {
    uart: Mutex<Uart<'static>>,
    /// The registers' address, for the emergency path (`write_bytes_emergency`).
    base: u64,
}

/// UARTDR and UARTFR (PL011 TRM 3.3.1, 3.3.3) and FR.TXFF, for the emergency path.
const DR: u64 = 0x00;
const FR: u64 = 0x18;
const FR_TXFF: u32 = 1 << 5;

impl Pl011Console {
    /// # Safety
    /// `base` must be the physical address of a PL011, mapped as Device memory at EL2 for the
    /// rest of the hypervisor's life, and no other code may drive that UART.
    pub unsafe fn new(base: u64) -> Self {
        let regs = NonNull::new(base as *mut PL011Registers).expect("the console's address is not 0");
        // SAFETY: the caller guarantees the registers are mapped and ours alone.
        let regs = unsafe { UniqueMmioPointer::new(regs) };
        Self { uart: Mutex::new(Uart::new(regs)), base }
    }

    /// Turns on the receive FIFO and the receive interrupts (FIFO level and timeout), so typed
    /// characters wait in the UART and raise the console interrupt.
    pub fn enable_receive_interrupts(&self, base: u64) {
        let mut uart = self.uart.lock();
        while uart.is_busy() {
            core::hint::spin_loop();
        }
        // UARTLCR_H (offset 0x2c), FEN (bit 4): `arm-pl011-uart` sets it only together with the
        // baud rate, which firmware already chose. PL011 TRM 3.3.7.
        let lcr_h = (base + 0x2c) as *mut u32;
        // SAFETY: the constructor's contract makes `base` this PL011's mapped registers; the
        // transmitter is idle, so changing the FIFO mode loses nothing.
        unsafe { lcr_h.write_volatile(lcr_h.read_volatile() | (1 << 4)) };
        uart.set_interrupt_masks(Interrupts::RXI | Interrupts::RTI);
    }

    fn write_all(uart: &mut Uart<'static>, bytes: &[u8]) {
        for &b in bytes {
            while uart.is_tx_fifo_full() {
                core::hint::spin_loop();
            }
            uart.write_word(b);
        }
    }
}

impl Pl011Console {
    /// A byte typed on the console, if one is waiting and no other CPU is writing to the UART
    /// (then the byte waits in the receive FIFO for the next look: a trap never waits for
    /// another CPU's output). Break, parity and framing errors lose the byte; there is nobody
    /// to tell.
    pub fn read_byte(&self) -> Option<u8> {
        self.uart.try_lock()?.read_word().ok().flatten()
    }

    /// Writes all of `bytes`, waiting for room in the transmit FIFO.
    pub fn write_bytes(&self, bytes: &[u8]) {
        Self::write_all(&mut self.uart.lock(), bytes);
    }

    /// Writes all of `bytes` even if another CPU is stuck holding the UART.
    pub fn write_bytes_emergency(&self, bytes: &[u8]) {
        // A CPU that failed while printing may hold the lock for good. After a while, write
        // without it, through the registers themselves: never a second `&mut Uart` beside the
        // holder's. Output may then interleave, which beats losing the report.
        for _ in 0..1_000_000 {
            if let Some(mut uart) = self.uart.try_lock() {
                return Self::write_all(&mut uart, bytes);
            }
            core::hint::spin_loop();
        }
        let data = (self.base + DR) as *mut u32;
        let flags = (self.base + FR) as *const u32;
        for &b in bytes {
            // Bounded: a UART that never drains loses the rest of the report, not the CPU.
            for _ in 0..1_000_000 {
                // SAFETY: the constructor's contract makes `base` this PL011's registers, mapped
                // as Device memory for good; a volatile read of UARTFR through a raw pointer makes
                // no Rust reference, so it aliases nothing the lock holder has.
                if unsafe { flags.read_volatile() } & FR_TXFF == 0 {
                    break;
                }
                core::hint::spin_loop();
            }
            // SAFETY: as above, for UARTDR; the only effect on the stuck holder's writes is
            // characters interleaved on the line.
            unsafe { data.write_volatile(u32::from(b)) };
        }
    }
}

/// The board's console, once boot has set it up.
static CONSOLE: Once<Pl011Console> = Once::new();

/// Sets up the board's console at `base` (later calls return the first one).
///
/// # Safety
/// As for [`Pl011Console::new`].
pub unsafe fn init(base: u64) -> &'static Pl011Console {
    // SAFETY: forwarded from this function's contract.
    CONSOLE.call_once(|| unsafe { Pl011Console::new(base) })
}

/// Writes a fatal report's text to the console, whoever holds it (nothing before `init`).
pub fn emergency_write(text: &str) {
    if let Some(console) = CONSOLE.get() {
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                console.write_bytes_emergency(b"\r\n");
            }
            console.write_bytes_emergency(line.as_bytes());
        }
    }
}
